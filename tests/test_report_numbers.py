"""Every number a report chart draws is the key table's, read back from the figure's artists
(line data, band polygons, texts), not from the code that drew it.

The report is built from a hand-made impact table over realistic series: a staggered roll-out
of three sites with a two-month ramp-up, prices drifting faster each year, a summer dip and a
December peak, noise and missing months, one control site; French and English.
"""

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
import yaml
from client_folders import long_source
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from pipelines import formatting
from pipelines.catalogue import DERIVED_KPIS
from pipelines.config.model import ClientConfig
from pipelines.impact.series import CLIENT_TOTAL, CONTROLS_TOTAL
from pipelines.report import figures, style
from pipelines.report.content import (
    COUNTERFACTUAL_COLUMNS,
    REPORTS_DIR,
    KeyResult,
    ReportContent,
    read_counterfactual,
)
from pipelines.report.email_body import email_body
from pipelines.report.figures import (
    change_cell,
    counterfactual_after,
    counterfactual_band,
    displayed_change,
    key_table,
)
from pipelines.report.pdf import write_pdf
from pipelines.warehouse import open_warehouse

SITES = {"Lyon": "2024-03-01", "Saint-Étienne": "2024-05-01", "Villefranche": "2024-09-01"}
CONTROL = "Vienne"
RAMP_UP = 2
BASELINE = 24
PERIODS = pd.date_range("2021-09-01", "2026-06-01", freq="MS")
FIRST, LAST = pd.Timestamp(min(SITES.values())), pd.Timestamp(max(SITES.values()))
UNITS = {
    "fr": {"units_per_hour": "unités/h", "ebitda_margin_pct": "%", "staff_cost_ratio_pct": "%"},
    "en": {"units_per_hour": "units/h", "ebitda_margin_pct": "%", "staff_cost_ratio_pct": "%"},
}
SOURCE = long_source({"U": "units_produced", "H": "hours_worked"})


def client_config(language: str) -> ClientConfig:
    return ClientConfig.model_validate(
        {
            "name": "Menuiseries Test",
            "language": language,
            "cadence": "monthly",
            "sites": [
                *({"name": site, "go_live": day} for site, day in SITES.items()),
                {"name": CONTROL, "control": True},
            ],
            "sources": [SOURCE],
            "impact": {"baseline_months": BASELINE, "ramp_up_months": RAMP_UP},
        }
    )


def kpi_series(seed: int, level: float, step: float, go_live: pd.Timestamp | None) -> pd.Series:
    """A monthly KPI: prices drifting faster each year, an August dip and a December peak,
    noise, a step from go-live (relative), three months missing."""
    rng = np.random.default_rng(seed)
    years = (PERIODS - PERIODS[0]).days / 365.25
    drift = 1 + 0.01 * years + 0.006 * years**2
    season = np.select([PERIODS.month == 8, PERIODS.month == 12], [0.88, 1.06], 1.0)
    effect = 1.0 if go_live is None else np.where(go_live <= PERIODS, 1 + step, 1.0)
    noise = rng.normal(1.0, 0.02, len(PERIODS))
    values = pd.Series(level * drift * season * effect * noise, index=PERIODS)
    values.iloc[rng.choice(len(PERIODS), 3, replace=False)] = np.nan
    return values


def rate_series(seed: int, level: float, step: float, go_live: pd.Timestamp | None) -> pd.Series:
    """A rate in points: seasonal swings of a few points, a step in points from go-live."""
    rng = np.random.default_rng(seed)
    season = 2.5 * np.sin(2 * np.pi * PERIODS.month / 12)
    effect = 0.0 if go_live is None else np.where(go_live <= PERIODS, step, 0.0)
    values = pd.Series(level + season + effect + rng.normal(0, 1.2, len(PERIODS)), index=PERIODS)
    values.iloc[rng.choice(len(PERIODS), 2, replace=False)] = np.nan
    return values


