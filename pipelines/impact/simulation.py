"""Synthetic clients whose true effects are known, for the calibration study (`calibration.py`).

A simulated client is what Cap sees of a real one: a `ClientConfig` validated from the content a
`client.yaml` would have (sites, go-lives, control sites, ramp-up and baseline), and base-KPI
values per site and period in the canonical long format of `kpi_values` (site, period_start,
grain, kpi, value, unit). Each client is drawn twice from the same random draws: the actual world
and the counterfactual one without the transformation (same noise, drift, seasons and missing
periods; no effect). The truth of a (site or client total, KPI) result is computed from Cap's own
derived series of both worlds (`build_kpi_series`) over the periods the analysis compares after
go-live, so a client total of a ratio or a ramp-up is measured exactly as Cap measures it.

Families of clients (`FAMILIES`) mimic what SME KPIs do: prices and wages drifting at a pace that
changes from year to year, volume growth or decline, seasons of several shapes, AR(1) noise,
missing months, weekly grains, a site opened during the pre-period, staggered go-lives, control
sites, effects that ramp up, and placebo clients without any effect. Every draw comes from
`numpy.random.default_rng` seeded by (study seed, family, client index): a client is the same
whichever process draws it.
"""

import datetime as dt
import logging
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from pipelines.catalogue import BASE_KPIS
from pipelines.config.model import ClientConfig
from pipelines.impact.analysis import analyse_warehouse, periods_of_months
from pipelines.impact.series import CLIENT_TOTAL, build_kpi_series
from pipelines.sql import execute_sql

logger = logging.getLogger(__name__)

Grain = Literal["month", "week"]
Basis = Literal["relative", "absolute"]

FAMILIES: tuple[str, ...] = (
    "prices_drift",
    "margin_points",
    "volumes",
    "weekly",
    "new_site",
    "staggered",
    "controls",
    "ramp_up",
    "placebo",
)
"""Every family of the study; `placebo` takes each design of the others in turn, without effect."""
DESIGNS: tuple[str, ...] = FAMILIES[:-1]

RECIPE_TARGETS: dict[str, tuple[str, ...]] = {
    "revenue_per_fte": ("revenue_per_fte",),
    "margin": ("ebitda_margin_pct",),
    "manufacturing": ("units_per_hour",),
    "logistics": ("parcels_per_hour", "cost_per_parcel_eur"),
    "services": ("billable_hours_per_fte",),
}
"""The KPIs whose effect is injected (and evaluated), by kind of client."""
RECIPE_BASE_KPIS: dict[str, tuple[str, ...]] = {
    "revenue_per_fte": ("revenue_eur", "fte"),
    "margin": ("revenue_eur", "ebitda_eur"),
    "manufacturing": ("units_produced", "hours_worked"),
    "logistics": ("parcels_shipped", "hours_worked", "total_cost_eur"),
    "services": ("billable_hours", "fte"),
}
"""The base KPIs each kind of client sends."""
POINTS_KPIS = frozenset({"ebitda_margin_pct"})
"""Evaluated KPIs whose effect is injected in points rather than in percent."""

LAST_MONTH = pd.Timestamp("2026-09-01")
LAST_WEEK = pd.Timestamp("2026-09-28")
"""The last period of every simulated series (a Monday for weekly clients)."""
BASELINE_MONTHS = 36
RAMP_UP_MONTHS = 3
"""What a consultant configures: three years of baseline at most, three months of ramp-up."""
ZERO_EFFECT_SHARE = 0.2
RELATIVE_EFFECT_PCT = (-8.0, 20.0)
POINTS_EFFECT = (-2.0, 5.0)
MISSING_SHARE = (0.0, 0.08)
PHI = (0.0, 0.7)
NOISE_SD = (0.015, 0.06)
SEASON_SHAPES = ("year_end", "summer_dip", "quarter_end", "none")
SITE_NAMES = (
    "Lyon", "Grenoble", "Saint-Étienne", "Annecy", "Valence", "Chambéry", "Roanne", "Vienne",
    "Bourg-en-Bresse", "Mâcon",
)  # fmt: skip
SLUG = "simulated"
_DELIVERED = dt.datetime(2026, 10, 15)
_SOURCE = {
    "name": "export",
    "pattern": "*.csv",
    "layout": "long",
    "site": "Site",
    "period": "Période",
    "indicator": "Indicateur",
    "value": "Valeur",
}


