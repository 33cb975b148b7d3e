"""Did a KPI change after go-live? Naive before/after, an interrupted time series (season and
trend) and difference-in-differences against controls, on series indexed by period start.

Every estimate carries its sample sizes, a 95 % interval and a verdict, or, when the data cannot
support a number, why not. The season-and-trend model and difference-in-differences forecast
what the KPI (or its gap to the controls) would have done without the transformation from the
periods before go-live (`pipelines.impact.counterfactual`): the interval is the forecast's,
which carries the noise, its persistence, the season and the uncertainty of a trend carried a
year ahead. A model whose fake go-lives in the periods before show "effects" as large as the
real one is not trusted: the result is downgraded to not enough evidence, with the reason.
The relative basis models log(value) and shows 100 * (exp(b) - 1) %; the absolute basis
models the value, in the KPI's unit. `make proof` measures the coverage of the intervals on
simulated clients whose true effects are known (README, method).
"""

import logging
import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from pipelines.impact.counterfactual import (
    GAP_SIMPLER_PRIOR,
    SIMPLER_PRIOR,
    Forecast,
    forecast,
    t_p_value,
    t_quantile,
)

logger = logging.getLogger(__name__)

Method = Literal["before_after", "seasonal", "did"]
Basis = Literal["relative", "absolute"]
Verdict = Literal["improved", "worsened", "no_significant_change", "insufficient_data"]
Direction = Literal["higher_is_better", "lower_is_better"]
Grain = Literal["month", "week"]
InsufficiencyCode = Literal[
    "few_before", "few_after", "missing_before", "missing_after",
    "no_seasonal_baseline", "non_positive", "no_controls", "placebo",
]  # fmt: skip

MIN_PERIODS = 6
MAX_MISSING_SHARE = 0.25
SEASONAL_MIN_BEFORE: dict[Grain, int] = {"month": 6, "week": 26}
"""The season-and-trend model needs half a year before go-live; with less than a year, the
seasons it has not seen, and the trend, are uncertain, and its interval says so."""
WEEKS_PER_BLOCK = 4
"""The counterfactual model sees weeks in blocks of four (see `_model_data`)."""
PLACEBO_PERIODS: dict[Grain, int] = {"month": 12, "week": 52}
"""A fake go-live this many periods before the real one (at most a third of the before side)."""
PLACEBO_SHARE = 0.5
"""A fake go-live whose significant "effect" is at least this share of the real one downgrades
the result: the model does not separate the transformation from the KPI's own movements."""


@dataclass(frozen=True)
class Window:
    """Which periods are compared.

    The before side ends just before `go_live` (or at `last_before`, inclusive, for a client
    total with a staggered roll-out) and holds at most `baseline_periods` periods counted back
    from its end. The after side starts `ramp_up_periods` after `go_live` and runs to the
    series' last observed period.
    """

    go_live: pd.Timestamp
    grain: Grain
    ramp_up_periods: int = 0
    baseline_periods: int | None = None
    last_before: pd.Timestamp | None = None
    first_before: pd.Timestamp | None = None
    """The before side's first period at the earliest (a site's own opening ramp-up left out)."""


@dataclass(frozen=True)
class Insufficiency:
    """Why there is no result: a code and the numbers behind it.

    Periods for few_*, no_seasonal_baseline (before periods observed, and needed); missing
    periods and the maximum allowed for missing_*; non-positive values and 0 for non_positive.
    When the before side does not cover every month-of-year seen after go-live,
    no_seasonal_baseline counts months-of-year instead (covered, and needed).
    """

    code: InsufficiencyCode
    count: int
    needed: int
    value: float | None = None
    """For placebo: the fake go-live's change (headline unit), `count` periods before."""


