"""The report's charts: what each figure shows, French and English formatting, and the images
themselves against reference PNGs in tests/baseline_images (one per chart kind)."""

import re
from collections.abc import Callable
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
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
    """A productivity ratio near 0.6 that drifts up slowly, dips every August, steps up at
    go-live, with noise and two periods missing."""
    rng = np.random.default_rng(seed)
    if grain == "month":
        index = pd.date_range("2023-01-01", "2025-06-01", freq="MS")
    else:
        index = pd.date_range("2023-07-03", "2025-06-30", freq="W-MON")
    step = np.where(index >= GO_LIVE, 0.07, 0.0)
    drift = 0.0008 * (index - index[0]).days / 30.4
    season = np.where(index.month == 8, -0.05, 0.0)
    values = pd.Series(0.6 + drift + season + step + rng.normal(0, 0.012, len(index)), index=index)
    values.iloc[[5, len(index) - 4]] = np.nan
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
    # The model's level without the transformation: +12.0 % [+9.1, +14.8] adds up to it.
    expected = after / 1.12
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
        change_text=CHANGE_FR if language == "fr" else "+12.0% (95% CI: +9.1% to +14.8%)",
        target=target,
        counterfactual=expected,
        counterfactual_band=(after / 1.148, after / 1.091),
        level_labels={
            "before_mean": formatting.number(before, language, 2),
            "after_mean": formatting.number(after, language, 2),
            "counterfactual": formatting.number(expected, language, 2),
        },
    )


def site_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site": ["Lyon", "Marseille", "Saint-Étienne-du-Rouvray (entrepôt nord)", "Nantes"],
            "before": [0.55, 0.61, 0.58, 0.62],
            "after": [0.63, 0.60, 0.66, 0.64],
            "counterfactual": [0.55, 0.61, 0.58, 0.62],
            "change": [14.5, -1.6, 13.8, 3.2],
            "basis": ["relative"] * 4,
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
        "unit": ["units_per_hour", "pct", "eur_per_unit", "hours_per_fte", "fte", "pct"],
    }
)


def summary(language: str = "fr") -> Figure:
    return charts.executive_summary(SUMMARY, title="Synthèse des résultats", language=language)


SITES = (
    # site, go-live, level before, step at go-live, target
    ("Lyon", "2023-09-01", 0.58, 0.07, 0.68),
    ("Marseille", "2023-11-01", 0.62, -0.01, None),
    ("Saint-Étienne-du-Rouvray (entrepôt nord)", "2024-02-01", 0.55, 0.08, None),
    ("Nantes", "2024-06-01", 0.64, 0.02, None),
)
SITE_CHANGES = {
    "fr": (
        "+12,4 % (IC 95 % : +9,9 % à +14,9 %)",
        "-1,6 % (IC 95 % : -3,8 % à +0,6 %)",
        "+14,5 % (IC 95 % : +11,2 % à +17,9 %)",
        "+3,1 % (IC 95 % : +0,4 % à +5,8 %)",
    ),
    "en": (
        "+12.4% (95% CI: +9.9% to +14.9%)",
        "-1.6% (95% CI: -3.8% to +0.6%)",
        "+14.5% (95% CI: +11.2% to +17.9%)",
        "+3.1% (95% CI: +0.4% to +5.8%)",
    ),
}
RAMP_UP_MONTHS = 3


def site_panels(
    language: str = "fr", grain: str = "month", count: int = 4
) -> list[dict[str, object]]:
    """Four sites on the same 46 months (or 200 weeks), go-lives staggered over nine months,
    one period missing each, a target for the first site only."""
    rng = np.random.default_rng(7)
    if grain == "month":
        index = pd.date_range("2022-01-01", periods=46, freq="MS")
    else:
        index = pd.date_range("2022-01-03", periods=200, freq="W-MON")
    panels = []
    for number, (site, go_live, level, step, target) in enumerate(SITES[:count]):
        go_live = pd.Timestamp(go_live)
        after_start = go_live + pd.DateOffset(months=RAMP_UP_MONTHS)
        values = pd.Series(
            level + np.where(index >= go_live, step, 0.0) + rng.normal(0, 0.012, len(index)),
            index=index,
        )
        values.iloc[7 + 5 * number] = np.nan
        values.iloc[-3 - number] = np.nan
        before = float(values[values.index < go_live].mean())
        after = float(values[values.index >= after_start].mean())
        expected = after - step
        panels.append(
            {
                "site": site,
                "values": values,
                "go_live": go_live,
                "after_start": after_start,
                "before_mean": before,
                "after_mean": after,
                "counterfactual": expected,
                "counterfactual_band": (expected - 0.012, expected + 0.012),
                "level_labels": {
                    "before_mean": formatting.number(before, language, 2),
                    "after_mean": formatting.number(after, language, 2),
                    "counterfactual": formatting.number(expected, language, 2),
                },
                "change_text": SITE_CHANGES[language][number],
                "target": target,
            }
        )
    return panels