@dataclass(frozen=True)
class SimulatedClient:
    """One synthetic client: its configuration, both worlds' base values, and what was injected.

    `actual` and `counterfactual` hold the canonical long rows (site, period_start, grain, kpi,
    value, unit) of the same sites and periods; they differ only by the injected effects.
    `effects` gives each treated site's full effect per evaluated KPI (percent, or points for
    `POINTS_KPIS`), before its ramp; `targets` are the evaluated KPIs.
    """

    family: str
    design: str
    index: int
    config: ClientConfig
    actual: pd.DataFrame
    counterfactual: pd.DataFrame
    targets: tuple[str, ...]
    effects: dict[tuple[str, str], float]
    treated: tuple[str, ...]
    effect_ramp: int = 1
    """Periods over which each effect ramps up linearly from its site's go-live (1: a step)."""

    def zero_effect(self, site: str, kpi: str) -> bool:
        """True when no effect was injected into this site's KPI (or into any treated site's,
        for the client total)."""
        sites = self.treated if site == CLIENT_TOTAL else (site,)
        return all(self.effects.get((s, kpi), 0.0) == 0.0 for s in sites)


@dataclass(frozen=True)
class SeriesOutcome:
    """Cap's preferred result for one (site or client total, KPI) of a simulated client, beside
    the truth and the naive before/after of the same sides. Changes are in percent for the
    relative basis, in the KPI's unit (points) for the absolute basis."""

    family: str
    design: str
    client: int
    site: str
    kpi: str
    basis: Basis
    method: str
    verdict: str
    truth: float
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    naive: float | None
    zero_effect: bool

    @property
    def has_interval(self) -> bool:
        """An estimate with both bounds (not "not enough evidence")."""
        return (
            self.verdict != "insufficient_data"
            and self.estimate is not None
            and self.ci_low is not None
            and self.ci_high is not None
        )

    @property
    def covered(self) -> bool:
        """The interval contains the truth."""
        return self.has_interval and self.ci_low <= self.truth <= self.ci_high  # type: ignore[operator]

    @property
    def significant(self) -> bool:
        """Cap called the change improved or worsened."""
        return self.verdict in ("improved", "worsened")


@dataclass
class _Calendar:
    """The period grid of a client: period starts, month-of-year and calendar year of each."""

    grain: Grain
    starts: pd.DatetimeIndex
    months: np.ndarray
    years: np.ndarray

    @property
    def size(self) -> int:
        return len(self.starts)

    @property
    def per_year(self) -> float:
        return 12.0 if self.grain == "month" else 52.0

    @classmethod
    def ending(cls, grain: Grain, size: int) -> "_Calendar":
        if grain == "month":
            starts = pd.date_range(end=LAST_MONTH, periods=size, freq="MS")
            middles = starts
        else:
            starts = pd.date_range(end=LAST_WEEK, periods=size, freq="W-MON")
            middles = starts + pd.Timedelta(days=3)  # a week belongs to its Thursday's month
        return cls(grain, starts, middles.month.to_numpy(), middles.year.to_numpy())


@dataclass
class _Design:
    """How a client is drawn: grain, recipe, sides, go-lives, controls, ramps."""

    family: str
    design: str
    grain: Grain
    recipe: str
    sites: list[str]
    controls: list[str]
    pre: int
    after: int
    ramp_up_months: int
    go_live_offsets: dict[str, int]
    effect_ramp: int
    placebo: bool
    opened: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    """A site opened during the pre-period: (first period, ramp length, initial level)."""
    price_pattern: str = "random"
    volume_pattern: str = "random"


def client_rng(seed: int, family: str, index: int) -> np.random.Generator:
    """The random generator of one client: the same for a (seed, family, index) everywhere."""
    return np.random.default_rng([seed, zlib.crc32(family.encode()), index])