@dataclass(frozen=True, eq=False)
class Counterfactual:
    """What the KPI would have been without the transformation, each period from go-live on
    (period numbers), with its 95 % band, in the KPI's unit."""

    periods: np.ndarray
    expected: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Counterfactual):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, name), getattr(other, name))
            for name in ("periods", "expected", "low", "high")
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Estimate:
    """One KPI's change after go-live by one method, with its evidence.

    `ci_low`/`ci_high` bound the headline change (`change`): in percent for the relative
    basis, in the KPI's unit for the absolute basis. When `verdict` is insufficient_data,
    `insufficiency` says why, and the change, interval and p-value are None, except when a
    fake go-live matched the change (placebo): the numbers are kept, but not claimed.
    `counterfactual_after` is the after side's level without the change (KPI unit): the
    observed after mean is it plus `abs_change`. `counterfactual` is the modelled path.
    """

    method: Method
    basis: Basis
    n_before: int
    n_after: int
    mean_before: float | None
    mean_after: float | None
    abs_change: float | None
    rel_change_pct: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: Verdict
    insufficiency: Insufficiency | None = None
    counterfactual_after: float | None = None
    counterfactual: Counterfactual | None = None

    @property
    def change(self) -> float | None:
        """The headline change: percent for the relative basis, KPI unit for absolute."""
        return self.rel_change_pct if self.basis == "relative" else self.abs_change


@dataclass(frozen=True)
class Observed:
    """A series' observed values in time order, as period numbers (months or weeks since
    January 1970) and floats: what every method works on. Converting a `pd.Series` once and
    passing this to each method skips the conversion and its checks on every call.
    """

    periods: np.ndarray
    values: np.ndarray
    grain: Grain

    @classmethod
    def of(cls, series: pd.Series, grain: Grain) -> "Observed":
        """The finite values of `series` (indexed by distinct period starts of the grain)."""
        periods = period_numbers(pd.DatetimeIndex(series.index).to_numpy(), grain)
        return cls.of_arrays(periods, np.asarray(series, dtype=float), grain)

    @classmethod
    def of_arrays(cls, periods: np.ndarray, values: np.ndarray, grain: Grain) -> "Observed":
        """The finite values of `values` at distinct `period_numbers`."""
        if len(np.unique(periods)) != len(periods):
            raise ValueError(f"series index must be distinct {grain} period starts")
        keep = np.isfinite(values)
        order = np.argsort(periods[keep], kind="stable")
        return cls(periods[keep][order], values[keep][order], grain)


@dataclass(frozen=True)
class _Sides:
    """Which observed periods are on each side (masks over `Observed.periods`), and how many
    periods each side should have had."""

    before: np.ndarray
    after: np.ndarray
    expected_before: int
    expected_after: int
    after_start: int
    """The period number of the after side's first period."""
    before_end: int
    """The period number of the before side's last period."""
    last: int
    """The period number of the last period observed (at least `after_start`)."""

    @property
    def first_target(self) -> int:
        """The first period whose counterfactual is forecast (the one after the before side)."""
        return self.before_end + 1

    @property
    def used(self) -> np.ndarray:
        """Both sides' periods (ramp-up and gaps left out), still in time order."""
        return self.before | self.after

    @property
    def n_before(self) -> int:
        return int(np.count_nonzero(self.before))

    @property
    def n_after(self) -> int:
        return int(np.count_nonzero(self.after))


@dataclass(frozen=True)
class _Effect:
    """A fitted effect with its 95 % bounds and p-value, on the model's scale (log or unit)."""

    value: float
    low: float
    high: float
    p_value: float


def verdict_of(ci_low: float, ci_high: float, direction: Direction) -> Verdict:
    """Improved or worsened when the interval excludes 0, else no_significant_change."""
    higher = direction == "higher_is_better"
    if ci_low > 0:
        return "improved" if higher else "worsened"
    if ci_high < 0:
        return "worsened" if higher else "improved"
    return "no_significant_change"


