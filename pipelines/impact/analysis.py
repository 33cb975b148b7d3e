"""The impact table: each KPI's change after go-live, per site and for the client total, by every
method that applies, with a verdict and a sentence in French and in English.

Methods: `before_after` (naive means, with an interval that allows for persistent noise),
`seasonal` (an interrupted time series: the forecast, from before go-live, of the KPI's level,
seasons and trend) and `did` (difference-in-differences: the same forecast of the KPI's gap to
the pooled control sites). The result a report leads with (`preferred`) is the first that has
enough data, in the order did, seasonal, before_after: controls remove a common drift that no
model of one series can tell from an effect; the season-and-trend model removes seasons and
carries the trend's uncertainty.
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, fields

import duckdb
import numpy as np
import pandas as pd

from pipelines.catalogue import BASE_KPIS, CATALOGUE_VERSION
from pipelines.config.model import ClientConfig
from pipelines.impact import prices, sentences
from pipelines.impact.series import CLIENT_TOTAL, CONTROLS_TOTAL, derived_kpis, read_kpi_series
from pipelines.impact.statistics import (
    Basis,
    Direction,
    Estimate,
    Grain,
    Observed,
    Window,
    before_after,
    difference_in_differences,
    period_number,
    period_numbers,
    period_starts,
    seasonal,
)

PREFERENCE = ("did", "seasonal", "before_after")
ESTIMATE_FIELDS = [f for f in fields(Estimate) if f.name not in ("insufficiency", "counterfactual")]
WEEKS_PER_MONTH = 52 / 12
NEW_SITE_RAMP_UP_MONTHS = 6
"""A site opened during the baseline: its first months are left out of its before side."""
LATE_START_PERIODS = 3
"""A series counts as opened late when it starts at least this many periods after the
client's first (one or two missing first periods are a gap in an export, not an opening)."""

IMPACT_COLUMNS = [
    "client",
    "site",
    "scope",
    "kpi",
    "label_fr",
    "label_en",
    "unit",
    "direction",
    "method",
    "preferred",
    "basis",
    "go_live",
    "after_start",
    "n_before",
    "n_after",
    "mean_before",
    "mean_after",
    "abs_change",
    "rel_change_pct",
    "ci_low",
    "ci_high",
    "p_value",
    "counterfactual_after",
    "verdict",
    "reason_fr",
    "reason_en",
    "target_change_pct",
    "target_due",
    "target_progress_pct",
    "sentence_fr",
    "sentence_en",
    "catalogue_version",
]


COUNTERFACTUAL_COLUMNS = ["site", "kpi", "method", "period_start", "expected", "low", "high"]


@dataclass(frozen=True)
class ImpactResults:
    """The impact table's rows (`IMPACT_COLUMNS`) and the counterfactual path of every
    preferred result whose method models one (`COUNTERFACTUAL_COLUMNS`)."""

    rows: pd.DataFrame
    counterfactual: pd.DataFrame


@dataclass(frozen=True)
class KpiInfo:
    """What the analysis needs to know about a KPI."""

    name: str
    unit: str
    direction: Direction
    label_fr: str
    label_en: str

    @property
    def basis(self) -> Basis:
        """Percentages change in points; everything else in percent of its level."""
        return "absolute" if self.unit == "pct" else "relative"


def kpi_infos(config: ClientConfig) -> dict[str, KpiInfo]:
    """Unit, direction and labels of every base and derived KPI of the client."""
    base = [prices.labelled_kpi(config, kpi) for kpi in BASE_KPIS.values()]
    entries = [*base, *derived_kpis(config).values()]
    return {e.name: KpiInfo(e.name, e.unit, e.direction, e.label_fr, e.label_en) for e in entries}


def period_on_or_after(day: dt.date, grain: Grain) -> pd.Timestamp:
    """The first period starting on or after `day`: a go-live in mid-month or mid-week makes
    the next period the first one fully after it."""
    stamp = pd.Timestamp(day)
    if grain == "month":
        return stamp if stamp.day == 1 else stamp + pd.offsets.MonthBegin(1)
    return stamp if stamp.weekday() == 0 else stamp + pd.offsets.Week(weekday=0)


def periods_of_months(months: int, grain: Grain) -> int:
    """A span in months as a number of periods of the grain."""
    return months if grain == "month" else round(months * WEEKS_PER_MONTH)