def simulate_client(family: str, index: int, seed: int) -> SimulatedClient:
    """Draw client `index` of `family` with the study's `seed`, in both worlds."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r} (expected one of {', '.join(FAMILIES)})")
    rng = client_rng(seed, family, index)
    design = _draw_design(rng, family, index)
    return _draw_client(rng, design, index)


def _uniform_int(rng: np.random.Generator, low: int, high: int) -> int:
    """An integer in [low, high], both included."""
    return int(rng.integers(low, high + 1))


def _draw_design(rng: np.random.Generator, family: str, index: int) -> _Design:
    placebo = family == "placebo"
    design = DESIGNS[index % len(DESIGNS)] if placebo else family
    grain: Grain = "week" if design == "weekly" else "month"
    recipe = {
        "prices_drift": "revenue_per_fte",
        "margin_points": "margin",
        "volumes": str(rng.choice(["manufacturing", "logistics", "services"])),
        "weekly": str(rng.choice(["revenue_per_fte", "manufacturing", "logistics"])),
        "new_site": str(rng.choice(["revenue_per_fte", "manufacturing"])),
        "staggered": str(rng.choice(["revenue_per_fte", "manufacturing", "margin"])),
        "controls": str(rng.choice(["revenue_per_fte", "manufacturing", "margin"])),
        "ramp_up": str(rng.choice(list(RECIPE_TARGETS))),
    }[design]
    pre = _uniform_int(rng, 52, 156) if design == "weekly" else _uniform_int(rng, 12, 36)
    after = periods_of_months(_uniform_int(rng, 6, 24), grain)
    if design == "ramp_up":
        ramp_up_months = _uniform_int(rng, 0, 3)
        effect_ramp = periods_of_months(_uniform_int(rng, 3, 6), grain)
    else:
        ramp_up_months = RAMP_UP_MONTHS
        effect_ramp = periods_of_months(_uniform_int(rng, 1, 6), grain)
    n_sites = _uniform_int(rng, 3, 6) if design == "staggered" else _uniform_int(rng, 1, 4)
    if design == "new_site":
        n_sites = max(n_sites, 2)
    n_controls = _uniform_int(rng, 2, 4) if design == "controls" else 0
    names = list(SITE_NAMES[: n_sites + n_controls])
    sites, controls = names[:n_sites], names[n_sites:]
    offsets = dict.fromkeys(sites, 0)
    if design == "staggered":
        spread = _uniform_int(rng, 2, 9)
        inner = sorted(rng.integers(0, spread + 1, size=n_sites - 2).tolist())
        for site, months in zip(sites, [0, *inner, spread], strict=True):
            offsets[site] = periods_of_months(int(months), grain)
    opened: dict[str, tuple[int, int, float]] = {}
    if design == "new_site":
        first = _uniform_int(rng, max(1, pre // 4), pre - 3)
        length = periods_of_months(_uniform_int(rng, 6, 12), grain)
        opened[sites[-1]] = (first, length, float(rng.uniform(0.6, 0.9)))
    price_pattern = {
        "prices_drift": str(rng.choice(["decelerating", "accelerating"])),
        "new_site": "none",
    }.get(design, "random")
    volume_pattern = "none" if design in ("prices_drift", "new_site") else "random"
    return _Design(
        family, design, grain, recipe, sites, controls, pre, after, ramp_up_months, offsets,
        effect_ramp, placebo, opened, price_pattern, volume_pattern,
    )  # fmt: skip


def _draw_client(rng: np.random.Generator, design: _Design, index: int) -> SimulatedClient:
    grain = design.grain
    ramp_up = periods_of_months(design.ramp_up_months, grain)
    span = max(design.go_live_offsets.values())
    calendar = _Calendar.ending(grain, design.pre + span + ramp_up + design.after)
    go_live = {site: design.pre + offset for site, offset in design.go_live_offsets.items()}
    targets = RECIPE_TARGETS[design.recipe]
    effects: dict[tuple[str, str], float] = {}
    for site in design.sites:
        for kpi in targets:
            effects[site, kpi] = _draw_effect(rng, kpi, design.placebo)
    ramps = {
        site: _ramp(calendar.size, go_live.get(site), design.effect_ramp)
        for site in [*design.sites, *design.controls]
    }
    world = _World(rng, calendar, design, ramps, effects)
    values = RECIPES[design.recipe](world)
    missing = _missing_periods(rng, calendar.size)
    actual, counterfactual = _rows(values, calendar, design, missing)
    config = _config(design, calendar, go_live, targets, index)
    return SimulatedClient(
        design.family, design.design, index, config, actual, counterfactual, targets, effects,
        tuple(design.sites), design.effect_ramp,
    )  # fmt: skip


def _draw_effect(rng: np.random.Generator, kpi: str, placebo: bool) -> float:
    """A full effect: zero for placebo clients and for a fifth of the others; else uniform in
    percent (points for margins)."""
    zero = rng.random() < ZERO_EFFECT_SHARE
    low, high = POINTS_EFFECT if kpi in POINTS_KPIS else RELATIVE_EFFECT_PCT
    size = float(rng.uniform(low, high))
    return 0.0 if placebo or zero else size


def _ramp(size: int, go_live: int | None, length: int) -> np.ndarray:
    """The share of the full effect reached in each period: 0 before go-live, then rising
    linearly to 1 over `length` periods (1/length in the go-live period)."""
    share = np.zeros(size)
    if go_live is None:
        return share
    since = np.arange(size) - go_live
    after = since >= 0
    share[after] = np.minimum(1.0, (since[after] + 1) / max(length, 1))
    return share


def _missing_periods(rng: np.random.Generator, size: int) -> np.ndarray:
    """Periods whose values are absent for every site (a month the client did not send)."""
    count = round(float(rng.uniform(*MISSING_SHARE)) * size)
    return np.sort(rng.choice(size, size=count, replace=False)) if count else np.zeros(0, int)


class _World:
    """Shared draws of one client (drift paths, season, common noise) and the helpers recipes
    build their base KPIs from."""

    def __init__(
        self,
        rng: np.random.Generator,
        calendar: _Calendar,
        design: _Design,
        ramps: dict[str, np.ndarray],
        effects: dict[tuple[str, str], float],
    ) -> None:
        self.rng = rng
        self.calendar = calendar
        self.design = design
        self.ramps = ramps
        self.effects = effects
        self.sites = [*design.sites, *design.controls]
        self.phi = float(rng.uniform(*PHI))
        self.sd = float(rng.uniform(*NOISE_SD))
        self.common_share = float(rng.uniform(0.0, 0.6))
        self.season_shape = str(rng.choice(SEASON_SHAPES))
        self._common: dict[str, np.ndarray] = {}
        self.scale = 1.0 if calendar.grain == "month" else 12 / 52

    def noise(self, name: str, sd: float | None = None) -> np.ndarray:
        """AR(1) noise on the log of one site's component: a part shared by every site (the
        market) and the site's own part; marginal sd `sd` (the client's by default)."""
        sd = self.sd if sd is None else sd
        if name not in self._common:
            self._common[name] = _ar1(self.rng, self.calendar.size, self.phi, 1.0)
        own = _ar1(self.rng, self.calendar.size, self.phi, 1.0)
        share = self.common_share
        return sd * (math.sqrt(share) * self._common[name] + math.sqrt(1 - share) * own)

    def drift(
        self, pattern: str, kind: Literal["price", "wage", "volume", "gap", "flat"]
    ) -> np.ndarray:
        """The log level of a drifting component (0 in the first period): a yearly rate that
        changes from one calendar year to the next. Prices speed up or slow down (from 5-9 %
        to 0-3 %, from 0-2 % to 4-7 %) or rise steadily (1-4 %); wages the same or steadily
        by 1.5-4.5 %; volumes from -5 to +8 % a year, at a pace of their own; a gap is a small
        steady difference (materials against selling prices)."""
        return _drift(self.rng, self.calendar, pattern, kind)

    def season(self) -> np.ndarray:
        """The client's log seasonality, with a site amplitude of 80 to 120 % of the client's."""
        return _season(self.rng, self.calendar.months, self.season_shape) * float(
            self.rng.uniform(0.8, 1.2)
        )

    def opening(self, site: str) -> tuple[np.ndarray, np.ndarray]:
        """A site's log productivity ramp after its opening, and the mask of its open periods."""
        size = self.calendar.size
        if site not in self.design.opened:
            return np.zeros(size), np.ones(size, dtype=bool)
        first, length, level = self.design.opened[site]
        since = np.arange(size) - first
        share = np.clip(level + (1 - level) * since / max(length, 1), level, 1.0)
        return np.log(share), since >= 0

    def relative(self, site: str, kpi: str) -> np.ndarray:
        """The log multiplier of the injected relative effect on `kpi` at `site` (0 outside)."""
        effect = self.effects.get((site, kpi), 0.0)
        return self.ramps[site] * math.log1p(effect / 100)

    def points(self, site: str, kpi: str) -> np.ndarray:
        """The injected effect in points on `kpi` at `site`, period by period."""
        return self.ramps[site] * self.effects.get((site, kpi), 0.0)