# KPI -> (series maker, level, step, method, basis, change, ci_low, ci_high, verdict)
RESULTS = {
    "units_per_hour": (kpi_series, 0.56, 0.11, "seasonal", "relative", 11.7, 10.8, 12.6),
    "ebitda_margin_pct": (rate_series, 10.9, 3.0, "seasonal", "absolute", 3.04, 2.6, 3.4),
    # a rate the statistics compared on the relative basis: shown in points all the same
    "staff_cost_ratio_pct": (rate_series, 59.0, -1.5, "did", "relative", -2.6, -4.1, -1.0),
}


def verdict_of(kpi: str, low: float, high: float) -> str:
    if low <= 0 <= high:
        return "no_significant_change"
    better = (low > 0) == (DERIVED_KPIS[kpi].direction == "higher_is_better")
    return "improved" if better else "worsened"


def result(
    site: str, kpi: str, values: pd.Series, go_live: pd.Timestamp, before_end: pd.Timestamp
) -> dict[str, object]:
    """An impact row whose observed means are the series' over its windows."""
    _, _, _, method, basis, change, low, high = RESULTS[kpi]
    after_start = go_live + pd.DateOffset(months=RAMP_UP)
    start = before_end - pd.DateOffset(months=BASELINE)
    before = values[(values.index >= start) & (values.index < before_end)]
    after = values[values.index >= after_start]
    if site == "Saint-Étienne":  # the naive method for one site: no model, no band
        method = "before_after"
    mean_before, mean_after = float(before.mean()), float(after.mean())
    return {
        "site": site,
        "scope": "client_total" if site == CLIENT_TOTAL else "site",
        "kpi": kpi,
        "unit": DERIVED_KPIS[kpi].unit,
        "method": method,
        "preferred": True,
        "basis": basis,
        "go_live": go_live.date(),
        "after_start": after_start.date(),
        "n_before": int(before.count()),
        "n_after": int(after.count()),
        "mean_before": mean_before,
        "mean_after": mean_after,
        "abs_change": change if basis == "absolute" else mean_before * change / 100,
        "rel_change_pct": change if basis == "relative" else 100 * change / mean_before,
        "ci_low": low,
        "ci_high": high,
        "verdict": verdict_of(kpi, low, high),
        "target_change_pct": None,
        "target_progress_pct": None,
        "sentence_fr": f"{DERIVED_KPIS[kpi].label_fr}\u00a0: {change}",
        "sentence_en": f"{DERIVED_KPIS[kpi].label_en}: {change}",
    }


def build_content(language: str, counterfactual: pd.DataFrame | None = None) -> ReportContent:
    config = client_config(language)
    frames, key_results = [], []
    for number, (kpi, (maker, level, step, *_)) in enumerate(RESULTS.items()):
        sites = {}
        for index, (site, day) in enumerate(SITES.items()):
            go_live = pd.Timestamp(day)
            sites[site] = maker(10 * number + index, level * (1 + 0.05 * index), step, go_live)
        sites[CLIENT_TOTAL] = pd.concat(sites.values(), axis=1).mean(axis=1, skipna=False)
        sites[CONTROLS_TOTAL] = maker(10 * number + 9, level, step, None)
        for site, values in sites.items():
            present = values.dropna()
            frames.append(
                pd.DataFrame(
                    {"site": site, "period_start": present.index, "kpi": kpi, "value": present}
                )
            )
        rows = [
            result(site, kpi, sites[site], pd.Timestamp(day), pd.Timestamp(day))
            for site, day in SITES.items()
        ]
        total = result(CLIENT_TOTAL, kpi, sites[CLIENT_TOTAL], LAST, FIRST)
        key_results.append(KeyResult(DERIVED_KPIS[kpi], total, rows))
    return ReportContent(
        slug="menuiseries-test",
        config=config,
        latest_period=dt.date(2026, 6, 1),
        data_until=dt.date(2026, 7, 10),
        key_results=key_results,
        series=pd.concat(frames, ignore_index=True),
        files=pd.DataFrame(columns=["original_name", "status", "message", "delivered_at"]),
        coverage=pd.DataFrame(columns=["site", "period_start", "kpis"]),
        lateness=(None, 0, 45),
        counterfactual=(
            pd.DataFrame(columns=COUNTERFACTUAL_COLUMNS)
            if counterfactual is None
            else counterfactual
        ),
    )