def period_numbers(stamps: np.ndarray, grain: Grain) -> np.ndarray:
    """Period starts (datetime64) as integers: months since January 1970, or weeks since the
    Monday 1969-12-29; a ValueError when one is not a midnight starting a month (a Monday)."""
    values = np.asarray(stamps, dtype="datetime64[ns]")
    days = values.astype("datetime64[D]")
    if not np.array_equal(days, values):
        raise ValueError(f"series index must be distinct {grain} period starts")
    if grain == "month":
        months = days.astype("datetime64[M]")
        if not np.array_equal(months.astype("datetime64[D]"), days):
            raise ValueError(f"series index must be distinct {grain} period starts")
        return months.astype(np.int64)
    # 1970-01-01, day 0, was a Thursday: Mondays are the days whose number plus 3 divides by 7.
    shifted = days.astype(np.int64) + 3
    if np.any(shifted % 7):
        raise ValueError(f"series index must be distinct {grain} period starts")
    return shifted // 7


def before_after(
    series: pd.Series | Observed, window: Window, direction: Direction, basis: Basis
) -> Estimate:
    """The naive comparison of means; its interval allows for noise that persists from one
    period to the next (AR(1), its strength weighed from the periods before)."""
    observed, go_live = _observed(series, window)
    sides = _split(observed.periods, window, go_live)
    values = observed.values
    problem = _side_problem(sides) or _positivity(basis, values[sides.used])
    if problem is not None:
        return _insufficient("before_after", basis, values, sides, problem)
    scaled = _scale(values, basis)
    model = _model_data(observed.periods, scaled, sides, window.grain)
    prediction = _forecast(model, SIMPLER_PRIOR, seasons=False, trend=False, contrast=True)
    change = float(scaled[sides.after].mean() - scaled[sides.before].mean())
    effect = _effect(change, prediction, prediction.contrast_variance)
    return _result("before_after", basis, direction, values, sides, effect, naive=True)


def seasonal(
    series: pd.Series | Observed, window: Window, direction: Direction, basis: Basis
) -> Estimate:
    """An interrupted time series: the after side against the forecast, from the periods
    before go-live, of what the KPI would have done without the transformation (its level,
    month-of-year effects and trend, with their uncertainty); checked by a fake go-live in the
    periods before."""
    observed, go_live = _observed(series, window)
    sides = _split(observed.periods, window, go_live)
    values, grain = observed.values, window.grain
    problem = (
        _side_problem(sides)
        or _positivity(basis, values[sides.used])
        or _baseline_problem(sides, grain)
    )
    if problem is not None:
        return _insufficient("seasonal", basis, values, sides, problem)
    scaled = _scale(values, basis)
    return _modelled("seasonal", basis, direction, values, scaled, observed.periods, sides, grain)


def difference_in_differences(
    treated: pd.Series | Observed,
    controls: pd.Series | Observed,
    window: Window,
    direction: Direction,
    basis: Basis,
) -> Estimate:
    """The treated site's change net of the controls': its gap to the controls after go-live
    against the forecast of that gap from the periods before (which allows for a gap that
    drifts or has its own season), on the periods both have."""
    site, go_live = _observed(treated, window)
    pooled, _ = _observed(controls, window)
    periods, in_site, in_pooled = np.intersect1d(
        site.periods, pooled.periods, assume_unique=True, return_indices=True
    )
    values, control_values = site.values[in_site], pooled.values[in_pooled]
    sides = _split(periods, window, go_live)
    used = sides.used
    problem = (
        Insufficiency("no_controls", 0, 1)
        if pooled.periods.size == 0
        else _side_problem(sides)
        or _positivity(basis, np.concatenate([values[used], control_values[used]]))
    )
    if problem is not None:
        return _insufficient("did", basis, values, sides, problem)
    gap = _scale(values, basis) - _scale(control_values, basis)
    return _modelled(
        "did", basis, direction, values, gap, periods, sides, window.grain,
        reference=_scale(control_values, basis), simpler=GAP_SIMPLER_PRIOR,
    )  # fmt: skip