def site_grid(language: str = "fr", grain: str = "month", count: int = 4) -> Figure:
    return charts.site_timelines(
        site_panels(language, grain, count),
        title="Productivité (unités par heure) par site"
        if language == "fr"
        else "Productivity (units per hour) by site",
        unit="units_per_hour",
        language=language,
        grain=grain,
    )


CHARTS: dict[str, Callable[[], Figure]] = {
    "kpi_timeline": timeline,
    "site_comparison": sites,
    "treated_vs_controls": controls,
    "executive_summary": summary,
    "site_timelines": site_grid,
}
"""One chart per kind as its reference image shows it (French timeline, English sites and
controls, French summary, French site timelines; the weekly grain is checked on the figures,
not on images)."""


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def by_gid(fig: Figure, gid: str) -> list:
    return [artist for artist in fig.findobj() if artist.get_gid() == gid]


def one_line(text: str) -> str:
    """A text as written before a chart broke it onto lines."""
    return text.replace("\n", " ")


def vertical_lines_at(ax: Axes, stamp: pd.Timestamp) -> list:
    x = mdates.date2num(stamp)
    return [
        line
        for line in ax.lines
        if len(line.get_xdata()) == 2 and np.allclose(np.asarray(line.get_xdata(), float), x)
    ]


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
    (expected,) = by_gid(fig, "counterfactual")
    (band,) = by_gid(fig, "counterfactual_band")
    assert max(before.get_xdata()) < mdates.date2num(GO_LIVE)
    assert min(after.get_xdata()) == pytest.approx(mdates.date2num(AFTER_START))
    assert list(expected.get_xdata()) == list(after.get_xdata())
    corners = band.get_paths()[0].vertices
    assert corners[:, 0].min() == pytest.approx(mdates.date2num(AFTER_START))


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


# --- the sites' timelines ---


def test_site_timelines_has_a_panel_per_site_titled_by_the_site() -> None:
    fig = site_grid()
    assert len(fig.axes) == 4
    assert [one_line(ax.get_title(loc="left")) for ax in fig.axes] == [site[0] for site in SITES]
    assert fig.get_figwidth() * fig.dpi == 800
    assert fig.get_suptitle() == "Productivité (unités par heure) par site"
    # two columns: the panels of a row side by side, the next row below
    (x0, y0), (x1, y1), (x2, y2) = (ax.get_position().p0 for ax in fig.axes[:3])
    assert y0 == pytest.approx(y1) and x1 > x0
    assert x2 == pytest.approx(x0) and y2 < y0


@pytest.mark.parametrize("grain", ["month", "week"])
def test_site_timelines_each_panel_has_its_own_go_live(grain: str) -> None:
    fig = site_grid(grain=grain)
    for ax, (_, go_live, *_) in zip(fig.axes, SITES, strict=True):
        assert len(vertical_lines_at(ax, pd.Timestamp(go_live))) == 1
        others = {g for _, g, *_ in SITES} - {go_live}
        assert not any(vertical_lines_at(ax, pd.Timestamp(other)) for other in others)
    # no label over each line: the one legend names it
    assert texts(fig).count("Mise en place") == 1


@pytest.mark.parametrize("language", ["fr", "en"])
def test_site_timelines_writes_each_change(language: str) -> None:
    fig = site_grid(language)
    written = [one_line(text) for text in texts(fig)]
    assert set(SITE_CHANGES[language]) <= set(written)
    notes = by_gid(fig, "change_text")
    assert [note.axes for note in notes] == fig.axes  # one box per panel, in its panel


def test_site_timelines_break_a_change_too_wide_for_its_panel_after_the_change() -> None:
    notes = [note.get_text() for note in by_gid(site_grid("fr"), "change_text")]
    assert notes[0] == "+12,4 %\n(IC 95 % : +9,9 % à +14,9 %)"
    assert all(note.count("\n") == 1 for note in notes)  # all alike
    # a single panel, twice as wide, keeps the change on one line
    (note,) = by_gid(site_grid("fr", count=1), "change_text")
    assert note.get_text() == SITE_CHANGES["fr"][0]


def test_site_timelines_target_line_only_in_panels_with_a_target() -> None:
    fig = site_grid()
    for ax, (_, _, _, _, target) in zip(fig.axes, SITES, strict=True):
        lines = [line for line in ax.lines if line.get_gid() == "target"]
        if target is None:
            assert lines == []
        else:
            (line,) = lines
            assert np.allclose(np.asarray(line.get_ydata(), float), target)
    assert texts(fig).count("Objectif") == 1  # in the legend, once
    panels = site_panels()
    for panel in panels:
        panel["target"] = None
    without = charts.site_timelines(
        panels, title="t", unit="units_per_hour", language="fr", grain="month"
    )
    assert by_gid(without, "target") == []
    assert "Objectif" not in texts(without)


