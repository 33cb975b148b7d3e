"""Impact statistics on synthetic series with known effects, and against independent code."""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from pipelines.impact.statistics import (
    MAX_MISSING_SHARE,
    MIN_PERIODS,
    Estimate,
    Insufficiency,
    Observed,
    Window,
    before_after,
    difference_in_differences,
    seasonal,
    verdict_of,
)

GO_LIVE = pd.Timestamp("2024-06-01")


def periods_between(start: pd.Timestamp, end: pd.Timestamp, grain: str) -> pd.DatetimeIndex:
    """Every period start of the grain from start to end, both included."""
    return pd.date_range(start, end, freq={"month": "MS", "week": "W-MON"}[grain])


def seasonal_months(seed: int = 1) -> pd.Series:
    """24 months before a June go-live, 7 after (June to December): +12 %, August -40 %,
    December -25 %, log-normal noise of sd 0.02. The after side holds a larger share of the
    low months than the before side, so the naive comparison of means understates the effect.
    """
    rng = np.random.default_rng(seed)
    index = periods_between(pd.Timestamp("2022-06-01"), pd.Timestamp("2024-12-01"), "month")
    season = np.select([index.month == 8, index.month == 12], [0.6, 0.75], 1.0)
    effect = np.where(index >= GO_LIVE, 1.12, 1.0)
    noise = np.exp(rng.normal(0, 0.02, len(index)))
    return pd.Series(100 * season * effect * noise, index=index)


def trending_weeks(seed: int = 3) -> tuple[pd.Series, pd.Series, Window]:
    """Two years of weeks before a January go-live, one after; treated and controls share a
    +4 %/year trend and a +30 % Christmas peak (ISO weeks 51-52); +15 % on the treated site.
    """
    rng = np.random.default_rng(seed)
    index = periods_between(pd.Timestamp("2022-01-03"), pd.Timestamp("2024-12-30"), "week")
    go_live = pd.Timestamp("2024-01-01")
    years = np.asarray((index - index[0]).days) / 365.25
    common = 1.04**years * np.where(index.isocalendar().week.to_numpy() >= 51, 1.3, 1.0)
    effect = np.where(index >= go_live, 1.15, 1.0)
    treated = 100 * common * effect * np.exp(rng.normal(0, 0.02, len(index)))
    controls = 250 * common * np.exp(rng.normal(0, 0.02, len(index)))
    return (
        pd.Series(treated, index=index),
        pd.Series(controls, index=index),
        Window(go_live, "week"),
    )


def months(start: str, values: list[float] | np.ndarray) -> pd.Series:
    """A monthly series from `start`."""
    return pd.Series(
        values, index=pd.date_range(start, periods=len(values), freq="MS"), dtype=float
    )


def assert_no_result(estimate: Estimate, code: str, count: int, needed: int) -> None:
    """Insufficient: the reason and its numbers, and no number presented as a result."""
    assert estimate.verdict == "insufficient_data"
    assert estimate.insufficiency == Insufficiency(code, count, needed)  # type: ignore[arg-type]
    for field in ("abs_change", "rel_change_pct", "ci_low", "ci_high", "p_value", "change"):
        assert getattr(estimate, field) is None, field


def test_periods_between_month_starts_and_iso_mondays() -> None:
    assert list(
        periods_between(pd.Timestamp("2024-11-01"), pd.Timestamp("2025-02-01"), "month")
    ) == [pd.Timestamp(day) for day in ("2024-11-01", "2024-12-01", "2025-01-01", "2025-02-01")]
    weeks = periods_between(pd.Timestamp("2024-12-23"), pd.Timestamp("2025-01-13"), "week")
    assert list(weeks.isocalendar().week) == [52, 1, 2, 3]
    assert set(weeks.weekday) == {0}