def analyse(series: pd.DataFrame, config: ClientConfig, client: str) -> pd.DataFrame:
    """Every result for the client from `kpi_series` rows (site, period_start, kpi, value): one
    row per site (and client total), KPI and method, in `IMPACT_COLUMNS` order."""
    rows: list[dict[str, object]] = []
    _results(series, config, client, rows, [])
    return pd.DataFrame(rows, columns=IMPACT_COLUMNS)


def analyse_warehouse(
    con: duckdb.DuckDBPyConnection, config: ClientConfig, client: str
) -> pd.DataFrame:
    """`analyse` of the client's `kpi_series`, read a KPI at a time."""
    return analyse_with_counterfactuals(con, config, client).rows


def analyse_with_counterfactuals(
    con: duckdb.DuckDBPyConnection, config: ClientConfig, client: str
) -> ImpactResults:
    """`analyse_warehouse`, with the counterfactual paths of the preferred results."""
    rows: list[dict[str, object]] = []
    paths: list[pd.DataFrame] = []
    for frame in read_kpi_series(con):
        _results(frame, config, client, rows, paths)
    counterfactual = (
        pd.concat(paths, ignore_index=True)
        if paths
        else pd.DataFrame(columns=COUNTERFACTUAL_COLUMNS)
    )
    return ImpactResults(pd.DataFrame(rows, columns=IMPACT_COLUMNS), counterfactual)


def _results(
    series: pd.DataFrame,
    config: ClientConfig,
    client: str,
    rows: list[dict[str, object]],
    paths: list[pd.DataFrame],
) -> None:
    """Append the rows of the KPIs in `series` to `rows`, and their preferred results'
    counterfactual paths to `paths`."""
    infos = kpi_infos(config)
    periods = period_numbers(series["period_start"].to_numpy(), config.grain)
    values = series["value"].to_numpy(dtype=float)
    by_kpi: dict[str, dict[str, Observed]] = {}
    groups = series.groupby(["kpi", "site"], sort=True, observed=True).indices
    for (kpi, site), positions in groups.items():
        by_kpi.setdefault(str(kpi), {})[str(site)] = Observed.of_arrays(
            periods[positions], values[positions], config.grain
        )
    for kpi, by_site in by_kpi.items():
        info = infos.get(kpi)
        if info is None:
            continue
        for site, window in _windows(config, by_site):
            controls = by_site.get(CONTROLS_TOTAL)
            estimates = list(_estimates(by_site[site], controls, window, info))
            preferred = _preferred(estimates)
            for estimate in estimates:
                rows.append(
                    _row(client, site, info, window, estimate, estimate is preferred, config)
                )
            if preferred.counterfactual is not None:
                paths.append(_path_frame(site, info.name, preferred, config.grain))


def _windows(config: ClientConfig, by_site: dict[str, Observed]) -> Iterator[tuple[str, Window]]:
    """Each transformed site with its window, then the client total: before ends before the
    first go-live, after starts at the last one (the roll-out in between is left out). A
    series that starts later than the client's first (a site opened during the baseline, or
    a total that waits for it) leaves its first months out of the before side: they are the
    new site's own ramp-up, not its level."""
    grain = config.grain
    baseline = periods_of_months(config.impact.baseline_months, grain)
    ramp_up = periods_of_months(config.impact.ramp_up_months, grain)
    opening = periods_of_months(NEW_SITE_RAMP_UP_MONTHS, grain)
    starts = [int(values.periods[0]) for values in by_site.values() if values.periods.size]
    earliest = min(starts, default=0)
    go_lives = []
    for site in config.sites:
        go_live = config.go_live_of(site.name)
        if go_live is None:
            continue
        start = period_on_or_after(go_live, grain)
        go_lives.append(start)
        if site.name in by_site:
            first = _opened(by_site[site.name], earliest, opening, start, grain)
            yield site.name, Window(start, grain, ramp_up, baseline, first_before=first)
    if CLIENT_TOTAL in by_site and go_lives:
        first, last = min(go_lives), max(go_lives)
        last_before = None if first == last else _previous(first, grain)
        opened = _opened(by_site[CLIENT_TOTAL], earliest, opening, first, grain)
        yield CLIENT_TOTAL, Window(last, grain, ramp_up, baseline, last_before, opened)