def draw(content: ReportContent, name: str) -> Figure:
    (chart,) = [chart for chart in figures.chart_plan(content) if chart.name == name]
    with style.chart_style():
        return chart.draw()


def key(content: ReportContent, kpi: str) -> KeyResult:
    return next(result for result in content.key_results if result.kpi.name == kpi)


def by_gid(container: Figure | Axes, gid: str) -> list:
    return [artist for artist in container.findobj() if artist.get_gid() == gid]


def one(container: Figure | Axes, gid: str) -> Artist:
    (artist,) = by_gid(container, gid)
    return artist


def y_of(line: Artist) -> np.ndarray:
    return np.asarray(line.get_ydata(), dtype=float)


def x_extent(artist: Artist) -> tuple[float, float]:
    """The data x range of a shaded span (axvspan: a Rectangle or a Polygon)."""
    if hasattr(artist, "get_xy"):
        xy = np.asarray(artist.get_xy(), dtype=float)
        if xy.ndim == 2:
            return float(xy[:, 0].min()), float(xy[:, 0].max())
    return float(artist.get_x()), float(artist.get_x() + artist.get_width())


def band_by_x(band: Artist) -> dict[float, tuple[float, float]]:
    """A fill_between band as x -> (low, high), from its polygon's vertices."""
    vertices = band.get_paths()[0].vertices
    edges: dict[float, list[float]] = {}
    for x, y in vertices:
        edges.setdefault(round(float(x), 6), []).append(float(y))
    return {x: (min(ys), max(ys)) for x, ys in edges.items()}


def day(stamp: object) -> float:
    return float(mdates.date2num(pd.Timestamp(stamp)))


def number_of(text: str) -> float:
    """`+11,7 %`, `-1,5 pts`, `0,63` as a float (French or English)."""
    match = re.search(r"[+-]?[\d\u202f,.]+", text)
    assert match, text
    digits = match.group().replace("\u202f", "")
    if "," in digits and "." not in digits:
        digits = digits.replace(",", ".")
    return float(digits.replace(",", ""))


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


@pytest.fixture(params=["fr", "en"])
def content(request: pytest.FixtureRequest) -> ReportContent:
    return build_content(request.param)


# --- the contract with the statistics ---


def test_the_level_without_the_transformation_adds_up_with_the_change() -> None:
    relative = {"basis": "relative", "mean_after": 0.63, "rel_change_pct": 12.0}
    relative |= {"ci_low": 9.1, "ci_high": 14.8, "verdict": "improved"}
    assert counterfactual_after(relative) == pytest.approx(0.63 / 1.12)
    assert counterfactual_band(relative) == pytest.approx((0.63 / 1.148, 0.63 / 1.091))
    absolute = {"basis": "absolute", "mean_after": 12.2, "abs_change": 3.0, "unit": "pct"}
    absolute |= {"ci_low": 2.6, "ci_high": 3.4, "verdict": "improved"}
    assert counterfactual_after(absolute) == pytest.approx(9.2)
    assert counterfactual_band(absolute) == pytest.approx((8.8, 9.6))
    # the statistics' own column wins when it is there
    assert counterfactual_after({**relative, "counterfactual_after": 0.5}) == 0.5
    assert counterfactual_after({**relative, "counterfactual_after": float("nan")}) == (
        pytest.approx(0.63 / 1.12)
    )
    assert counterfactual_after({**relative, "verdict": "insufficient_data"}) is None