def test_seasonal_recovers_the_effect_the_naive_comparison_understates() -> None:
    series, window = seasonal_months(), Window(GO_LIVE, "month")

    fitted = seasonal(series, window, "higher_is_better", "relative")
    naive = before_after(series, window, "higher_is_better", "relative")

    # Measured: seasonal +12.08 % [10.99, 13.19]; naive +6.11 %, 5.9 points short.
    assert (fitted.n_before, fitted.n_after) == (24, 7)
    assert fitted.change == pytest.approx(12, abs=2)
    assert fitted.ci_low < 12 < fitted.ci_high
    assert fitted.verdict == "improved"
    assert fitted.abs_change == pytest.approx(fitted.mean_before * fitted.change / 100)
    assert fitted.level_change is not None and fitted.slope_change is not None
    assert naive.change is not None and abs(naive.change - 12) > 2


def test_seasonal_is_unbiased_over_many_draws() -> None:
    """One seed could be lucky: the mean over 40 draws is within half a point of the truth
    (measured 12.14), and the naive comparison is biased on every draw (mean 7.16)."""
    window = Window(GO_LIVE, "month")
    draws = [seasonal_months(seed) for seed in range(40)]
    fitted = [seasonal(s, window, "higher_is_better", "relative").change for s in draws]
    naive = [before_after(s, window, "higher_is_better", "relative").change for s in draws]
    assert np.mean(fitted) == pytest.approx(12, abs=0.5)
    assert all(abs(change - 12) > 2 for change in naive)


def test_difference_in_differences_removes_the_shared_trend() -> None:
    treated, controls, window = trending_weeks()

    did = difference_in_differences(treated, controls, window, "higher_is_better", "relative")
    naive = before_after(treated, window, "higher_is_better", "relative")

    # Measured: DiD +15.30 % [14.30, 16.32]; naive +22.27 %, 7.3 points too high.
    assert (did.n_before, did.n_after) == (104, 53)
    assert did.change == pytest.approx(15, abs=1.5)
    assert did.ci_low < 15 < did.ci_high
    assert naive.change is not None and naive.change - 15 > 2


def test_before_after_agrees_with_numpy_and_formula_ols() -> None:
    series, window = seasonal_months(seed=5), Window(GO_LIVE, "month")
    estimate = before_after(series, window, "higher_is_better", "relative")

    data = pd.DataFrame({"y": series.to_numpy(), "after": (series.index >= GO_LIVE).astype(int)})
    before, after = data.y[data.after == 0], data.y[data.after == 1]
    assert estimate.abs_change == pytest.approx(after.mean() - before.mean(), abs=1e-9)
    assert estimate.rel_change_pct == pytest.approx(
        100 * (after.mean() / before.mean() - 1), abs=1e-9
    )
    # The standard error is the larger of the ordinary and the HAC one (see the module).
    lags = math.floor(4 * (len(data) / 100) ** (2 / 9))
    ordinary = smf.ols("np.log(y) ~ after", data).fit()
    hac = smf.ols("np.log(y) ~ after", data).fit(
        cov_type="HAC", cov_kwds={"maxlags": lags}, use_t=True
    )
    se = max(ordinary.bse["after"], hac.bse["after"])
    coefficient, df = ordinary.params["after"], ordinary.df_resid
    margin = stats.t.ppf(0.975, df) * se
    assert estimate.ci_low == pytest.approx(100 * math.expm1(coefficient - margin), abs=1e-9)
    assert estimate.ci_high == pytest.approx(100 * math.expm1(coefficient + margin), abs=1e-9)
    assert estimate.p_value == pytest.approx(2 * stats.t.sf(abs(coefficient / se), df), abs=1e-9)


