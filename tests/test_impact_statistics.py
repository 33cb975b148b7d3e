"""Impact statistics on synthetic series with known effects, and against independent code."""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from pipelines.impact import counterfactual, sentences
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

    assert (fitted.n_before, fitted.n_after) == (24, 7)
    assert fitted.change == pytest.approx(12, abs=2)
    assert fitted.ci_low < 12 < fitted.ci_high
    assert fitted.verdict == "improved"
    # The key table adds up: observed after = without the transformation x (1 + change).
    assert fitted.mean_after == pytest.approx(
        fitted.counterfactual_after * (1 + fitted.change / 100)
    )
    assert fitted.abs_change == pytest.approx(fitted.mean_after - fitted.counterfactual_after)
    assert naive.change is not None and abs(naive.change - 12) > 2
    assert naive.counterfactual_after == pytest.approx(naive.mean_before)
    # The drawn counterfactual averages, over the after side, to the table's level.
    path = fitted.counterfactual
    assert path is not None and len(path.periods) == 7
    assert path.expected.mean() == pytest.approx(fitted.counterfactual_after)
    assert np.all(path.low < path.expected) and np.all(path.expected < path.high)


def test_seasonal_is_unbiased_over_many_draws() -> None:
    """One seed could be lucky: the mean over 30 draws is within a point of the truth, and
    the naive comparison is biased on every draw."""
    window = Window(GO_LIVE, "month")
    draws = [seasonal_months(seed) for seed in range(30)]
    fitted = [seasonal(s, window, "higher_is_better", "relative") for s in draws]
    naive = [before_after(s, window, "higher_is_better", "relative").change for s in draws]
    assert np.mean([f.change for f in fitted]) == pytest.approx(12, abs=1)
    assert np.mean([f.ci_low < 12 < f.ci_high for f in fitted]) >= 0.9
    assert all(abs(change - 12) > 2 for change in naive)


def test_difference_in_differences_removes_the_shared_trend() -> None:
    treated, controls, window = trending_weeks()

    did = difference_in_differences(treated, controls, window, "higher_is_better", "relative")
    naive = before_after(treated, window, "higher_is_better", "relative")

    assert (did.n_before, did.n_after) == (104, 53)
    assert did.change == pytest.approx(15, abs=1.5)
    assert did.ci_low < 15 < did.ci_high
    assert did.verdict == "improved"
    assert naive.change is not None and naive.change - 15 > 2
    # The counterfactual path is the controls' path times the forecast gap, week by week.
    path = did.counterfactual
    assert path is not None and len(path.periods) == 53
    assert np.all(path.low < path.expected) and np.all(path.expected < path.high)
    ratio = path.expected / controls.to_numpy()[-53:]
    assert ratio == pytest.approx(np.full(53, 0.4), rel=0.05)  # 100 / 250 before go-live


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


def test_white_noise_forecast_is_the_mean_with_the_textbook_interval(monkeypatch) -> None:
    """With the grid cut to independent noise and no season or trend, the forecast of the
    after mean is the before mean, with variance s^2 (1/n_after + 1/n_before)."""
    monkeypatch.setattr(counterfactual, "PERSISTENCE", np.array([0.0]))
    rng = np.random.default_rng(3)
    values = rng.normal(50, 4, 30)
    periods = np.arange(45, dtype=float)
    weights = np.full(15, 1 / 15)
    result = counterfactual.forecast(
        periods, periods.astype(int) % 12, values, 30, weights, 12, seasons=False, trend=False,
        before_weights=np.full(30, 1 / 30),
    )  # fmt: skip
    assert result.mean == pytest.approx(values.mean())
    # The naive comparison's variance is the same here: the forecast is the before mean.
    assert result.contrast_variance == pytest.approx(values.var(ddof=1) * (1 / 15 + 1 / 30))
    assert result.variance == pytest.approx(values.var(ddof=1) * (1 / 15 + 1 / 30))
    assert result.df == 29
    assert result.path == pytest.approx(np.full(15, values.mean()))