def test_a_rate_is_shown_in_points_even_on_the_relative_basis() -> None:
    row = {"basis": "relative", "unit": "pct", "mean_after": 57.5, "rel_change_pct": -2.6}
    row |= {"ci_low": -4.1, "ci_high": -1.0, "verdict": "improved"}
    change = displayed_change(row)
    assert change is not None and change.basis == "absolute"
    expected = 57.5 / (1 - 0.026)
    assert change.value == pytest.approx(57.5 - expected)
    assert (change.low, change.high) == pytest.approx((57.5 - 57.5 / 0.959, 57.5 - 57.5 / 0.99))
    assert change_cell(row, "fr") == "-1,5\u00a0pts"
    assert change_cell(row, "en") == "-1.5\u00a0pts"


# --- the key table ---


def test_the_key_table_adds_up_with_a_unit_in_every_cell(content: ReportContent) -> None:
    table = key_table(content)
    assert [row.label for row in table] == [
        (k.kpi.label_fr if content.language == "fr" else k.kpi.label_en)
        for k in content.key_results
    ]
    for row, result in zip(table, content.key_results, strict=True):
        unit = UNITS[content.language][result.kpi.name]
        rounding = 0.051 if result.kpi.unit == "pct" else 0.006  # the table's last decimal
        for cell in (row.before, row.after, row.counterfactual):
            assert cell.endswith(unit), cell
        expected = counterfactual_after(result.total)
        assert number_of(row.after) == pytest.approx(result.total["mean_after"], abs=rounding)
        assert number_of(row.counterfactual) == pytest.approx(expected, abs=rounding)
        change = displayed_change(result.total)
        if result.kpi.unit == "pct":
            assert row.change.endswith("pts") and "pts" in row.interval
            # in points: after - without = change, to the table's rounding
            assert number_of(row.after) - number_of(row.counterfactual) == pytest.approx(
                number_of(row.change), abs=0.11
            )
            assert change.value == pytest.approx(result.total["mean_after"] - expected)
        else:
            assert row.change.endswith("%") and "pts" not in row.interval
            assert 100 * (result.total["mean_after"] / expected - 1) == pytest.approx(
                number_of(row.change), abs=0.05
            )
        assert row.method  # in words
    methods = {row.method for row in table}
    assert methods <= {
        "Saisons et tendance",
        "Sites témoins",
        "Season and trend",
        "Control sites",
    }


def test_the_pdf_and_the_email_show_the_key_table(content: ReportContent, tmp_path: Path) -> None:
    from pypdf import PdfReader

    body = email_body(content, [])
    pdf = tmp_path / "report.pdf"
    write_pdf(content, [], pdf)
    pages = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    flat = " ".join(pages.split())
    for row in key_table(content):
        for cell in (row.before, row.after, row.counterfactual, row.change, row.method):
            assert cell in body.html
            assert cell.lower() in body.text.lower()  # French lowers the method in a sentence
            # the PDF's text loses the no-break spaces' kind, not the words
            assert " ".join(cell.replace("\u202f", " ").split())[:6] in flat.replace("\u202f", " ")
    without = "sans la transformation" if content.language == "fr" else "without the transformation"
    assert without in body.text


# --- the timelines ---