def test_seasonal_with_trend_agrees_with_formula_ols_and_hac() -> None:
    """The numpy fit against statsmodels: month dummies, trend, level and slope change; the
    headline is level + mean distance x slope, its standard error the larger of both kinds."""
    rng = np.random.default_rng(21)
    index = periods_between(pd.Timestamp("2021-01-01"), pd.Timestamp("2024-12-01"), "month")
    go_live = pd.Timestamp("2024-01-01")
    season = 1 + 0.1 * np.sin(2 * np.pi * index.month.to_numpy() / 12)
    effect = np.where(index >= go_live, 1.08, 1.0)
    series = pd.Series(
        100 * season * effect * 1.002 ** np.arange(len(index)) * np.exp(rng.normal(0, 0.02, 48)),
        index=index,
    )
    estimate = seasonal(series, Window(go_live, "month"), "higher_is_better", "relative")

    t = np.arange(len(index))
    t0 = int(np.flatnonzero(index == go_live)[0])
    after = (index >= go_live).astype(int)
    data = pd.DataFrame(
        {"y": series.to_numpy(), "month": index.month, "t": t, "after": after,
         "after_t": after * (t - t0)}
    )  # fmt: skip
    formula = "np.log(y) ~ C(month) + t + after + after_t"
    ordinary = smf.ols(formula, data).fit()
    lags = math.floor(4 * (len(data) / 100) ** (2 / 9))
    hac = smf.ols(formula, data).fit(cov_type="HAC", cov_kwds={"maxlags": lags}, use_t=True)
    distance = float(np.mean(t[after == 1] - t0))
    weights = pd.Series(0.0, index=ordinary.params.index)
    weights[["after", "after_t"]] = [1.0, distance]
    value = float(weights @ ordinary.params)
    se = math.sqrt(
        max(weights @ ordinary.cov_params() @ weights, weights @ hac.cov_params() @ weights)
    )
    margin = stats.t.ppf(0.975, ordinary.df_resid) * se

    assert estimate.rel_change_pct == pytest.approx(100 * math.expm1(value), abs=1e-9)
    assert estimate.level_change == pytest.approx(
        100 * math.expm1(ordinary.params["after"]), abs=1e-9
    )
    assert estimate.slope_change == pytest.approx(100 * ordinary.params["after_t"], abs=1e-9)
    assert estimate.ci_low == pytest.approx(100 * math.expm1(value - margin), abs=1e-9)
    assert estimate.ci_high == pytest.approx(100 * math.expm1(value + margin), abs=1e-9)
    p_value = 2 * stats.t.sf(abs(value / se), ordinary.df_resid)
    assert estimate.p_value == pytest.approx(p_value, rel=1e-9)


def test_a_series_converted_once_gives_the_same_estimates() -> None:
    treated, controls, window = trending_weeks(seed=4)
    treated.iloc[[5, 60, 140]] = np.nan
    once = Observed.of(treated, "week"), Observed.of(controls, "week")
    for method in (before_after, seasonal):
        assert method(once[0], window, "higher_is_better", "relative") == method(
            treated, window, "higher_is_better", "relative"
        )
    assert difference_in_differences(
        *once, window, "higher_is_better", "relative"
    ) == difference_in_differences(treated, controls, window, "higher_is_better", "relative")
    with pytest.raises(ValueError, match="a week series with a month window"):
        before_after(once[0], Window(GO_LIVE, "month"), "higher_is_better", "relative")


def test_difference_in_differences_equals_two_way_fixed_effects() -> None:
    treated, controls, window = trending_weeks(seed=8)
    treated.iloc[[10, 130]] = np.nan  # unbalanced periods drop out of both units
    estimate = difference_in_differences(treated, controls, window, "higher_is_better", "relative")

    stacked = pd.concat(
        [
            pd.DataFrame({"period": s.index, "y": s.to_numpy(), "treated": unit})
            for s, unit in ((treated, 1), (controls, 0))
        ]
    ).dropna()
    stacked = stacked[stacked.groupby("period").y.transform("size") == 2]
    stacked["log_y"] = np.log(stacked.y)
    stacked["treated_after"] = stacked.treated * (stacked.period >= window.go_live).astype(int)
    fit = smf.ols("log_y ~ C(period) + treated + treated_after", stacked).fit()

    assert (estimate.n_before, estimate.n_after) == (103, 52)
    assert estimate.rel_change_pct == pytest.approx(
        100 * math.expm1(fit.params["treated_after"]), abs=1e-9
    )