def test_site_timelines_share_the_y_scale_and_one_legend() -> None:
    fig = site_grid()
    limits = {ax.get_ylim() for ax in fig.axes}
    assert len(limits) == 1
    low, high = limits.pop()
    values = pd.concat([panel["values"] for panel in site_panels()])
    assert low < values.min() and values.max() < high
    assert len(fig.legends) == 1
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [
        "Moyenne avant (observée)",
        "Mise en place",
        "Montée en charge",
        "Moyenne après (observée)",
        "Sans la transformation (modèle, 95\u00a0%)",
        "Objectif",
    ]
    # y tick labels on the left column only, the unit once
    left, right = fig.axes[0], fig.axes[1]
    assert any(t.get_visible() and t.get_text() for t in left.get_yticklabels())
    assert not any(t.get_visible() and t.get_text() for t in right.get_yticklabels())
    assert texts(fig).count("unités / heure") == 1


def test_site_timelines_boxes_clear_the_values() -> None:
    fig = site_grid()
    fig.canvas.draw()
    for ax, panel in zip(fig.axes, site_panels(), strict=True):
        (note,) = [text for text in ax.texts if text.get_gid() == "change_text"]
        box = note.get_bbox_patch().get_window_extent()
        highest = max(
            panel["values"].max(), panel["counterfactual_band"][1], panel["target"] or 0.0
        )
        top = ax.transData.transform((0, highest))[1]
        assert box.y0 > top
        assert box.x1 < ax.get_window_extent().x1


def test_french_site_timelines_use_french_formatting() -> None:
    fig = site_grid("fr")
    ax = fig.axes[0]
    y_labels = [t.get_text() for t in ax.get_yticklabels()]
    assert any(re.fullmatch(r"0,\d+", label) for label in y_labels), y_labels
    assert not any("." in label for label in y_labels)


def test_site_timelines_label_the_periods_under_each_column() -> None:
    fig = site_grid("fr")
    labels = [[t.get_text() for t in ax.get_xticklabels() if t.get_text()] for ax in fig.axes]
    assert labels[0] == labels[1] == []  # the top row: the labels of its column are below
    assert labels[2] == labels[3] == ["2022", "2023", "2024", "2025"]  # years on January
    x = [mdates.date2num(pd.Timestamp(f"{year}-01-01")) for year in range(2022, 2026)]
    assert np.allclose(fig.axes[3].get_xticks(), x)
    # the panels share the periods
    assert len({ax.get_xlim() for ax in fig.axes}) == 1


def test_short_site_timelines_name_months_on_at_most_three_ticks() -> None:
    panels = site_panels("fr")
    for panel in panels:
        panel["values"] = panel["values"]["2023-06-01":"2024-09-01"]
    fig = charts.site_timelines(
        panels, title="t", unit="units_per_hour", language="fr", grain="month"
    )
    x_labels = [t.get_text() for t in fig.axes[-1].get_xticklabels()]
    assert 2 <= len(x_labels) <= 3
    assert all(re.fullmatch(r"\w+\.? 20\d\d", label) for label in x_labels), x_labels


def test_a_single_site_gives_a_one_column_figure() -> None:
    fig = site_grid("en", count=1)
    (ax,) = fig.axes
    assert ax.get_title(loc="left") == "Lyon"
    position = ax.get_position()
    assert position.width > 0.8
    assert fig.get_figwidth() * fig.dpi == 800
    assert SITE_CHANGES["en"][0] in [one_line(text) for text in texts(fig)]


def test_three_sites_leave_the_last_cell_empty() -> None:
    fig = site_grid("en", count=3)
    assert len(fig.axes) == 3
    assert fig.get_figheight() == pytest.approx(
        2 * charts.PANEL_ROW_HEIGHT_IN + charts.PANEL_FRAME_HEIGHT_IN
    )
    # the top-right panel has no panel below it: it labels its periods itself
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["2022", "2023", "2024", "2025"]


def test_site_timelines_refuse_no_panel() -> None:
    with pytest.raises(ValueError, match="site"):
        charts.site_timelines([], title="t", unit="units", language="fr", grain="month")


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
        site_grid(language, grain),
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


@pytest.mark.parametrize("chart", [timeline, site_grid])
def test_rendering_is_byte_for_byte_reproducible(
    chart: Callable[[], Figure], tmp_path: Path
) -> None:
    first = style.save_png(chart(), tmp_path / "first.png").read_bytes()
    second = style.save_png(chart(), tmp_path / "second.png").read_bytes()
    assert first == second
    assert b"Software" not in first