def period_number(stamp: pd.Timestamp, grain: Grain) -> int:
    """One period start as its period number (see `period_numbers`)."""
    return int(period_numbers(np.asarray([stamp.to_datetime64()]), grain)[0])


def period_starts(numbers: np.ndarray, grain: Grain) -> np.ndarray:
    """Period numbers back to their start days (`datetime64[D]`): the inverse of
    `period_numbers`."""
    if grain == "month":
        return numbers.astype("datetime64[M]").astype("datetime64[D]")
    return (7 * numbers - 3).astype("datetime64[D]")


def _check_window(window: Window) -> int:
    """The go-live's period number; refuses windows that are a caller's mistake rather than a
    lack of data."""
    try:
        go_live = period_number(window.go_live, window.grain)
    except ValueError:
        raise ValueError(f"go-live {window.go_live} is not a {window.grain} start") from None
    if window.ramp_up_periods < 0 or (window.baseline_periods or 0) < 0:
        raise ValueError("ramp-up and baseline periods cannot be negative")
    if window.last_before is not None and window.last_before >= window.go_live:
        raise ValueError("last_before must be before go-live")
    return go_live


def _observed(series: pd.Series | Observed, window: Window) -> tuple[Observed, int]:
    """The series' observed values in time order (NaN and infinities count as missing), and
    the go-live's period number."""
    go_live = _check_window(window)
    if isinstance(series, Observed):
        if series.grain != window.grain:
            raise ValueError(f"a {series.grain} series with a {window.grain} window")
        return series, go_live
    return Observed.of(series, window.grain), go_live


def _split(periods: np.ndarray, window: Window, go_live: int) -> _Sides:
    """The before and after sides of the observed periods (period numbers in time order)."""
    grain = window.grain
    after_start = go_live + window.ramp_up_periods
    before_end = go_live - 1
    if window.last_before is not None:
        before_end = period_number(window.last_before, grain)
    if periods.size == 0:
        empty = np.zeros(0, dtype=bool)
        return _Sides(empty, empty, 0, 0, after_start, before_end, after_start)
    before_start = int(periods[0])
    if window.first_before is not None:
        before_start = max(before_start, period_number(window.first_before, grain))
    if window.baseline_periods is not None:
        before_start = max(before_start, before_end + 1 - window.baseline_periods)
    return _Sides(
        (periods >= before_start) & (periods <= before_end),
        periods >= after_start,
        max(before_end - before_start + 1, 0),
        max(int(periods[-1]) - after_start + 1, 0),
        after_start,
        before_end,
        max(int(periods[-1]), after_start),
    )


def _side_problem(sides: _Sides) -> Insufficiency | None:
    """Too few observed periods, or too many missing ones, before side first."""
    checks = (
        (sides.n_before, sides.expected_before, "few_before", "missing_before"),
        (sides.n_after, sides.expected_after, "few_after", "missing_after"),
    )
    for observed, expected, few, missing in checks:
        if observed < MIN_PERIODS:
            return Insufficiency(few, observed, MIN_PERIODS)
        allowed = math.floor(MAX_MISSING_SHARE * expected)
        if expected - observed > allowed:
            return Insufficiency(missing, expected - observed, allowed)
    return None


def _positivity(basis: Basis, values: np.ndarray) -> Insufficiency | None:
    """A log model needs every value used to be positive."""
    bad = int(np.sum(values <= 0))
    return Insufficiency("non_positive", bad, 0) if basis == "relative" and bad else None


def _season(periods: np.ndarray, grain: Grain) -> np.ndarray:
    """Month-of-year (1-12) of each period number; a week belongs to the month of its
    Thursday (day 7 * n since 1970-01-01)."""
    if grain == "month":
        return periods % 12 + 1
    thursdays = (7 * periods).astype("datetime64[D]")
    return thursdays.astype("datetime64[M]").astype(np.int64) % 12 + 1