def test_hac_p_value_is_close_to_welch_on_white_noise() -> None:
    """Sanity check; over 300 seeds of this design the two p-values were within 0.05 in 91 %."""
    rng = np.random.default_rng(11)
    index = periods_between(pd.Timestamp("2021-01-04"), pd.Timestamp("2024-12-23"), "week")
    go_live = index[104]
    series = pd.Series(100 + rng.normal(0, 5, len(index)), index=index)
    series[index >= go_live] += 0.7

    estimate = before_after(series, Window(go_live, "week"), "higher_is_better", "absolute")
    welch = stats.ttest_ind(series[index >= go_live], series[index < go_live], equal_var=False)

    # Measured: HAC p 0.240, Welch p 0.248.
    assert 0.05 < welch.pvalue < 0.95
    assert estimate.p_value == pytest.approx(welch.pvalue, abs=0.05)
    assert estimate.verdict == "no_significant_change"


def test_five_periods_before_are_not_enough() -> None:
    series = months("2024-01-01", [100.0] * 5 + [110.0] * 12)
    estimate = before_after(series, Window(GO_LIVE, "month"), "higher_is_better", "relative")
    assert_no_result(estimate, "few_before", 5, MIN_PERIODS)
    assert (estimate.n_before, estimate.n_after, estimate.mean_before) == (5, 12, 100.0)


def test_forty_percent_missing_after_is_not_enough() -> None:
    values = np.full(22, 100.0)
    values[[13, 15, 17, 19]] = np.nan  # 4 of the 10 after periods
    series = months("2023-06-01", values)
    estimate = before_after(series, Window(GO_LIVE, "month"), "higher_is_better", "relative")
    allowed = math.floor(MAX_MISSING_SHARE * 10)
    assert_no_result(estimate, "missing_after", 4, allowed)
    assert (estimate.n_before, estimate.n_after) == (12, 6)


def test_absent_periods_count_as_missing_like_nan() -> None:
    series = months("2023-06-01", np.full(22, 100.0)).drop(
        pd.DatetimeIndex(["2023-07-01", "2023-09-01", "2023-11-01", "2024-01-01"])
    )
    estimate = before_after(series, Window(GO_LIVE, "month"), "higher_is_better", "relative")
    assert_no_result(estimate, "missing_before", 4, 3)


def test_seasonal_needs_a_year_before_go_live() -> None:
    series = months("2023-07-01", 100 + np.arange(23.0))  # 11 months before
    estimate = seasonal(series, Window(GO_LIVE, "month"), "higher_is_better", "relative")
    assert_no_result(estimate, "no_seasonal_baseline", 11, 12)


def test_seasonal_fits_a_trend_only_with_two_years_before_go_live() -> None:
    # 12 months before, each once: month effects and a level change, no trend to extrapolate.
    series = months("2023-06-01", 100 + np.arange(19.0))
    short = seasonal(series, Window(GO_LIVE, "month"), "higher_is_better", "relative")
    assert short.verdict != "insufficient_data"
    assert short.slope_change is None and short.level_change == pytest.approx(short.change)
    # 24 months before: a trend, and a slope change beside the level change.
    series = months("2022-06-01", 100 + np.arange(31.0))
    long = seasonal(series, Window(GO_LIVE, "month"), "higher_is_better", "relative")
    assert long.slope_change is not None and long.level_change is not None


def test_seasonal_on_weeks_uses_months_of_year() -> None:
    treated, _, window = trending_weeks()
    estimate = seasonal(treated, window, "higher_is_better", "relative")
    # The shared +4 %/year trend is linear in the log, so the segmented model sees through it:
    # measured +15.34 % [12.75, 17.99].
    assert estimate.change == pytest.approx(15, abs=1.5)


def test_negative_value_cannot_be_modelled_in_relative_terms() -> None:
    values = 100 + np.arange(24.0)
    values[3] = -5.0
    series = months("2023-06-01", values)
    window = Window(GO_LIVE, "month")
    assert_no_result(
        before_after(series, window, "higher_is_better", "relative"), "non_positive", 1, 0
    )
    absolute = before_after(series, window, "higher_is_better", "absolute")
    assert absolute.verdict == "improved"
    assert absolute.abs_change == pytest.approx(absolute.mean_after - absolute.mean_before)


