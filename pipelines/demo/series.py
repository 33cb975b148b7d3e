"""Synthetic KPI series with known effects, one generator per demo client.

Every value is drawn from `numpy.random.default_rng([client seed, site index, period ordinal])`,
so a period's values depend only on the client, the site and the period: a later `as_of` appends
periods without changing the earlier ones, as a real client's history does.

A series is `{site: {period_start: {kpi: value}}}` in canonical units (EUR, hours, points),
rounded as the client writes them; `None` marks a value the client did not send ("NC").
"""

import datetime as dt
import math
from collections.abc import Iterable

import numpy as np

from pipelines.demo.effects import DURAND, HELIOS, MENUISERIES, DemoEffect
from pipelines.demo.periods import month_starts, week_starts, years_between

Series = dict[str, dict[dt.date, dict[str, float | None]]]

MENUISERIES_SEED = 20230101
DURAND_SEED = 20230102
HELIOS_SEED = 20240101

# --- Menuiseries du Rhône: monthly, strong seasonality, staggered go-lives -------------------

MENUISERIES_SITES: dict[str, tuple[float, float]] = {
    # site: (units produced per month in January 2023 before seasonality, units per hour)
    "Lyon": (5200.0, 0.62),
    "Saint-Étienne": (3100.0, 0.55),
    "Vénissieux": (4100.0, 0.58),
    "Villefranche": (2400.0, 0.51),
}
MENUISERIES_SEASON = (0.92, 0.97, 1.06, 1.03, 0.97, 1.06, 0.98, 0.52, 1.08, 1.10, 1.05, 0.80)
"""Output by calendar month: August holidays and the December shutdown."""
MENUISERIES_EVENTS: dict[tuple[str, dt.date], tuple[float, str]] = {
    # (site, month): (factor on both units and hours, comment the site wrote)
    ("Saint-Étienne", dt.date(2023, 3, 1)): (0.88, "Grève le 12"),
    ("Vénissieux", dt.date(2024, 2, 1)): (0.93, "Dégât des eaux"),
    ("Lyon", dt.date(2024, 11, 1)): (1.0, "Inventaire le 29"),
}
MENUISERIES_MISSING = frozenset(
    {
        ("Vénissieux", dt.date(2023, 6, 1), "material_cost_eur"),
        ("Villefranche", dt.date(2024, 3, 1), "hours_worked"),
        ("Lyon", dt.date(2025, 11, 1), "staff_cost_eur"),
        ("Saint-Étienne", dt.date(2026, 2, 1), "fte"),
    }
)
"""Values written "NC" (non communiqué)."""


def menuiseries_productivity_season(month: int) -> float:
    """Seasonal factor of units per hour: hours fall less than output in slack months."""
    output = MENUISERIES_SEASON[month - 1]
    return output / (0.4 + 0.6 * output)


def menuiseries_series(last_month: dt.date) -> Series:
    """Monthly series of Menuiseries du Rhône from January 2023 to `last_month`.

    units_per_hour = base * productivity_season * 1.12 (after go-live) * exp(N(0, 0.02)).
    """
    noise_sd = MENUISERIES.primary.noise_sd
    series: Series = {}
    for index, (site, (base_units, base_productivity)) in enumerate(MENUISERIES_SITES.items()):
        rows: dict[dt.date, dict[str, float | None]] = {}
        for month in month_starts(MENUISERIES.data_start, last_month):
            e_units, e_ratio, e_fte, e_rev, e_mat, e_staff = _normals(
                MENUISERIES_SEED, index, month, 6
            )
            years = years_between(MENUISERIES.data_start, month)
            factor, _ = MENUISERIES_EVENTS.get((site, month), (1.0, ""))
            volume = base_units * 1.03**years
            units = round(
                volume * MENUISERIES_SEASON[month.month - 1] * math.exp(0.04 * e_units) * factor
            )
            ratio = (
                base_productivity
                * menuiseries_productivity_season(month.month)
                * _effect(MENUISERIES, site, month)
                * math.exp(noise_sd * e_ratio)
            )
            hours = round(units / ratio)
            rows[month] = {
                "units_produced": units,
                "hours_worked": hours,
                "fte": round(volume / base_productivity / 0.95 / 140 * math.exp(0.01 * e_fte), 1),
                "revenue_eur": round(units * 460 * 1.025**years * math.exp(0.01 * e_rev), -2),
                "material_cost_eur": round(units * 190 * 1.035**years * math.exp(0.015 * e_mat)),
                "staff_cost_eur": round(hours * 36.5 * 1.03**years * math.exp(0.005 * e_staff)),
            }
        series[site] = rows
    _blank(series, MENUISERIES_MISSING)
    return series