def test_ar1_forecast_agrees_with_generalised_least_squares(monkeypatch) -> None:
    """With the persistence fixed at 0.6, the level is statsmodels' GLS estimate under the
    AR(1) correlation, and the forecast of each later period follows the textbook
    mean + phi^h (last residual)."""
    phi = 0.6
    monkeypatch.setattr(counterfactual, "PERSISTENCE", np.array([phi]))
    rng = np.random.default_rng(5)
    noise = np.zeros(36)
    for i in range(1, 36):
        noise[i] = phi * noise[i - 1] + rng.normal(0, 1)
    values = 20 + noise
    periods = np.arange(48, dtype=float)
    weights = np.full(12, 1 / 12)
    result = counterfactual.forecast(
        periods, periods.astype(int) % 12, values, 36, weights, 12, seasons=False, trend=False,
        before_weights=np.full(36, 1 / 36),
    )  # fmt: skip
    lags = np.abs(np.subtract.outer(np.arange(36), np.arange(36)))
    gls = sm.GLS(values, np.ones((36, 1)), sigma=phi**lags).fit()
    level = gls.params[0]
    expected = level + phi ** np.arange(1, 13) * (values[-1] - level)
    assert result.path == pytest.approx(expected)
    assert result.mean == pytest.approx(expected.mean())
    # The naive after-less-before comparison under the same AR(1): c' R c times the GLS
    # scale (residual sum of squares in the whitened model over n - 1).
    whole = np.abs(np.subtract.outer(np.arange(48), np.arange(48)))
    contrast = np.r_[np.full(36, -1 / 36), weights]
    assert result.contrast_variance == pytest.approx(gls.scale * contrast @ phi**whole @ contrast)


def test_a_trend_carried_further_ahead_is_less_certain() -> None:
    """Prices drifting up about 5 % a year: forecasting two years ahead gives a wider
    interval than six months ahead."""
    rng = np.random.default_rng(9)
    values = np.log(100) + 0.05 * np.arange(30) / 12 + rng.normal(0, 0.02, 30)
    periods = np.arange(54, dtype=float)
    months_of_year = periods.astype(int) % 12
    near = counterfactual.forecast(
        periods[:36], months_of_year[:36], values, 30, np.full(6, 1 / 6), 12
    )
    far = counterfactual.forecast(
        periods, months_of_year, values, 30, np.r_[np.zeros(18), np.full(6, 1 / 6)], 12
    )
    assert far.variance > 3 * near.variance
    assert far.trend_weight > 0.5


def test_persistent_noise_keeps_false_alarms_near_five_percent() -> None:
    """The issue's simulation: 24 months before, 12 after, AR(1) noise at phi = 0.5, no
    effect. The old intervals called 16 % (naive) and 27 % (seasonal) of such series
    significant; these stay near the nominal 5 %."""
    window = Window(GO_LIVE, "month")
    index = periods_between(pd.Timestamp("2022-06-01"), pd.Timestamp("2025-05-01"), "month")
    alarms = {"before_after": 0, "seasonal": 0}
    draws = 150
    for seed in range(draws):
        rng = np.random.default_rng(1000 + seed)
        noise = np.zeros(len(index))
        noise[0] = rng.normal(0, 0.03 / math.sqrt(1 - 0.25))
        for i in range(1, len(index)):
            noise[i] = 0.5 * noise[i - 1] + rng.normal(0, 0.03)
        series = pd.Series(100 * np.exp(noise), index=index)
        for method in (before_after, seasonal):
            estimate = method(series, window, "higher_is_better", "relative")
            alarms[estimate.method] += estimate.verdict in ("improved", "worsened")
    assert alarms["before_after"] / draws <= 0.08
    assert alarms["seasonal"] / draws <= 0.08