def test_the_client_total_timeline_draws_the_table(content: ReportContent) -> None:
    language = content.language
    fig = draw(content, "units_per_hour__total")
    total = key(content, "units_per_hour").total
    row = key_table(content)[0]  # units per hour, the first key KPI
    # levels: observed before and after, and the model's level without the transformation
    assert y_of(one(fig, "before_mean")) == pytest.approx([total["mean_before"]] * 2)
    assert y_of(one(fig, "after_mean")) == pytest.approx([total["mean_after"]] * 2)
    expected = counterfactual_after(total)
    assert y_of(one(fig, "counterfactual")) == pytest.approx([expected] * 2)
    low, high = counterfactual_band(total)
    for lower, upper in band_by_x(one(fig, "counterfactual_band")).values():
        assert (lower, upper) == pytest.approx((low, high))
    # the numbers beside them are the key table's, whose units the axis names
    unit = "\u00a0unités/h" if language == "fr" else "\u00a0units/h"
    assert one(fig, "before_mean_value").get_text() + unit == row.before
    assert one(fig, "after_mean_value").get_text() + unit == row.after
    assert one(fig, "counterfactual_value").get_text() + unit == row.counterfactual
    assert fig.axes[0].get_ylabel() == ("unités / heure" if language == "fr" else "units / hour")
    interval = "IC 95\u00a0%\u00a0: " if language == "fr" else "95% CI: "
    assert one(fig, "change_text").get_text() == f"{row.change} ({interval}{row.interval})"
    # the before mean spans the baseline, which ends where the roll-out begins
    before_x = one(fig, "before_mean").get_xdata()
    assert max(before_x) < day(FIRST)
    assert min(before_x) >= day(FIRST - pd.DateOffset(months=BASELINE)) - 16
    assert min(one(fig, "after_mean").get_xdata()) == pytest.approx(day(total["after_start"]))


def test_a_staggered_roll_out_shows_each_site_go_live(content: ReportContent) -> None:
    fig = draw(content, "units_per_hour__total")
    assert x_extent(one(fig, "roll_out")) == pytest.approx((day(FIRST), day(LAST)))
    ticks = one(fig, "site_go_live")
    assert sorted(ticks.get_xdata()) == pytest.approx(sorted(day(d) for d in SITES.values()))
    ramp_up = LAST + pd.DateOffset(months=RAMP_UP)
    assert x_extent(one(fig, "ramp_up")) == pytest.approx((day(LAST), day(ramp_up)))
    roll_out = "Déploiement" if content.language == "fr" else "Roll-out"
    assert one(fig, "roll_out_label").get_text() == roll_out
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert roll_out in legend
    assert ("Montée en charge" if content.language == "fr" else "Ramp-up") in legend
    assert by_gid(fig, "go_live") == []  # no single go-live line in a roll-out


def test_each_site_panel_draws_its_own_result(content: ReportContent) -> None:
    fig = draw(content, "units_per_hour__site-series")
    results = {row["site"]: row for row in key(content, "units_per_hour").sites}
    assert len(fig.axes) == len(SITES)
    for ax in fig.axes:
        site = ax.get_title(loc="left").replace("\n", " ")
        row = results[site]
        assert y_of(one(ax, "after_mean")) == pytest.approx([row["mean_after"]] * 2)
        assert y_of(one(ax, "before_mean")) == pytest.approx([row["mean_before"]] * 2)
        (go_live,) = by_gid(ax, "go_live")
        assert go_live.get_xdata()[0] == pytest.approx(day(row["go_live"]))
        assert x_extent(one(ax, "ramp_up")) == pytest.approx(
            (day(row["go_live"]), day(row["after_start"]))
        )
        if row["method"] == "before_after":
            assert by_gid(ax, "counterfactual") == []
            assert by_gid(ax, "counterfactual_band") == []
        else:
            assert y_of(one(ax, "counterfactual")) == pytest.approx([counterfactual_after(row)] * 2)
        note = one(ax, "change_text").get_text().replace("\n", " ")
        assert note.startswith(change_cell(row, content.language))
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert ("Montée en charge" if content.language == "fr" else "Ramp-up") in legend


def test_a_rate_timeline_speaks_in_points(content: ReportContent) -> None:
    fig = draw(content, "staff_cost_ratio_pct__total")
    total = key(content, "staff_cost_ratio_pct").total
    note = one(fig, "change_text").get_text()
    assert "pts" in note and "%" not in note.split("(")[0]
    after = y_of(one(fig, "after_mean"))[0]
    expected = y_of(one(fig, "counterfactual"))[0]
    assert after - expected == pytest.approx(displayed_change(total).value)
    assert number_of(note) == pytest.approx(after - expected, abs=0.05)
    assert fig.axes[0].get_ylabel() == "%"


