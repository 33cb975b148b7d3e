"""The report's charts: what each figure shows, French and English formatting, and the images
themselves against reference PNGs in tests/baseline_images (one per chart kind)."""

import re
from collections.abc import Callable
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import same_color
from matplotlib.figure import Figure
from matplotlib.testing.compare import compare_images
from matplotlib.text import Text

from pipelines import formatting
from pipelines.report import charts, style

BASELINES = Path(__file__).parent / "baseline_images"
TOLERANCE = 3.0
"""RMS difference allowed (0-255 scale): anti-aliasing noise passes, a moved label does not."""

GO_LIVE = pd.Timestamp("2024-07-01")
AFTER_START = pd.Timestamp("2024-10-01")
CHANGE_FR = "+12,0 % (IC 95 % : +9,1 % à +14,8 %)"


def ratio_series(grain: str = "month", seed: int = 1) -> pd.Series:
    """A productivity ratio near 0.6 that steps up at go-live, one period missing."""
    rng = np.random.default_rng(seed)
    if grain == "month":
        index = pd.date_range("2023-01-01", "2025-06-01", freq="MS")
    else:
        index = pd.date_range("2023-07-03", "2025-06-30", freq="W-MON")
    step = np.where(index >= GO_LIVE, 0.07, 0.0)
    values = pd.Series(0.6 + step + rng.normal(0, 0.012, len(index)), index=index)
    values.iloc[5] = np.nan
    return values


def timeline(
    language: str = "fr",
    grain: str = "month",
    *,
    after_start: pd.Timestamp = AFTER_START,
    target: float | None = 0.7,
) -> Figure:
    values = ratio_series(grain)
    before = float(values[values.index < GO_LIVE].mean())
    after = float(values[values.index >= after_start].mean())
    return charts.kpi_timeline(
        values,
        title="Productivité (unités par heure) — total client",
        unit="units_per_hour",
        language=language,
        grain=grain,
        go_live=GO_LIVE,
        after_start=after_start,
        before_mean=before,
        after_mean=after,
        band=(after - 0.015, after + 0.015),
        change_text=CHANGE_FR if language == "fr" else "+12.0% (95% CI: +9.1% to +14.8%)",
        target=target,
    )


def site_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site": ["Lyon", "Marseille", "Saint-Étienne-du-Rouvray (entrepôt nord)", "Nantes"],
            "before": [0.55, 0.61, 0.58, 0.62],
            "after": [0.63, 0.60, 0.66, 0.64],
            "change_pct": [14.5, -1.6, 13.8, 3.2],
            "verdict": ["improved", "worsened", "improved", "no_significant_change"],
        }
    )


def sites(language: str = "en", direction: str = "higher_is_better") -> Figure:
    return charts.site_comparison(
        site_rows(),
        title="Productivity by site",
        unit="units_per_hour",
        language=language,
        direction=direction,
    )


def controls(language: str = "en", grain: str = "month") -> Figure:
    treated = ratio_series(grain, seed=2) * 1000
    rng = np.random.default_rng(3)
    untreated = pd.Series(800 + rng.normal(0, 12, len(treated)), index=treated.index)
    return charts.treated_vs_controls(
        treated,
        untreated,
        title="Parcels per hour: transformed and control sites",
        language=language,
        grain=grain,
        go_live=GO_LIVE,
    )


SUMMARY = pd.DataFrame(
    {
        "label": [
            "Productivité (unités par heure)",
            "Taux de service",
            "Coût unitaire",
            "Heures supplémentaires par ETP",
            "Effectif (ETP)",
            "Absentéisme",
        ],
        "change": [12.0, 3.0, -4.2, 6.5, 0.8, np.nan],
        "ci_low": [9.1, 1.2, -7.9, 2.0, -1.5, np.nan],
        "ci_high": [14.8, 4.8, -0.6, 11.0, 3.1, np.nan],
        "verdict": [
            "improved",
            "improved",
            "improved",
            "worsened",
            "no_significant_change",
            "insufficient_data",
        ],
        "basis": ["relative", "absolute", "relative", "relative", "relative", "relative"],
    }
)


def summary(language: str = "fr") -> Figure:
    return charts.executive_summary(SUMMARY, title="Synthèse des résultats", language=language)


CHARTS: dict[str, Callable[[], Figure]] = {
    "kpi_timeline": timeline,
    "site_comparison": sites,
    "treated_vs_controls": controls,
    "executive_summary": summary,
}
"""One chart per kind as its reference image shows it (French timeline, English sites and
controls, French summary; the weekly grain is checked on the figures, not on images)."""


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def by_gid(fig: Figure, gid: str) -> list:
    return [artist for artist in fig.findobj() if artist.get_gid() == gid]


def rows_top_down(fig: Figure) -> list[str]:
    """The y tick labels from the top row down."""
    ax = fig.axes[0]
    labels = zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True)
    return [text for _, text in sorted(labels, reverse=True)]


