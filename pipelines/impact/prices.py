"""Money at constant prices: the price or wage index of each money KPI that `client.yaml` gives
(`impact.constant_prices`), so that a drift in prices or wages is not read as an effect.

An index is 1 in the month of the first go-live and moves by each calendar year's change,
spread evenly over its months (a week takes its month's index). `build_kpi_series` divides the
KPI by it before any ratio or total, so every series, table and chart downstream is in go-live
prices; the KPIs that end up at constant prices carry it in their labels.
"""

import datetime as dt
import math
from dataclasses import replace
from typing import TypeVar

import pandas as pd

from pipelines.catalogue import CONSTANT_PRICES_LABEL, DerivedKpi, Kpi
from pipelines.config.model import ClientConfig, PriceIndex

Entry = TypeVar("Entry", Kpi, DerivedKpi)

INDEX_COLUMNS = ["kpi", "period_start", "grain", "price_index"]


def base_month(config: ClientConfig) -> dt.date | None:
    """The month the indices are 1 in: that of the first go-live (None without one)."""
    go_lives = [day for day in (config.go_live_of(site.name) for site in config.sites) if day]
    return min(go_lives).replace(day=1) if go_lives else None


def index_value(index: PriceIndex, base: dt.date, period_start: dt.date) -> float:
    """The index at `period_start`'s month, relative to `base` (a month start)."""
    rates = index.yearly_change_pct
    first, last = min(rates), max(rates)
    origin = min(base.year, period_start.year)

    def monthly_log(year: int) -> float:
        rate = rates.get(year, rates[first] if year < first else rates[last])
        return math.log1p(rate / 100) / 12

    def log_level(day: dt.date) -> float:
        """The log index at the start of `day`'s month, from January of `origin`."""
        years = sum(12 * monthly_log(year) for year in range(origin, day.year))
        return years + (day.month - 1) * monthly_log(day.year)

    return math.exp(log_level(period_start) - log_level(base))


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


def labelled_kpi(config: ClientConfig, kpi: Entry) -> Entry:
    """A catalogue entry (base or derived KPI) as the client's reports name it: with « à prix
    constants » / "at constant prices" after its labels when it is expressed so."""
    derived = kpi if isinstance(kpi, DerivedKpi) else None
    if not at_constant_prices(config, kpi.name, derived):
        return kpi
    return replace(
        kpi,
        label_fr=f"{kpi.label_fr}{CONSTANT_PRICES_LABEL['fr']}",
        label_en=f"{kpi.label_en}{CONSTANT_PRICES_LABEL['en']}",
    )