def _opened(
    values: Observed, earliest: int, opening: int, go_live: pd.Timestamp, grain: Grain
) -> pd.Timestamp | None:
    """The first period after a late series' opening ramp-up, when a year of periods before
    go-live is left after it; else None (the whole series is used)."""
    if not values.periods.size or int(values.periods[0]) < earliest + LATE_START_PERIODS:
        return None
    after_opening = int(values.periods[0]) + opening
    if period_number(go_live, grain) - after_opening < periods_of_months(12, grain):
        return None
    return pd.Timestamp(period_starts(np.asarray([after_opening]), grain)[0])


def _previous(period: pd.Timestamp, grain: Grain) -> pd.Timestamp:
    return period - (pd.DateOffset(months=1) if grain == "month" else pd.Timedelta(weeks=1))


def _estimates(
    values: Observed, controls: Observed | None, window: Window, info: KpiInfo
) -> Iterator[Estimate]:
    """Every method that applies; a relative comparison of a KPI that is zero or negative
    somewhere (EBITDA) falls back to an absolute one."""
    methods = [
        lambda basis: before_after(values, window, info.direction, basis),
        lambda basis: seasonal(values, window, info.direction, basis),
    ]
    if controls is not None:
        methods.append(
            lambda basis: difference_in_differences(values, controls, window, info.direction, basis)
        )
    for method in methods:
        estimate = method(info.basis)
        if estimate.insufficiency is not None and estimate.insufficiency.code == "non_positive":
            estimate = method("absolute")
        yield estimate


def _preferred(estimates: list[Estimate]) -> Estimate:
    """The first usable result in order of preference; with none, the naive one, whose reason
    (too few periods, too many missing) is the most basic. A result that a fake go-live
    downgraded is usable: its "not enough evidence" is the answer, and the naive comparison,
    more exposed still to the movements that fooled the model, never takes its place."""
    usable = [
        e
        for e in estimates
        if e.verdict != "insufficient_data"
        or (e.insufficiency is not None and e.insufficiency.code == "placebo")
    ]
    if not usable:
        return next(e for e in estimates if e.method == "before_after")
    return min(usable, key=lambda e: PREFERENCE.index(e.method))


def _path_frame(site: str, kpi: str, estimate: Estimate, grain: Grain) -> pd.DataFrame:
    """The counterfactual path of a result, as `COUNTERFACTUAL_COLUMNS` rows."""
    path = estimate.counterfactual
    assert path is not None
    return pd.DataFrame(
        {
            "site": site,
            "kpi": kpi,
            "method": estimate.method,
            "period_start": period_starts(path.periods, grain),
            "expected": path.expected,
            "low": path.low,
            "high": path.high,
        },
        columns=COUNTERFACTUAL_COLUMNS,
    )


def _row(
    client: str,
    site: str,
    info: KpiInfo,
    window: Window,
    estimate: Estimate,
    preferred: bool,
    config: ClientConfig,
) -> dict[str, object]:
    values = {f.name: getattr(estimate, f.name) for f in ESTIMATE_FIELDS}
    target = next((t for t in config.impact.targets if t.kpi == info.name), None)
    progress = None
    if target is not None and estimate.rel_change_pct is not None and target.change_pct:
        progress = 100.0 * estimate.rel_change_pct / target.change_pct
    after_start = window.go_live + (
        pd.DateOffset(months=window.ramp_up_periods)
        if window.grain == "month"
        else pd.Timedelta(weeks=window.ramp_up_periods)
    )
    return {
        **values,
        "client": client,
        "site": site,
        "scope": "client_total" if site == CLIENT_TOTAL else "site",
        "kpi": info.name,
        "label_fr": info.label_fr,
        "label_en": info.label_en,
        "unit": info.unit,
        "direction": info.direction,
        "preferred": preferred,
        "go_live": window.go_live.date(),
        "after_start": after_start.date(),
        "reason_fr": sentences.reason(estimate, "fr", info.unit) or None,
        "reason_en": sentences.reason(estimate, "en", info.unit) or None,
        "target_change_pct": target.change_pct if target else None,
        "target_due": target.due if target else None,
        "target_progress_pct": progress,
        "sentence_fr": sentences.sentence(estimate, info.label_fr, "fr", info.unit),
        "sentence_en": sentences.sentence(estimate, info.label_en, "en", info.unit),
        "catalogue_version": CATALOGUE_VERSION,
    }