def test_ramp_up_periods_are_left_out() -> None:
    series = seasonal_months(seed=4)
    plain = before_after(series, Window(GO_LIVE, "month"), "higher_is_better", "relative")
    window = Window(GO_LIVE, "month", ramp_up_periods=1)
    ramped = before_after(series, window, "higher_is_better", "relative")
    broken = series.copy()
    broken[GO_LIVE] = -1e6  # would be non_positive, and wreck any mean, if it were used

    assert ramped.n_after == plain.n_after - 1
    assert ramped.n_before == plain.n_before
    assert before_after(broken, window, "higher_is_better", "relative") == ramped
    assert seasonal(broken, window, "higher_is_better", "relative") == seasonal(
        series, window, "higher_is_better", "relative"
    )


def test_baseline_periods_and_last_before_bound_the_before_side() -> None:
    series = seasonal_months()
    limited = before_after(
        series, Window(GO_LIVE, "month", baseline_periods=12), "higher_is_better", "relative"
    )
    assert limited.n_before == 12
    assert limited.mean_before == pytest.approx(series["2023-06-01":"2024-05-01"].mean())

    staggered = Window(
        GO_LIVE, "month", baseline_periods=12, last_before=pd.Timestamp("2024-02-01")
    )
    estimate = before_after(series, staggered, "higher_is_better", "relative")
    assert estimate.n_before == 12
    assert estimate.mean_before == pytest.approx(series["2023-03-01":"2024-02-01"].mean())
    assert estimate.n_after == 7


def test_difference_in_differences_needs_controls() -> None:
    treated, _, window = trending_weeks()
    empty = pd.Series([], index=pd.DatetimeIndex([]), dtype=float)
    estimate = difference_in_differences(treated, empty, window, "higher_is_better", "relative")
    assert_no_result(estimate, "no_controls", 0, 1)


def test_verdict_follows_the_kpi_direction() -> None:
    assert verdict_of(-8.0, -2.0, "lower_is_better") == "improved"
    assert verdict_of(-8.0, -2.0, "higher_is_better") == "worsened"
    assert verdict_of(2.0, 8.0, "lower_is_better") == "worsened"
    assert verdict_of(-1.0, 3.0, "lower_is_better") == "no_significant_change"
    assert verdict_of(0.0, 3.0, "higher_is_better") == "no_significant_change"


def test_lower_is_better_cost_decrease_is_an_improvement() -> None:
    rng = np.random.default_rng(2)
    values = np.r_[np.full(18, 4.0), np.full(12, 3.6)] * np.exp(rng.normal(0, 0.02, 30))
    series = months("2023-01-01", values)
    estimate = before_after(
        series, Window(pd.Timestamp("2024-07-01"), "month"), "lower_is_better", "relative"
    )
    assert estimate.change == pytest.approx(-10, abs=1.5)
    assert estimate.verdict == "improved"


def test_absolute_basis_gives_points_for_a_percentage_kpi() -> None:
    rng = np.random.default_rng(2)
    margin = np.r_[np.full(18, 30.0), np.full(12, 33.0)] + rng.normal(0, 0.5, 30)
    series = months("2023-01-01", margin)
    window = Window(pd.Timestamp("2024-07-01"), "month")
    estimate = before_after(series, window, "higher_is_better", "absolute")

    # Measured: +2.92 points [2.57, 3.28] (standard error of the mean difference: 0.19).
    assert estimate.change == estimate.abs_change
    assert estimate.abs_change == pytest.approx(3, abs=0.5)
    assert estimate.ci_low < 3 < estimate.ci_high
    assert estimate.ci_high - estimate.ci_low < 1.5
    assert estimate.rel_change_pct == pytest.approx(
        100 * estimate.abs_change / estimate.mean_before
    )
    assert estimate.verdict == "improved"


def test_misaligned_periods_are_a_caller_error() -> None:
    series = months("2023-01-01", np.full(30, 100.0))
    with pytest.raises(ValueError, match="month start"):
        before_after(
            series, Window(pd.Timestamp("2024-07-15"), "month"), "higher_is_better", "relative"
        )
    with pytest.raises(ValueError, match="period starts"):
        before_after(
            series, Window(pd.Timestamp("2024-07-01"), "week"), "higher_is_better", "relative"
        )