# --- Logistique Durand: weekly, control sites and a common trend ----------------------------

DURAND_SITES: dict[str, tuple[float, float, float]] = {
    # site: (parcels per week early 2023, parcels per hour, fixed weekly cost in EUR)
    "Lille-Lesquin": (42000.0, 11.5, 21500.0),
    "Hénin-Beaumont": (31000.0, 10.8, 16800.0),
    "Arras": (18000.0, 9.6, 11200.0),
    "Valenciennes": (24000.0, 10.1, 13900.0),
}
DURAND_VOLUME_GROWTH = 0.08
"""Common market growth of parcel volumes, per year, on every site."""
DURAND_PRODUCTIVITY_TREND = 0.04
"""Common drift of parcels per hour, per year, on every site (the naive method's bias)."""
DURAND_MISSING: dict[tuple[str, dt.date, str], str] = {
    # (site, Monday, KPI): how the export writes the missing value
    ("Arras", dt.date(2023, 4, 3), "service_level_pct"): "",
    ("Valenciennes", dt.date(2024, 8, 12), "temp_workers"): "NC",
    ("Arras", dt.date(2024, 12, 23), "hours_worked"): "",
    ("Hénin-Beaumont", dt.date(2025, 5, 26), "total_cost_eur"): "NC",
    ("Lille-Lesquin", dt.date(2026, 1, 26), "service_level_pct"): "NC",
}


def durand_volume_season(week: int) -> float:
    """Seasonal factor of parcel volume by ISO week: pre-Christmas peak, summer and New Year."""
    peak = {46: 1.10, 47: 1.25, 48: 1.30, 49: 1.28, 50: 1.30, 51: 1.22, 52: 0.80, 53: 0.80}
    low = {1: 0.85, 2: 0.95, 31: 0.92, 32: 0.90, 33: 0.90, 34: 0.94}
    return peak.get(week, low.get(week, 1.0))


def durand_series(last_week: dt.date) -> Series:
    """Weekly series of Logistique Durand from ISO week 2023-W01 to the week of `last_week`.

    parcels_per_hour = base * 1.04**years * volume_season**0.3 * 1.15 (treated, after go-live)
    * exp(N(0, 0.025)); the trend and the season are common to every site.
    """
    noise_sd = DURAND.primary.noise_sd
    series: Series = {}
    for index, (site, (base_parcels, base_pph, fixed_cost)) in enumerate(DURAND_SITES.items()):
        rows: dict[dt.date, dict[str, float | None]] = {}
        for monday in week_starts(DURAND.data_start, last_week):
            e_parcels, e_ratio, e_temp, e_service = _normals(DURAND_SEED, index, monday, 4)
            years = years_between(DURAND.data_start, monday)
            season = durand_volume_season(monday.isocalendar()[1])
            parcels = round(
                base_parcels
                * (1 + DURAND_VOLUME_GROWTH) ** years
                * season
                * math.exp(0.04 * e_parcels)
            )
            ratio = (
                base_pph
                * (1 + DURAND_PRODUCTIVITY_TREND) ** years
                * season**0.3
                * _effect(DURAND, site, monday)
                * math.exp(noise_sd * e_ratio)
            )
            hours = round(parcels / ratio, 1)
            peak = max(season - 1.0, 0.0)
            rows[monday] = {
                "parcels_shipped": parcels,
                "hours_worked": hours,
                "temp_workers": round(hours / 35 * (0.15 + 0.6 * peak) * math.exp(0.1 * e_temp)),
                "service_level_pct": min(99.9, round(97.8 - 6 * peak + 0.4 * e_service, 1)),
                "total_cost_eur": round(
                    hours * 28.4 * 1.03**years
                    + parcels * 0.36 * 1.02**years
                    + fixed_cost * 1.02**years,
                    2,
                ),
            }
        series[site] = rows
    _blank(series, DURAND_MISSING)
    return series


# --- Helios Services: monthly finance pack, two effects --------------------------------------