Values = dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]
"""site -> base KPI -> (counterfactual values, actual values)."""


def _ar1(rng: np.random.Generator, size: int, phi: float, sd: float) -> np.ndarray:
    """A stationary AR(1) series of marginal standard deviation `sd`."""
    shocks = rng.normal(0.0, sd * math.sqrt(1 - phi * phi), size)
    values = np.empty(size)
    previous = float(rng.normal(0.0, sd))
    for t in range(size):
        previous = phi * previous + shocks[t]
        values[t] = previous
    return values


def _drift(rng: np.random.Generator, calendar: _Calendar, pattern: str, kind: str) -> np.ndarray:
    if kind == "flat" or pattern == "none":
        return np.zeros(calendar.size)
    if pattern == "random":
        choices = ["decelerating", "accelerating", "steady"]
        if kind == "volume":
            choices.append("none")
        pattern = str(rng.choice(choices))
        if pattern == "none":
            return np.zeros(calendar.size)
    if kind == "volume":
        start, end = rng.uniform(-0.05, 0.08, size=2)
        if pattern == "steady":
            end = start
    elif kind == "gap":
        start = end = rng.normal(0.0, 0.01)
    elif kind == "wage" and pattern == "steady":
        start = end = rng.uniform(0.015, 0.045)
    elif pattern == "decelerating":
        start, end = rng.uniform(0.05, 0.09), rng.uniform(0.0, 0.03)
    elif pattern == "accelerating":
        start, end = rng.uniform(0.0, 0.02), rng.uniform(0.04, 0.07)
    else:
        start = end = rng.uniform(0.01, 0.04)
    years = calendar.years - calendar.years[0]
    count = int(years[-1]) + 1
    rates = start + (end - start) * np.arange(count) / max(count - 1, 1)
    rates = rates + rng.normal(0.0, 0.003, count)
    steps = np.log1p(rates[years]) / calendar.per_year
    level = np.cumsum(steps)
    return level - level[0]