# --- the timeline ---


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("grain", ["month", "week"])
def test_timeline_has_the_go_live_line(language: str, grain: str) -> None:
    fig = timeline(language, grain)
    x = mdates.date2num(GO_LIVE)
    vertical = [
        line
        for line in fig.axes[0].lines
        if len(line.get_xdata()) == 2 and np.allclose(np.asarray(line.get_xdata(), float), x)
    ]
    assert len(vertical) == 1
    assert ("Mise en place" if language == "fr" else "Go-live") in texts(fig)


def test_timeline_writes_the_change() -> None:
    assert CHANGE_FR in texts(timeline("fr"))


def test_timeline_target_line_only_with_a_target() -> None:
    with_target = timeline(target=0.7)
    (line,) = by_gid(with_target, "target")
    assert np.allclose(np.asarray(line.get_ydata(), float), 0.7)
    assert "Objectif" in texts(with_target)
    without = timeline(target=None)
    assert by_gid(without, "target") == []
    assert "Objectif" not in texts(without)


def test_timeline_shades_the_ramp_up_only_when_there_is_one() -> None:
    assert len(by_gid(timeline(after_start=AFTER_START), "ramp_up")) == 1
    assert by_gid(timeline(after_start=GO_LIVE), "ramp_up") == []


def test_timeline_levels_and_band_span_their_sides() -> None:
    fig = timeline()
    (before,) = by_gid(fig, "before_mean")
    (after,) = by_gid(fig, "after_mean")
    (band,) = by_gid(fig, "band")
    assert max(before.get_xdata()) < mdates.date2num(GO_LIVE)
    assert min(after.get_xdata()) == pytest.approx(mdates.date2num(AFTER_START))
    assert band.get_x() == pytest.approx(mdates.date2num(AFTER_START))


def test_french_timeline_uses_french_formatting() -> None:
    ax = timeline("fr").axes[0]
    y_labels = [t.get_text() for t in ax.get_yticklabels()]
    assert any(re.fullmatch(r"0,\d+", label) for label in y_labels), y_labels
    assert not any("." in label for label in y_labels)
    x_labels = [t.get_text() for t in ax.get_xticklabels()]
    assert any(label.startswith("janv.") for label in x_labels), x_labels
    assert ax.get_ylabel() == "unités / heure"


def test_english_weekly_timeline_labels_iso_weeks() -> None:
    ax = timeline("en", "week").axes[0]
    x_labels = [t.get_text() for t in ax.get_xticklabels()]
    assert x_labels and all(re.fullmatch(r"W\d{1,2} \d{4}", label) for label in x_labels)
    assert any(re.fullmatch(r"0\.\d+", t.get_text()) for t in ax.get_yticklabels())


@pytest.mark.parametrize(
    ("grain", "first", "last"),
    [
        ("month", "2023-01-01", "2025-06-01"),
        ("month", "2024-03-01", "2024-07-01"),
        ("week", "2023-07-03", "2025-06-30"),
        ("week", "2024-12-16", "2025-02-03"),
    ],
)
def test_few_period_ticks(grain: str, first: str, last: str) -> None:
    ticks = charts.tick_periods(pd.Timestamp(first), pd.Timestamp(last), grain)
    assert 2 <= len(ticks) <= charts.MAX_X_TICKS
    assert all(pd.Timestamp(first) <= t <= pd.Timestamp(last) for t in ticks)


# --- sites, controls, summary ---


def test_dumbbell_puts_the_largest_increase_on_top_when_higher_is_better() -> None:
    order = rows_top_down(sites(direction="higher_is_better"))
    assert order[0] == "Lyon"
    assert order[-1] == "Marseille"


def test_dumbbell_puts_the_largest_decrease_on_top_when_lower_is_better() -> None:
    order = rows_top_down(sites(direction="lower_is_better"))
    assert order[0] == "Marseille"
    assert order[-1] == "Lyon"


def test_dumbbell_colours_the_after_dot_by_verdict_and_writes_the_change() -> None:
    fig = sites(language="fr")
    colours = {
        round(y): dots.get_color()
        for verdict in ("improved", "worsened", "no_significant_change")
        for dots in by_gid(fig, f"after:{verdict}")
        for y in dots.get_ydata()
    }
    assert same_color(colours[3], style.IMPROVED)  # Lyon, on top
    assert same_color(colours[1], style.NEUTRAL)  # Nantes
    assert same_color(colours[0], style.WORSENED)  # Marseille, at the bottom
    assert "+14,5\u00a0%" in texts(fig)


def test_treated_vs_controls_indexes_to_100_before_go_live() -> None:
    fig = controls()
    (line,) = by_gid(fig, "treated")
    dates = mdates.num2date(np.asarray(line.get_xdata(), float))
    stamps = pd.DatetimeIndex([d.replace(tzinfo=None) for d in dates])
    values = pd.Series(np.asarray(line.get_ydata(), float), index=stamps)
    base = values[(values.index >= GO_LIVE - pd.DateOffset(months=12)) & (values.index < GO_LIVE)]
    assert len(base) == 12
    assert base.mean() == pytest.approx(100.0, abs=1e-9)
    assert {"Transformed sites", "Control sites"} <= set(texts(fig))