def _baseline_problem(sides: _Sides, grain: Grain) -> Insufficiency | None:
    """The season-and-trend model needs `SEASONAL_MIN_BEFORE` periods before go-live."""
    if sides.n_before < SEASONAL_MIN_BEFORE[grain]:
        return Insufficiency("no_seasonal_baseline", sides.n_before, SEASONAL_MIN_BEFORE[grain])
    return None


def _scale(values: np.ndarray, basis: Basis) -> np.ndarray:
    """Log values for the relative basis (NaN where not positive: such periods are not used)."""
    if basis == "absolute":
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(values)


@dataclass(frozen=True)
class _ModelData:
    """A series as the counterfactual model sees it: the before side's steps, then every step
    from the first after go-live to the last observed (the targets). Months are steps; weeks
    are grouped in blocks of four counted from go-live, so that no block straddles it and the
    model stays small (three years of weeks are 39 blocks). `months` is each step's season."""

    positions: np.ndarray
    months: np.ndarray
    before_values: np.ndarray
    n_before: int
    weights: np.ndarray
    """Per target: its share of the observed after side (0 in the ramp-up)."""
    per_year: float
    before_weights: np.ndarray
    """Per before step: its share of the before side's observed periods."""
    target_steps: np.ndarray
    """Per period from go-live to the last one (`_Sides.first_target`..`last`): its target."""
    within: float
    """The variance of a single week about its block's mean, from the before side (0 for
    months): a week's band adds it to its block's."""


def _model_data(periods: np.ndarray, scaled: np.ndarray, sides: _Sides, grain: Grain) -> _ModelData:
    """`scaled` (the model's scale, per observed period) as the model sees it, for `sides`."""
    first, last = sides.first_target, sides.last
    every = np.arange(first, last + 1)
    if grain == "month":
        width, per_year = 1, 12.0
    else:
        width, per_year = WEEKS_PER_BLOCK, 52 / WEEKS_PER_BLOCK
    before_steps = (periods[sides.before] - first) // width
    target_steps = (every - first) // width
    steps, inverse, counts = np.unique(before_steps, return_inverse=True, return_counts=True)
    before_values = np.bincount(inverse, weights=scaled[sides.before]) / counts
    spread = scaled[sides.before] - before_values[inverse]
    within = float(spread @ spread) / max(len(spread) - len(steps), 1) if width > 1 else 0.0
    targets = np.arange(target_steps[-1] + 1)
    after_steps = (periods[sides.after] - first) // width
    weights = np.bincount(after_steps, minlength=len(targets)) / max(sides.n_after, 1)
    positions = np.concatenate([steps, targets]).astype(float)
    # A step's season is the month of its middle period. (Tried: a block's place among the
    # 13 blocks of a year; the weekly family's coverage fell from 89 % to 87 %.)
    middles = first + positions * width + (width - 1) // 2
    return _ModelData(
        positions,
        _season(middles.astype(np.int64), grain),
        before_values,
        len(steps),
        weights,
        per_year,
        counts / counts.sum(),
        target_steps,
        within,
    )


def _forecast(
    model: _ModelData,
    simpler: float,
    *,
    seasons: bool = True,
    trend: bool = True,
    contrast: bool = False,
) -> Forecast:
    """The counterfactual forecast of a series prepared by `_model_data` (with `contrast`,
    also the variance of the naive after-less-before comparison)."""
    return forecast(
        model.positions, model.months, model.before_values, model.n_before, model.weights,
        model.per_year, seasons=seasons, trend=trend, simpler=simpler,
        before_weights=model.before_weights if contrast else None,
    )  # fmt: skip


def _effect(change: float, prediction: Forecast, variance: float | None = None) -> _Effect:
    """An effect on the model's scale with the forecast's uncertainty (or `variance`)."""
    se = math.sqrt(prediction.variance if variance is None else variance)
    margin = t_quantile(prediction.df) * se
    p_value = t_p_value(change / se, prediction.df) if se > 0 else math.nan
    return _Effect(change, change - margin, change + margin, p_value)