# --- the per-period level without the transformation, from the warehouse ---


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_warehouse(tmp_path / "client.duckdb") as con:
        yield con


def test_the_model_per_period_is_drawn_from_impact_counterfactual(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    con = warehouse
    assert read_counterfactual(con).empty  # no model yet: the flat level is drawn
    content = build_content("fr")
    total = key(content, "units_per_hour").total
    impact = pd.DataFrame(
        [
            {**total, "label_fr": "x", "label_en": "x", "direction": "higher_is_better"},
            {**total, "method": "before_after", "preferred": False, "label_fr": "x"}
            | {"label_en": "x", "direction": "higher_is_better"},
        ]
    )
    impact["client"] = "menuiseries-test"
    impact["catalogue_version"] = "test"
    impact = impact.drop(columns=["target_change_pct", "target_progress_pct"])
    con.register("new_impact", impact)
    con.execute("insert into impact by name select * from new_impact")
    periods = pd.date_range(LAST, "2026-06-01", freq="MS")
    expected = 0.57 + 0.002 * np.arange(len(periods))  # the drift the model carries on
    model = pd.DataFrame(
        {
            "site": CLIENT_TOTAL,
            "kpi": "units_per_hour",
            "method": "seasonal",
            "period_start": periods,
            "expected": expected,
            "low": expected - 0.01 - 0.001 * np.arange(len(periods)),  # widening
            "high": expected + 0.01 + 0.001 * np.arange(len(periods)),
        }
    )
    other = model.assign(method="before_after", expected=0.0, low=0.0, high=0.0)
    con.register("model", pd.concat([model, other]))
    con.execute("insert into impact_counterfactual select * from model")

    table = read_counterfactual(con)
    assert set(table["method"]) == {"seasonal"}  # only the preferred result's
    fig = draw(build_content("fr", table), "units_per_hour__total")
    line = one(fig, "counterfactual")
    assert list(line.get_xdata()) == pytest.approx([day(p) for p in periods])
    assert y_of(line) == pytest.approx(expected)
    band = band_by_x(one(fig, "counterfactual_band"))
    for period, row in zip(periods, model.itertuples(), strict=True):
        assert band[round(day(period), 6)] == pytest.approx((row.low, row.high))
    # beside it, the table's level (the mean of the after side), said to be a mean
    number = figures.level_number(counterfactual_after(total), "units_per_hour", "fr", 2)
    assert one(fig, "counterfactual_value").get_text() == f"{number} en moyenne"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "Sans la transformation (modèle, 95\u00a0%)" in legend


# --- sites compared, summary, controls ---


def test_the_sites_compared_draw_the_table(content: ReportContent) -> None:
    for kpi in ("units_per_hour", "staff_cost_ratio_pct"):
        fig = draw(content, f"{kpi}__sites")
        ax = fig.axes[0]
        rows = {row["site"]: row for row in key(content, kpi).sites}
        names = {
            round(y): t.get_text()
            for y, t in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)
        }
        before = one(fig, "before")
        for x, y in zip(before.get_xdata(), before.get_ydata(), strict=True):
            assert x == pytest.approx(rows[names[round(y)]]["mean_before"])
        after = [a for a in fig.findobj() if str(a.get_gid()).startswith("after:")]
        drawn = {
            names[round(y)]: x
            for line in after
            for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)
        }
        assert drawn == pytest.approx({site: row["mean_after"] for site, row in rows.items()})
        bars = one(fig, "counterfactual")
        shown = {
            names[round(y)]: x for x, y in zip(bars.get_xdata(), bars.get_ydata(), strict=True)
        }
        assert shown == pytest.approx(
            {
                site: counterfactual_after(row)
                for site, row in rows.items()
                if row["method"] != "before_after"
            }
        )
        notes = {names[round(t.get_position()[1])]: t.get_text() for t in by_gid(fig, "change")}
        assert notes == {site: change_cell(row, content.language) for site, row in rows.items()}
        if kpi == "staff_cost_ratio_pct":
            assert all(note.endswith("pts") for note in notes.values())
        assert ax.get_xlabel() == formatting.unit_label(DERIVED_KPIS[kpi].unit, content.language)