def test_treated_vs_controls_refuses_a_series_without_a_base() -> None:
    treated = ratio_series()
    empty_before = treated.where(treated.index >= GO_LIVE)
    with pytest.raises(ValueError, match="index"):
        charts.treated_vs_controls(
            empty_before, treated, title="t", language="fr", grain="month", go_live=GO_LIVE
        )


def test_summary_writes_insufficient_data_and_colours_by_verdict() -> None:
    fig = summary("fr")
    assert "données insuffisantes" in texts(fig)
    assert by_gid(fig, "change:insufficient_data") == []
    rows = {label: position for position, label in enumerate(reversed(rows_top_down(fig)))}
    for verdict, group in SUMMARY.groupby("verdict"):
        if verdict == "insufficient_data":
            continue
        (dots,) = by_gid(fig, f"change:{verdict}")
        assert same_color(dots.get_color(), style.VERDICT_COLOURS[verdict])
        assert sorted(dots.get_ydata()) == sorted(rows[label] for label in group["label"])
        assert list(dots.get_xdata()) == list(group["change"])
    assert {"+12,0\u00a0%", "+3,0\u00a0pts", "-4,2\u00a0%"} <= set(texts(fig))
    assert {"Amélioration significative", "Dégradation significative"} <= set(texts(fig))


def test_summary_height_grows_with_the_rows() -> None:
    one = charts.executive_summary(SUMMARY.head(1), title="t", language="en")
    many = charts.executive_summary(
        pd.concat([SUMMARY] * 3, ignore_index=True), title="t", language="en"
    )
    assert one.get_figheight() == pytest.approx(3.0)
    assert many.get_figheight() == pytest.approx(0.5 * 18 + charts.FRAME_HEIGHT_IN)
    assert "insufficient data" in texts(one) + texts(many)


@pytest.mark.parametrize("name", CHARTS)
def test_no_text_under_11_points(name: str) -> None:
    fig = CHARTS[name]()
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
    assert sizes and min(sizes) >= 11
    assert fig.get_figwidth() * fig.dpi == 800


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("grain", ["month", "week"])
def test_every_chart_in_both_languages_and_grains(
    language: str, grain: str, tmp_path: Path
) -> None:
    figures = [
        timeline(language, grain),
        controls(language, grain),
        sites(language),
        summary(language),
    ]
    for number, fig in enumerate(figures):
        path = style.save_png(fig, tmp_path / f"{number}.png")
        assert path.stat().st_size > 10_000


# --- formatting ---


def test_percent() -> None:
    assert formatting.percent(12.0, "fr", signed=True) == "+12,0\u00a0%"
    assert formatting.percent(12.0, "en", signed=True) == "+12.0%"
    assert formatting.percent(-3.25, "fr", decimals=2) == "-3,25\u00a0%"
    assert formatting.percent(-0.01, "fr", signed=True) == "0,0\u00a0%"


def test_numbers_and_money() -> None:
    assert formatting.number(1234.5, "fr") == "1\u202f234"
    assert formatting.number(1234.5, "en", decimals=1) == "1,234.5"
    assert formatting.signed_number(1234.5, "fr") == "+1\u202f234,5"
    assert formatting.signed_number(3, "en", "pts") == "+3.0\u00a0pts"
    assert formatting.money(1234, "fr") == "1\u202f234\u00a0€"
    assert formatting.money(1234, "en") == "€1,234"


def test_periods() -> None:
    assert formatting.month(pd.Timestamp("2025-01-01"), "fr") == "janv. 2025"
    assert formatting.month(pd.Timestamp("2025-01-01"), "en") == "Jan 2025"
    assert formatting.week(pd.Timestamp("2025-03-03"), "fr") == "S10 2025"
    assert formatting.week(pd.Timestamp("2025-12-29"), "en") == "W1 2026"
    assert formatting.period(pd.Timestamp("2025-03-03"), "week", "en") == "W10 2025"


def test_unit_labels() -> None:
    assert formatting.unit_label("eur_per_fte", "fr") == "€ / ETP"
    assert formatting.unit_label("parcels_per_hour", "en") == "parcels / hour"
    assert formatting.unit_label("ratio", "fr") == "ratio"


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="language"):
        formatting.number(1, "de")


# --- the images ---


@pytest.mark.parametrize("name", CHARTS)
def test_image_matches_its_baseline(name: str, tmp_path: Path) -> None:
    expected = BASELINES / f"{name}.png"
    actual = style.save_png(CHARTS[name](), tmp_path / f"{name}.png")
    assert expected.is_file(), f"no baseline {expected}"
    result = compare_images(str(expected), str(actual), tol=TOLERANCE)
    assert result is None, result


def test_rendering_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    first = style.save_png(timeline(), tmp_path / "first.png").read_bytes()
    second = style.save_png(timeline(), tmp_path / "second.png").read_bytes()
    assert first == second
    assert b"Software" not in first