HELIOS_SITES: dict[str, tuple[float, float, float, float, float]] = {
    # site: (FTE Jan 2024, utilisation, rate EUR/h, staff cost EUR/FTE/month, fixed opex/FTE)
    "Paris": (62.0, 0.68, 118.0, 6300.0, 2400.0),
    "Lyon": (34.0, 0.66, 104.0, 5600.0, 2100.0),
    "Nantes": (21.0, 0.64, 96.0, 5300.0, 1900.0),
}
HELIOS_HOURS_PER_FTE = (148, 140, 152, 143, 128, 146, 132, 96, 150, 152, 138, 118)
"""Hours worked per FTE by calendar month (bridges in May, holidays in August and December)."""
HELIOS_REVENUE_UPLIFT = 0.035
"""Revenue change after go-live: the extra billable hours are mostly fixed-fee work."""
HELIOS_VARIABLE_COSTS = 0.08
"""Operating costs that scale with revenue (travel, subcontracting), as a share of revenue."""
HELIOS_DELIVERY_SHARE = 0.8
"""Share of staff costs counted in the cost of sales (gross margin)."""


def helios_series(last_month: dt.date) -> Series:
    """Monthly series of Helios Services from January 2024 to `last_month`.

    billable_hours / fte = hours_per_fte(month) * utilisation * 1.08 (after) * noise (log sd
    ~0.018). EBITDA margin = expected margin(site, calendar month) + 3 points (after) + N(0, 0.8
    points). Operating costs balance the accounts exactly: revenue - staff costs - operating
    costs = EBITDA (so they carry the revenue noise).
    """
    billable = HELIOS.effect("billable_hours_per_fte")
    margin = HELIOS.effect("ebitda_margin_pct")
    series: Series = {}
    for index, (site, (fte0, utilisation, rate, staff_per_fte, opex_per_fte)) in enumerate(
        HELIOS_SITES.items()
    ):
        rows: dict[dt.date, dict[str, float | None]] = {}
        for month in month_starts(HELIOS.data_start, last_month):
            e_fte, e_hours, e_bill, e_staff, e_margin = _normals(HELIOS_SEED, index, month, 5)
            years = years_between(HELIOS.data_start, month)
            after = HELIOS.is_after(site, month)
            inflation = 1.025**years
            hours_per_fte = HELIOS_HOURS_PER_FTE[month.month - 1]
            fte = round(fte0 * 1.04**years + 0.3 * e_fte, 1)
            hours = round(fte * hours_per_fte * math.exp(0.01 * e_hours))
            billable_cf = hours * utilisation * math.exp(0.015 * e_bill)
            revenue = round(
                billable_cf * rate * inflation * (1 + HELIOS_REVENUE_UPLIFT if after else 1.0)
            )
            staff = round(fte * staff_per_fte * inflation * math.exp(0.005 * e_staff))
            # Expected margin before go-live, a function of the site and calendar month only:
            # staff and fixed costs per FTE against revenue per FTE, less 8% variable costs.
            revenue_per_fte = hours_per_fte * utilisation * rate
            ebitda_margin = (
                1 - HELIOS_VARIABLE_COSTS - (staff_per_fte + opex_per_fte) / revenue_per_fte
            )
            ebitda_margin += margin.noise_sd / margin.factor * e_margin
            if after:
                ebitda_margin += margin.change / margin.factor
            ebitda = round(revenue * ebitda_margin)
            rows[month] = {
                "revenue_eur": revenue,
                "staff_cost_eur": staff,
                "operating_cost_eur": revenue - staff - ebitda,
                "ebitda_eur": ebitda,
                "gross_margin_pct": round(
                    100 * (revenue - HELIOS_DELIVERY_SHARE * staff) / revenue, 1
                ),
                "billable_hours": round(billable_cf * (1 + billable.change if after else 1.0)),
                "hours_worked": hours,
                "fte": fte,
            }
        series[site] = rows
    return series


# --- helpers ---------------------------------------------------------------------------------


def _normals(seed: int, site_index: int, period: dt.date, count: int) -> list[float]:
    """Standard normal draws for one site and period, independent of every other period."""
    rng = np.random.default_rng([seed, site_index, period.toordinal()])
    return [float(x) for x in rng.standard_normal(count)]


def _effect(client: DemoEffect, site: str, period: dt.date) -> float:
    """Multiplier of the headline ratio: 1 + change after the site's go-live, else 1."""
    return 1.0 + client.primary.change if client.is_after(site, period) else 1.0


def _blank(series: Series, missing: Iterable[tuple[str, dt.date, str]]) -> None:
    """Replace the listed (site, period, kpi) values by None when the period exists."""
    for site, period, kpi in missing:
        row = series.get(site, {}).get(period)
        if row is not None:
            row[kpi] = None