def test_the_summary_draws_each_change_and_interval(content: ReportContent) -> None:
    fig = draw(content, "summary")
    ax = fig.axes[0]
    labels = {
        round(y): t.get_text().replace("\n", " ")
        for y, t in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)
    }
    expected = {}
    for result in content.key_results:
        label = result.kpi.label_fr if content.language == "fr" else result.kpi.label_en
        expected[label] = (
            displayed_change(result.total),
            change_cell(result.total, content.language),
        )
    dots = [a for a in fig.findobj() if str(a.get_gid()).startswith("change:")]
    for line in dots:
        for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True):
            assert x == pytest.approx(expected[labels[round(y)]][0].value)
    bars = [a for a in fig.findobj() if str(a.get_gid()).startswith("interval:")]
    seen = 0
    for collection in bars:
        for segment in collection.get_segments():
            (x0, y), (x1, _) = segment
            change = expected[labels[round(y)]][0]
            assert sorted((x0, x1)) == pytest.approx([change.low, change.high])
            seen += 1
    assert seen == len(expected)
    notes = {labels[round(t.get_position()[1])]: t.get_text() for t in by_gid(fig, "change")}
    assert notes == {label: text for label, (_, text) in expected.items()}
    assert sum(text.endswith("pts") for text in notes.values()) == 2  # both rates
    x_label = ax.get_xlabel()
    assert "%" in x_label and "points" in x_label


def test_treated_against_controls_indexes_on_the_periods_before_the_roll_out(
    content: ReportContent,
) -> None:
    fig = draw(content, "units_per_hour__controls")
    treated = content.values(CLIENT_TOTAL, "units_per_hour")
    base = treated[(treated.index >= FIRST - pd.DateOffset(months=12)) & (treated.index < FIRST)]
    line = one(fig, "treated")
    drawn = pd.Series(
        y_of(line), index=[mdates.num2date(x).replace(tzinfo=None) for x in line.get_xdata()]
    ).dropna()
    assert drawn.to_numpy() == pytest.approx((100 * treated / base.mean()).to_numpy())
    assert x_extent(one(fig, "roll_out")) == pytest.approx((day(FIRST), day(LAST)))
    assert fig.axes[0].get_ylabel() == (
        "Indice (base 100)" if content.language == "fr" else "Index (base 100)"
    )


# --- the words ---


def test_every_word_of_the_report_exists_in_both_languages() -> None:
    catalogue = yaml.safe_load((REPORTS_DIR / "strings.yaml").read_text(encoding="utf-8"))

    def keys(tree: object, prefix: str = "") -> set[str]:
        if not isinstance(tree, dict):
            return {prefix}
        return {k for name, value in tree.items() for k in keys(value, f"{prefix}{name}.")}

    assert keys(catalogue["fr"]) == keys(catalogue["en"])
    for language in ("fr", "en"):
        words = catalogue[language]["chart_words"]
        assert all(isinstance(text, str) and text for text in words.values())


def test_a_result_a_fake_go_live_matched_reads_not_enough_evidence() -> None:
    from pipelines.report.figures import change_cell, verdict_words

    downgraded = {"verdict": "insufficient_data", "rel_change_pct": 9.8, "abs_change": 1.2}
    missing = {"verdict": "insufficient_data", "rel_change_pct": None, "abs_change": None}
    assert verdict_words(downgraded, "fr") == "Preuves insuffisantes"
    assert verdict_words(downgraded, "en") == "Not enough evidence"
    assert verdict_words(missing, "fr") == "Données insuffisantes"
    assert change_cell(missing, "en") == "Insufficient data"
    assert verdict_words({"verdict": "improved"}, "fr") == "Amélioration"
