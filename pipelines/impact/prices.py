"""Money at constant prices: the price or wage index of each money KPI that `client.yaml` gives
(`impact.constant_prices`), so that a drift in prices or wages is not read as an effect.

An index is 1 in the month of the first go-live and moves by each calendar year's change,
spread evenly over its months (a week takes its month's index). `build_kpi_series` divides the
KPI by it before any ratio or total, so every series, table and chart downstream is in go-live
prices; the KPIs that end up at constant prices carry it in their labels.
"""

import datetime as dt
import math

import pandas as pd

from pipelines.catalogue import CONSTANT_PRICES_LABEL, DerivedKpi
from pipelines.config.model import ClientConfig, PriceIndex

INDEX_COLUMNS = ["kpi", "period_start", "grain", "price_index"]


def base_month(config: ClientConfig) -> dt.date | None:
    """The month the indices are 1 in: that of the first go-live (None without one)."""
    go_lives = [day for day in (config.go_live_of(site.name) for site in config.sites) if day]
    return min(go_lives).replace(day=1) if go_lives else None


def index_value(index: PriceIndex, base: dt.date, period_start: dt.date) -> float:
    """The index at `period_start`'s month, relative to `base` (a month start)."""
    rates = index.yearly_change_pct
    first, last = min(rates), max(rates)

    def monthly_log(year: int) -> float:
        rate = rates.get(year, rates[first] if year < first else rates[last])
        return math.log1p(rate / 100) / 12

    step = 1 if period_start >= base else -1
    months = (period_start.year - base.year) * 12 + period_start.month - base.month
    total = 0.0
    year, month = base.year, base.month
    for _ in range(abs(months)):
        if step < 0:  # the month before counts its own year's change, backwards
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
            total -= monthly_log(year)
        else:
            total += monthly_log(year)
            year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    return math.exp(total)


def price_indices(config: ClientConfig, periods: pd.DataFrame) -> pd.DataFrame:
    """The index of every constant-price KPI at every period of `periods` (period_start,
    grain): `INDEX_COLUMNS` rows, none when the client gives no index or no go-live."""
    base = base_month(config)
    rows = []
    if base is not None:
        for kpi, index in config.impact.constant_prices.items():
            for start, grain in periods[["period_start", "grain"]].itertuples(index=False):
                day = pd.Timestamp(start).date()
                rows.append((kpi, day, grain, index_value(index, base, day.replace(day=1))))
    frame = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
    return frame.astype({"kpi": str, "grain": str, "price_index": float})


def at_constant_prices(config: ClientConfig, kpi: str, derived: DerivedKpi | None) -> bool:
    """Whether `kpi` is expressed at constant prices: a money KPI with an index, or a ratio
    whose numerator and denominator are not divided by the same index."""
    indices = config.impact.constant_prices if base_month(config) is not None else {}
    if derived is None:
        return kpi in indices
    top, bottom = indices.get(derived.numerator), indices.get(derived.denominator)
    return top != bottom


def labelled(label: str, language: str) -> str:
    """A KPI's label with « at constant prices » after it."""
    return f"{label}{CONSTANT_PRICES_LABEL[language]}"