def _season(rng: np.random.Generator, months: np.ndarray, shape: str) -> np.ndarray:
    """Multiplicative seasonality as a log: a year-end peak, an August dip, quarter-end peaks or
    none."""
    season = np.zeros(len(months))
    if shape == "year_end":
        size = rng.uniform(0.05, 0.20)
        season = np.select([months == 12, months == 11], [size, size / 2], 0.0)
    elif shape == "summer_dip":
        size = rng.uniform(0.10, 0.30)
        season = np.select([months == 8, months == 7], [-size, -size / 3], 0.0)
    elif shape == "quarter_end":
        size = rng.uniform(0.04, 0.12)
        season = np.where(months % 3 == 0, size, 0.0)
    return np.log1p(season)


def _revenue_per_fte(world: _World) -> Values:
    """A bakery-like chain: revenue is volume (seasonal, maybe growing) times selling prices
    that drift at a changing pace; headcount roughly flat. The effect lifts revenue."""
    prices = world.drift(world.design.price_pattern, "price")
    volume = world.drift(world.design.volume_pattern, "volume")
    values: Values = {}
    for site in world.sites:
        fte = world.rng.uniform(6, 40)
        per_fte = world.rng.uniform(5000, 9000) * world.scale
        opening, _ = world.opening(site)
        log_revenue = (
            math.log(fte * per_fte)
            + prices
            + volume
            + world.season()
            + opening
            + world.noise("volume")
        )
        revenue = np.exp(log_revenue)
        headcount = fte * np.exp(world.noise("fte", sd=float(world.rng.uniform(0.005, 0.015))))
        effect = np.exp(world.relative(site, "revenue_per_fte"))
        values[site] = {
            "revenue_eur": (revenue, revenue * effect),
            "fte": (headcount, headcount),
        }
    return values