def test_a_fake_go_live_that_shows_the_same_change_downgrades_the_result() -> None:
    """Prices that accelerate (log-quadratic) and no effect at all: the forecast, carrying
    the slope of the years before, reads the acceleration as a +10 % effect. A fake go-live
    a year earlier reads a change as large: not enough evidence, with the fake's change."""
    index = periods_between(pd.Timestamp("2021-06-01"), pd.Timestamp("2025-05-01"), "month")
    rng = np.random.default_rng(0)
    step = np.arange(len(index))
    series = pd.Series(100 * np.exp(0.0004 * step**2 + rng.normal(0, 0.01, len(index))), index)
    window = Window(GO_LIVE, "month", baseline_periods=36)
    estimate = seasonal(series, window, "higher_is_better", "relative")
    assert estimate.verdict == "insufficient_data"
    assert estimate.insufficiency is not None and estimate.insufficiency.code == "placebo"
    assert estimate.insufficiency.count == 12
    assert estimate.change is not None and estimate.change > 5  # kept for the table
    assert estimate.insufficiency.value >= 0.5 * estimate.change
    text = sentences.sentence(estimate, "Price", "en", "ratio")
    assert text.startswith("Price: not enough evidence (a fake go-live 12 periods earlier")
    french = sentences.sentence(estimate, "Prix", "fr", "ratio")
    assert "fausse mise en place 12 périodes plus tôt montre déjà +" in french


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


def test_seasonal_needs_half_a_year_before_go_live() -> None:
    index = periods_between(pd.Timestamp("2024-01-08"), pd.Timestamp("2024-12-30"), "week")
    series = pd.Series(100 + np.arange(len(index), dtype=float), index=index)
    window = Window(pd.Timestamp("2024-05-27"), "week")  # 20 weeks before
    estimate = seasonal(series, window, "higher_is_better", "relative")
    assert_no_result(estimate, "no_seasonal_baseline", 20, 26)
    assert before_after(series, window, "higher_is_better", "relative").change is not None


def test_with_less_than_a_year_before_the_unseen_seasons_widen_the_interval() -> None:
    """Eight months before a June go-live: the months after it that the model never saw
    (June to September) make the interval wider than with the full two years."""
    series, window = seasonal_months(), Window(GO_LIVE, "month")
    full = seasonal(series, window, "higher_is_better", "relative")
    short = seasonal(series["2023-10-01":], window, "higher_is_better", "relative")
    assert short.n_before == 8 and short.verdict != "insufficient_data"
    assert short.ci_high - short.ci_low > 2 * (full.ci_high - full.ci_low)


def test_seasonal_on_weeks_uses_months_of_year() -> None:
    treated, _, window = trending_weeks()
    estimate = seasonal(treated, window, "higher_is_better", "relative")
    # The shared +4 %/year trend is linear in the log: the forecast carries it on.
    assert estimate.change == pytest.approx(15, abs=2)
    assert estimate.ci_low < 15 < estimate.ci_high


def test_negative_value_cannot_be_modelled_in_relative_terms() -> None:
    values = 100 + np.arange(24.0)
    values[3] = -5.0
    series = months("2023-06-01", values)
    window = Window(GO_LIVE, "month")
    assert_no_result(
        before_after(series, window, "higher_is_better", "relative"), "non_positive", 1, 0
    )
    absolute = before_after(series, window, "higher_is_better", "absolute")
    # A steady climb is persistent, not an effect: the naive interval allows for it.
    assert absolute.verdict == "no_significant_change"
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

    # Standard error of the mean difference: about 0.19 points.
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


def test_a_weekly_band_holds_single_weeks_not_only_four_week_blocks() -> None:
    """Weeks are modelled in blocks of four; the band drawn for each week adds the spread of
    a week about its block (measured on 60 draws: 97 % of weeks inside, 91 % without it)."""
    index = periods_between(pd.Timestamp("2022-01-03"), pd.Timestamp("2024-12-30"), "week")
    window = Window(pd.Timestamp("2024-01-01"), "week")
    inside = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        noise = np.zeros(len(index))
        for i in range(1, len(index)):
            noise[i] = 0.4 * noise[i - 1] + rng.normal(0, 0.03)
        series = pd.Series(100 * np.exp(0.04 * np.arange(len(index)) / 52 + noise), index)
        path = seasonal(series, window, "higher_is_better", "relative").counterfactual
        assert path is not None
        observed = series.to_numpy()[-len(path.periods) :]
        inside.append(np.mean((path.low <= observed) & (observed <= path.high)))
    assert 0.93 <= np.mean(inside) <= 0.995