def _modelled(
    method: Method,
    basis: Basis,
    direction: Direction,
    values: np.ndarray,
    scaled: np.ndarray,
    periods: np.ndarray,
    sides: _Sides,
    grain: Grain,
    reference: np.ndarray | None = None,
    simpler: float = SIMPLER_PRIOR,
) -> Estimate:
    """A counterfactual method's estimate: `scaled` (the KPI, or its gap to the controls, on
    the model's scale) after go-live against its forecast; then the fake go-live check.
    `reference` (the controls on the model's scale) turns a forecast gap into the KPI's
    counterfactual path; `simpler` is the forecast's prior weight of the simpler model."""
    model = _model_data(periods, scaled, sides, grain)
    prediction = _forecast(model, simpler)
    change = float(scaled[sides.after].mean() - prediction.mean)
    effect = _effect(change, prediction)
    estimate = _result(method, basis, direction, values, sides, effect)
    path = _path(periods, sides, model, prediction, basis, reference)
    estimate = replace(estimate, counterfactual=_levelled(path, periods[sides.after], estimate))
    if estimate.verdict in ("improved", "worsened"):
        placebo = _placebo(periods, scaled, sides, grain, simpler)
        if placebo is not None and abs(placebo[0].value) >= PLACEBO_SHARE * abs(change):
            return _downgraded(estimate, *placebo)
    return estimate


def _path(
    periods: np.ndarray,
    sides: _Sides,
    model: _ModelData,
    prediction: Forecast,
    basis: Basis,
    reference: np.ndarray | None,
) -> Counterfactual:
    """The counterfactual of every period from go-live on, in the KPI's unit, with its 95 %
    band (for a difference-in-differences, the controls plus the forecast gap, where the
    controls are observed)."""
    every = np.arange(sides.first_target, sides.last + 1)
    expected = prediction.path[model.target_steps]
    variance = prediction.path_variance[model.target_steps] + model.within
    margin = t_quantile(prediction.df) * np.sqrt(variance)
    if reference is not None:
        shift = np.full(len(every), np.nan)
        present = (periods >= sides.first_target) & (periods <= sides.last)
        shift[periods[present] - sides.first_target] = reference[present]
        expected = expected + shift
    keep = np.isfinite(expected)
    low, high = expected - margin, expected + margin
    if basis == "relative":
        expected, low, high = np.exp(expected), np.exp(low), np.exp(high)
    return Counterfactual(every[keep], expected[keep], low[keep], high[keep])


def _levelled(path: Counterfactual, after: np.ndarray, estimate: Estimate) -> Counterfactual:
    """The path, scaled so that its mean over the observed after periods is the table's
    `counterfactual_after`: on the log scale the two differ by the spread of the path (the
    mean of exponentials is not the exponential of the mean), and a chart must draw the
    number its table prints. Unchanged on the absolute basis, where they agree already."""
    target = estimate.counterfactual_after
    drawn = path.expected[np.isin(path.periods, after)]
    if estimate.basis == "absolute" or target is None or not drawn.size:
        return path
    factor = target / float(drawn.mean())
    return Counterfactual(
        path.periods, path.expected * factor, path.low * factor, path.high * factor
    )