def _margin(world: _World) -> Values:
    """EBITDA margin: revenue driven by prices and volume; material costs by volume and their
    own prices; staff costs by wages drifting at another pace than prices. The effect adds
    points of revenue to EBITDA."""
    prices = world.drift(world.design.price_pattern, "price")
    materials = prices + world.drift("steady", "gap")
    wages = world.drift("random", "wage")
    volume = world.drift(world.design.volume_pattern, "volume")
    values: Values = {}
    for site in world.sites:
        base = world.rng.uniform(150_000, 900_000) * world.scale
        margin = world.rng.uniform(0.04, 0.15)
        material_share = world.rng.uniform(0.30, 0.45)
        staff_share = (1 - margin - material_share) * world.rng.uniform(0.70, 0.85)
        other_share = 1 - margin - material_share - staff_share
        activity = volume + world.season() + world.noise("volume")
        revenue = base * np.exp(prices + activity)
        material = base * material_share * np.exp(materials + activity + world.noise("mat", 0.01))
        staff = base * staff_share * np.exp(wages + 0.3 * activity + world.noise("staff", 0.01))
        other = base * other_share * np.exp(0.5 * prices)
        ebitda = revenue - material - staff - other
        lift = world.points(site, "ebitda_margin_pct") / 100 * revenue
        values[site] = {"revenue_eur": (revenue, revenue), "ebitda_eur": (ebitda, ebitda + lift)}
    return values


def _hours_for(world: _World, activity: np.ndarray, hours_base: float) -> np.ndarray:
    """Hours that follow volume with an elasticity below 1 (part of the staff is fixed), so
    productivity rises with volume."""
    elasticity = world.rng.uniform(0.5, 0.9)
    return hours_base * np.exp(elasticity * activity + world.noise("hours", 0.01))


def _manufacturing(world: _World) -> Values:
    """Units per hour: units follow volume (growth, decline or none) and seasons; hours follow
    them partly. The effect cuts the hours for the same units."""
    volume = world.drift(world.design.volume_pattern, "volume")
    values: Values = {}
    for site in world.sites:
        units_base = world.rng.uniform(20_000, 120_000) * world.scale
        per_hour = world.rng.uniform(8, 20)
        opening, _ = world.opening(site)
        activity = volume + world.season() + world.noise("volume")
        units = units_base * np.exp(activity)
        hours = _hours_for(world, activity, units_base / per_hour) * np.exp(-opening)
        effect = np.exp(-world.relative(site, "units_per_hour"))
        values[site] = {"units_produced": (units, units), "hours_worked": (hours, hours * effect)}
    return values


def _logistics(world: _World) -> Values:
    """Parcels per hour and cost per parcel at depots: parcels follow volume and seasons, hours
    follow them partly, costs drift with wages. Two effects: on hours and on costs."""
    volume = world.drift(world.design.volume_pattern, "volume")
    wages = world.drift("random", "wage")
    values: Values = {}
    for site in world.sites:
        parcels_base = world.rng.uniform(30_000, 200_000) * world.scale
        per_hour = world.rng.uniform(15, 40)
        activity = volume + world.season() + world.noise("volume")
        parcels = parcels_base * np.exp(activity)
        hours = _hours_for(world, activity, parcels_base / per_hour)
        cost_base = parcels_base * world.rng.uniform(1.5, 3.5)
        cost = cost_base * np.exp(wages + 0.7 * activity + world.noise("cost", 0.015))
        fewer_hours = np.exp(-world.relative(site, "parcels_per_hour"))
        cheaper = np.exp(world.relative(site, "cost_per_parcel_eur"))
        values[site] = {
            "parcels_shipped": (parcels, parcels),
            "hours_worked": (hours, hours * fewer_hours),
            "total_cost_eur": (cost, cost * cheaper),
        }
    return values


def _services(world: _World) -> Values:
    """Billable hours per FTE at a services firm: headcount grows or shrinks, utilisation has
    holidays (seasons) and drifts slowly. The effect lifts billable hours."""
    headcount = world.drift(world.design.volume_pattern, "volume")
    utilisation = world.drift("steady", "volume") * 0.3
    values: Values = {}
    for site in world.sites:
        fte_base = world.rng.uniform(10, 80)
        fte = fte_base * np.exp(headcount + world.noise("fte", 0.01))
        hours_per_fte = world.rng.uniform(100, 130) * world.scale
        billable = fte * hours_per_fte * np.exp(utilisation + world.season() + world.noise("util"))
        effect = np.exp(world.relative(site, "billable_hours_per_fte"))
        values[site] = {"fte": (fte, fte), "billable_hours": (billable, billable * effect)}
    return values


RECIPES: dict[str, Callable[[_World], Values]] = {
    "revenue_per_fte": _revenue_per_fte,
    "margin": _margin,
    "manufacturing": _manufacturing,
    "logistics": _logistics,
    "services": _services,
}