def _placebo(
    periods: np.ndarray, scaled: np.ndarray, sides: _Sides, grain: Grain, simpler: float
) -> tuple[_Effect, int] | None:
    """The same model with a fake go-live in the periods before: the last
    `PLACEBO_PERIODS` of the before side (at most a third of it) play the after side. The
    fake's effect, when its interval excludes 0, and how many periods it played; else None
    (also when the before side is too short to spare them)."""
    before = np.flatnonzero(sides.before)
    length = min(PLACEBO_PERIODS[grain], len(before) // 3)
    kept = len(before) - length
    if length < MIN_PERIODS or kept < PLACEBO_PERIODS[grain]:
        return None
    fake_go_live = int(periods[before[kept]])
    fake = _Sides(
        sides.before & (periods < fake_go_live),
        sides.before & (periods >= fake_go_live),
        kept,
        length,
        fake_go_live,
        fake_go_live - 1,
        int(periods[before[-1]]),
    )
    prediction = _forecast(_model_data(periods, scaled, fake, grain), simpler)
    effect = _effect(float(scaled[fake.after].mean() - prediction.mean), prediction)
    return (effect, length) if effect.low > 0 or effect.high < 0 else None


def _downgraded(estimate: Estimate, placebo: _Effect, length: int) -> Estimate:
    """An estimate that a fake go-live `length` periods earlier matched: not enough evidence,
    with the fake's change."""
    logger.debug("%s: a fake go-live shows %.3f, downgraded", estimate.method, placebo.value)
    return replace(
        estimate,
        verdict="insufficient_data",
        insufficiency=Insufficiency("placebo", length, 0, _headline(estimate.basis, placebo.value)),
    )


def _headline(basis: Basis, coefficient: float) -> float:
    """A model coefficient as a headline change: percent for relative, unit for absolute."""
    return 100 * math.expm1(coefficient) if basis == "relative" else float(coefficient)


def _percent_of(change: float, base: float) -> float | None:
    """Change in percent of a positive base; None when the base cannot carry a percentage."""
    return 100 * change / base if base > 0 else None


def _means(values: np.ndarray, sides: _Sides) -> tuple[float | None, float | None]:
    """Observed means of each side, None for an empty side."""
    before = float(values[sides.before].mean()) if sides.n_before else None
    after = float(values[sides.after].mean()) if sides.n_after else None
    return before, after


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _insufficient(
    method: Method, basis: Basis, values: np.ndarray, sides: _Sides, problem: Insufficiency
) -> Estimate:
    """What there is (sizes and means), and why it supports no result."""
    logger.debug("%s: insufficient data, %s", method, problem)
    mean_before, mean_after = _means(values, sides)
    return Estimate(
        method, basis, sides.n_before, sides.n_after, mean_before, mean_after,
        None, None, None, None, None, "insufficient_data", problem,
    )  # fmt: skip


def _result(
    method: Method, basis: Basis, direction: Direction, values: np.ndarray, sides: _Sides,
    effect: _Effect, naive: bool = False,
) -> Estimate:  # fmt: skip
    """The estimate of a fitted effect. The naive point estimate is the difference of observed
    means; the others take the model's effect. The counterfactual after level is what the
    observed after mean would have been without the change (so that after = counterfactual
    plus the change, or times 1 + the change), and abs_change is after less it."""
    mean_before, mean_after = _means(values, sides)
    assert mean_before is not None and mean_after is not None  # sides were checked non-empty
    if naive:
        abs_change = mean_after - mean_before
        rel_change: float | None = _percent_of(abs_change, mean_before)
        counterfactual: float | None = mean_before
    elif basis == "relative":
        rel_change = _headline(basis, effect.value)
        counterfactual = mean_after / (1 + rel_change / 100)
        abs_change = mean_after - counterfactual
    else:
        abs_change, rel_change = effect.value, None
        counterfactual = mean_after - abs_change
        rel_change = _percent_of(abs_change, counterfactual)
    low, high = _finite(_headline(basis, effect.low)), _finite(_headline(basis, effect.high))
    verdict = verdict_of(low, high, direction) if low is not None and high is not None else None
    return Estimate(
        method, basis, sides.n_before, sides.n_after, mean_before, mean_after,
        _finite(abs_change), _finite(rel_change), low, high, _finite(effect.p_value),
        verdict or "no_significant_change", None, _finite(counterfactual),
    )  # fmt: skip