def _rows(
    values: Values, calendar: _Calendar, design: _Design, missing: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both worlds as canonical long rows; missing periods and a site's periods before its
    opening have no row."""
    present = np.ones(calendar.size, dtype=bool)
    present[missing] = False
    frames: tuple[list[pd.DataFrame], list[pd.DataFrame]] = ([], [])
    starts = calendar.starts.date
    for site, kpis in values.items():
        keep = present.copy()
        if site in design.opened:
            keep[: design.opened[site][0]] = False
        for kpi, worlds in kpis.items():
            for world, series in zip(frames, worlds, strict=True):
                world.append(
                    pd.DataFrame(
                        {
                            "site": site,
                            "period_start": starts[keep],
                            "grain": calendar.grain,
                            "kpi": kpi,
                            "value": series[keep],
                            "unit": BASE_KPIS[kpi].unit,
                        }
                    )
                )
    actual, counterfactual = (pd.concat(world, ignore_index=True) for world in frames[::-1])
    return actual, counterfactual


def _config(
    design: _Design,
    calendar: _Calendar,
    go_live: dict[str, int],
    targets: tuple[str, ...],
    index: int,
) -> ClientConfig:
    """The client's configuration, validated as the content of its `client.yaml`."""
    sites: list[dict[str, object]] = [
        {"name": site, "go_live": calendar.starts[go_live[site]].date().isoformat()}
        for site in design.sites
    ]
    sites += [{"name": site, "control": True} for site in design.controls]
    kpis = sorted(RECIPE_BASE_KPIS[design.recipe])
    source = {**_SOURCE, "indicators": {kpi.upper(): kpi for kpi in kpis}}
    content = {
        "name": f"Simulated {design.family} {index}",
        "language": "fr",
        "cadence": "monthly" if design.grain == "month" else "weekly",
        "sites": sites,
        "sources": [source],
        "impact": {
            "baseline_months": BASELINE_MONTHS,
            "ramp_up_months": design.ramp_up_months,
        },
    }
    return ClientConfig.model_validate(content)


def new_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the warehouse schema (as `open_warehouse` creates it)."""
    con = duckdb.connect(":memory:")
    execute_sql(con, "create_warehouse")
    return con


def load_world(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> None:
    """Replace the warehouse's values by `rows`, as one loaded delivery."""
    con.execute("delete from kpi_observations")
    con.execute("delete from files")
    con.execute(
        "insert into files (sha256, original_name, size_bytes, received_at, delivered_at, status)"
        " values ('simulated', 'simulated.csv', 1, $at, $at, 'loaded')",
        {"at": _DELIVERED},
    )
    con.register("simulated_rows", rows)
    try:
        con.execute(
            "insert into kpi_observations (client, site, period_start, grain, kpi, value, unit,"
            " file_sha256, delivered_at) select $slug, site, period_start, grain, kpi, value,"
            " unit, 'simulated', $at from simulated_rows",
            {"slug": SLUG, "at": _DELIVERED},
        )
    finally:
        con.unregister("simulated_rows")


def derived_series(con: duckdb.DuckDBPyConnection, config: ClientConfig) -> pd.DataFrame:
    """Cap's `kpi_series` of the loaded values (site, period_start, kpi, value)."""
    build_kpi_series(con, config)
    frame = con.execute("select site, period_start, kpi, value from kpi_series").df()
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    return frame


def true_change(
    actual: pd.Series, counterfactual: pd.Series, after_start: pd.Timestamp, basis: Basis
) -> float | None:
    """The true effect over the after side (periods from `after_start` observed in both
    worlds): relative, 100 * (geometric mean of actual / counterfactual - 1); absolute, the
    mean difference. None when no period is observed after."""
    joined = pd.concat({"actual": actual, "counterfactual": counterfactual}, axis=1).dropna()
    after = joined[joined.index >= after_start]
    if after.empty:
        return None
    if basis == "relative":
        ratio = after["actual"].to_numpy() / after["counterfactual"].to_numpy()
        return 100 * math.expm1(float(np.mean(np.log(ratio))))
    return float(np.mean(after["actual"].to_numpy() - after["counterfactual"].to_numpy()))


def naive_change(
    series: pd.Series,
    before_end: pd.Timestamp,
    after_start: pd.Timestamp,
    baseline_periods: int,
    grain: Grain,
    basis: Basis,
) -> float | None:
    """The naive before/after on Cap's sides: the observed after mean against the observed
    mean of at most `baseline_periods` periods before `before_end` (excluded); percent of the
    before mean for the relative basis, difference for the absolute one."""
    series = series.dropna().sort_index()
    if series.empty:
        return None
    first = max(series.index[0], _shift(before_end, -baseline_periods, grain))
    before = series[(series.index >= first) & (series.index < before_end)]
    after = series[series.index >= after_start]
    if before.empty or after.empty:
        return None
    difference = float(after.mean() - before.mean())
    if basis == "absolute":
        return difference
    mean_before = float(before.mean())
    return 100 * difference / mean_before if mean_before > 0 else None


def _shift(stamp: pd.Timestamp, periods: int, grain: Grain) -> pd.Timestamp:
    if grain == "month":
        return stamp + pd.DateOffset(months=periods)
    return stamp + pd.Timedelta(weeks=periods)


def _first_period_on_or_after(day: dt.date, grain: Grain) -> pd.Timestamp:
    stamp = pd.Timestamp(day)
    if grain == "month":
        return stamp if stamp.day == 1 else stamp + pd.offsets.MonthBegin(1)
    return stamp if stamp.weekday() == 0 else stamp + pd.offsets.Week(weekday=0)


def _number(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def evaluate_client(
    client: SimulatedClient, con: duckdb.DuckDBPyConnection | None = None
) -> list[SeriesOutcome]:
    """Run Cap's analysis on the client's actual world and compare each preferred result of an
    evaluated KPI (treated sites and client total) with the truth of both worlds."""
    owned = con is None
    if con is None:
        con = new_connection()
    try:
        config = client.config
        load_world(con, client.counterfactual)
        counterfactual = derived_series(con, config)
        load_world(con, client.actual)
        actual = derived_series(con, config)
        results = analyse_warehouse(con, config, SLUG)
    finally:
        if owned:
            con.close()
    return outcomes_of(client, results, actual, counterfactual)


def outcomes_of(
    client: SimulatedClient,
    results: pd.DataFrame,
    actual: pd.DataFrame,
    counterfactual: pd.DataFrame,
) -> list[SeriesOutcome]:
    """Each preferred result of an evaluated (site, KPI) with its truth and naive estimate."""
    config = client.config
    grain: Grain = config.grain
    wanted = set(client.treated) | {CLIENT_TOTAL}
    chosen = results[
        results["preferred"].astype(bool)
        & results["site"].isin(wanted)
        & results["kpi"].isin(client.targets)
    ]
    starts = [
        _first_period_on_or_after(day, grain)
        for site in client.treated
        if (day := config.go_live_of(site)) is not None
    ]
    baseline = periods_of_months(config.impact.baseline_months, grain)
    ramp_up = periods_of_months(config.impact.ramp_up_months, grain)
    by_key_actual = {key: frame for key, frame in actual.groupby(["site", "kpi"], sort=False)}
    by_key_cf = {key: frame for key, frame in counterfactual.groupby(["site", "kpi"], sort=False)}
    outcomes = []
    for row in chosen.to_dict("records"):
        site, kpi = str(row["site"]), str(row["kpi"])
        key = (site, kpi)
        if key not in by_key_actual or key not in by_key_cf:
            continue
        observed = by_key_actual[key].set_index("period_start")["value"]
        without = by_key_cf[key].set_index("period_start")["value"]
        basis: Basis = "absolute" if row["basis"] == "absolute" else "relative"
        if site == CLIENT_TOTAL:
            go_live = max(starts)
            before_end = min(starts)
        else:
            go_live = before_end = _first_period_on_or_after(config.go_live_of(site), grain)
        after_start = (
            pd.Timestamp(row["after_start"])
            if row.get("after_start") is not None
            else _shift(go_live, ramp_up, grain)
        )
        truth = true_change(observed, without, after_start, basis)
        if truth is None:
            continue
        headline = row["rel_change_pct"] if basis == "relative" else row["abs_change"]
        outcomes.append(
            SeriesOutcome(
                family=client.family,
                design=client.design,
                client=client.index,
                site=site,
                kpi=kpi,
                basis=basis,
                method=str(row["method"]),
                verdict=str(row["verdict"]),
                truth=truth,
                estimate=_number(headline),
                ci_low=_number(row["ci_low"]),
                ci_high=_number(row["ci_high"]),
                naive=naive_change(observed, before_end, after_start, baseline, grain, basis),
                zero_effect=client.zero_effect(site, kpi),
            )
        )
    return outcomes
