"""Every chart of a client report, drawn once from its content: written as PNG (email, UI) under
a safe file name, and kept as a figure for the PDF's vector pages."""

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from pipelines import formatting
from pipelines.impact.series import CLIENT_TOTAL, CONTROLS_TOTAL
from pipelines.report import charts, style
from pipelines.report.content import KeyResult, ReportContent, say

logger = logging.getLogger(__name__)

EMAIL_KPIS = 2
"""How many key KPIs have their client-total chart in the email body, after the summary."""
SITE_SERIES_SHOWN = 12
"""At most this many site panels in a KPI's small multiples (the best and the weakest half)."""
SITES_COMPARED = 20
"""At most this many sites in a KPI's before/after comparison (the best and the weakest half).
A client with 100 depots gets readable charts, drawn in seconds, not 100 rows and panels."""


@dataclass(frozen=True)
class RenderedChart:
    """A drawn chart: its name (file stem), title, PNG file and figure (for the PDF)."""

    name: str
    title: str
    png: Path
    figure: Figure
    in_email: bool


@dataclass(frozen=True)
class PlannedChart:
    """A chart the report will have: its file stem, title, how to draw it, and whether the
    email body shows it."""

    name: str
    title: str
    draw: Callable[[], Figure]
    in_email: bool = False


def render_charts(content: ReportContent, folder: Path) -> list[RenderedChart]:
    """Draw every chart of the report, in reading order, and write its PNG into `folder`
    (created); PNGs of an earlier run that the report no longer has are removed. Call it inside
    `style.chart_style()` when the figures are saved again (the PDF)."""
    folder.mkdir(parents=True, exist_ok=True)
    rendered = []
    with style.chart_style():
        for chart in chart_plan(content):
            figure = chart.draw()
            png = style.save_png(figure, folder / f"{chart.name}.png")
            rendered.append(RenderedChart(chart.name, chart.title, png, figure, chart.in_email))
    names = {chart.name for chart in rendered}
    for stale in folder.glob("*.png"):
        if stale.stem not in names:
            stale.unlink()
    logger.info("%s: %d charts in %s", content.slug, len(rendered), folder)
    return rendered


def change_text(row: dict[str, object], language: str) -> str:
    """`+12,0 % (IC 95 % : +9,1 % à +14,8 %)`: a result's change and interval."""
    if row["verdict"] == "insufficient_data" or _missing(row.get("ci_low")):
        return say(language, "verdict_insufficient_data")
    low, high = float(row["ci_low"]), float(row["ci_high"])
    if row["basis"] == "relative":
        change = float(row["rel_change_pct"])
        parts = [formatting.percent(v, language, signed=True) for v in (change, low, high)]
    else:
        suffix = (
            "pts" if row["unit"] == "pct" else formatting.unit_label(str(row["unit"]), language)
        )
        change = float(row["abs_change"])
        parts = [formatting.signed_number(v, language, suffix) for v in (change, low, high)]
    interval = say(language, "col_interval")
    separator = "\u00a0: " if language == "fr" else ": "
    to = "à" if language == "fr" else "to"
    return f"{parts[0]} ({interval}{separator}{parts[1]} {to} {parts[2]})"


def chart_plan(content: ReportContent) -> Iterator[PlannedChart]:
    """Every chart of the report in reading order: the summary, then for each key KPI its
    client total, treated against controls, the sites compared, and every site's timeline."""
    language = content.language
    yield PlannedChart(
        "summary",
        say(language, "chart_summary"),
        lambda: charts.executive_summary(
            _summary_rows(content), title=say(language, "chart_summary"), language=language
        ),
        in_email=True,
    )
    for index, key in enumerate(content.key_results):
        label = key.kpi.label_fr if language == "fr" else key.kpi.label_en
        if key.total is not None:
            title = say(language, "chart_total", kpi=label)
            yield PlannedChart(
                f"{key.kpi.name}__total",
                title,
                _timeline(content, key, key.total, title),
                in_email=index < EMAIL_KPIS,
            )
            if content.has_controls:
                title = say(language, "chart_controls", kpi=label)
                yield PlannedChart(
                    f"{key.kpi.name}__controls", title, _controls(content, key, title)
                )
        if len(key.sites) > 1:
            sites, title = _sites_shown(key, SITES_COMPARED, language, "chart_sites", label)
            yield PlannedChart(f"{key.kpi.name}__sites", title, _sites(content, key, sites, title))
        # One site's timeline is the client total's, already drawn.
        if len(key.sites) > 1 or (key.sites and key.total is None):
            sites, title = _sites_shown(
                key, SITE_SERIES_SHOWN, language, "chart_site_series", label
            )
            yield PlannedChart(
                f"{key.kpi.name}__site-series", title, _site_series(content, key, sites, title)
            )


def _sites_shown(
    key: KeyResult, limit: int, language: str, string: str, label: str
) -> tuple[list[dict[str, object]], str]:
    """The sites a chart shows and its title: every site up to `limit`, else the best and the
    weakest half of `limit` by effect (per the KPI's direction), said in the title."""
    if len(key.sites) <= limit:
        return key.sites, say(language, string, kpi=label)
    effects = pd.DataFrame(
        {
            "position": range(len(key.sites)),
            "change_pct": [_effect(row) for row in key.sites],
        }
    )
    ranked = charts.rank_sites(effects, key.kpi.direction)["position"].tolist()
    half = limit // 2
    chosen = sorted([*ranked[:half], *ranked[-half:]])
    title = say(language, f"{string}_subset", kpi=label, half=half, total=len(key.sites))
    return [key.sites[position] for position in chosen], title


def _effect(row: dict[str, object]) -> float:
    """A site's estimated change: relative when the result is, else in the KPI's unit."""
    column = "rel_change_pct" if row.get("basis") == "relative" else "abs_change"
    value = row.get(column)
    return float("nan") if _missing(value) else float(value)


def _timeline_arguments(
    content: ReportContent, key: KeyResult, row: dict[str, object]
) -> dict[str, object]:
    """A result row's timeline, as `charts.kpi_timeline` and a `site_timelines` panel take it."""
    before = None if _missing(row.get("mean_before")) else float(row["mean_before"])
    after, band = _after_level(row, before)
    return {
        "values": content.values(str(row["site"]), key.kpi.name),
        "go_live": pd.Timestamp(row["go_live"]),
        "after_start": pd.Timestamp(row["after_start"]),
        "before_mean": before,
        "after_mean": after,
        "band": band,
        "change_text": change_text(row, content.language),
        "target": _target_level(row, before),
    }


def _timeline(
    content: ReportContent, key: KeyResult, row: dict[str, object], title: str
) -> Callable[[], Figure]:
    def draw() -> Figure:
        arguments = _timeline_arguments(content, key, row)
        return charts.kpi_timeline(
            arguments.pop("values"),
            title=title,
            unit=key.kpi.unit,
            language=content.language,
            grain=content.grain,
            **arguments,
        )

    return draw


def _site_series(
    content: ReportContent, key: KeyResult, sites: list[dict[str, object]], title: str
) -> Callable[[], Figure]:
    def draw() -> Figure:
        panels = [{"site": row["site"], **_timeline_arguments(content, key, row)} for row in sites]
        return charts.site_timelines(
            panels, title=title, unit=key.kpi.unit, language=content.language, grain=content.grain
        )

    return draw


def _after_level(
    row: dict[str, object], before: float | None
) -> tuple[float | None, tuple[float, float] | None]:
    """The after level the result implies (before level plus the estimated change) and its
    95 % band: for the seasonal and control methods it differs from the raw after mean, which
    mixes in seasons and trends the method took out."""
    if before is None or row["verdict"] == "insufficient_data" or _missing(row.get("ci_low")):
        return (None if _missing(row.get("mean_after")) else float(row["mean_after"])), None
    low, high = float(row["ci_low"]), float(row["ci_high"])
    if row["basis"] == "relative":
        change = float(row["rel_change_pct"])
        return before * (1 + change / 100), (before * (1 + low / 100), before * (1 + high / 100))
    return before + float(row["abs_change"]), (before + low, before + high)


def _target_level(row: dict[str, object], before: float | None) -> float | None:
    target = row.get("target_change_pct")
    if before is None or _missing(target) or row["site"] != CLIENT_TOTAL:
        return None
    return before * (1 + float(target) / 100)


def _controls(content: ReportContent, key: KeyResult, title: str) -> Callable[[], Figure]:
    go_live = pd.Timestamp(key.total["go_live"]) if key.total else pd.Timestamp.min
    return lambda: charts.treated_vs_controls(
        content.values(CLIENT_TOTAL, key.kpi.name),
        content.values(CONTROLS_TOTAL, key.kpi.name),
        title=title,
        language=content.language,
        grain=content.grain,
        go_live=go_live,
    )


def _sites(
    content: ReportContent, key: KeyResult, sites: list[dict[str, object]], title: str
) -> Callable[[], Figure]:
    rows = pd.DataFrame(
        [
            {
                "site": row["site"],
                "before": row["mean_before"],
                "after": _after_level(row, row["mean_before"])[0],
                "change_pct": row["rel_change_pct"],
                "verdict": row["verdict"],
            }
            for row in sites
        ]
    )
    return lambda: charts.site_comparison(
        rows,
        title=title,
        unit=key.kpi.unit,
        language=content.language,
        direction=key.kpi.direction,
    )


def _summary_rows(content: ReportContent) -> pd.DataFrame:
    language = content.language
    rows = []
    for key in content.key_results:
        if key.total is None:
            continue
        row = key.total
        relative = row["basis"] == "relative"
        rows.append(
            {
                "label": key.kpi.label_fr if language == "fr" else key.kpi.label_en,
                "change": row["rel_change_pct"] if relative else row["abs_change"],
                "ci_low": row["ci_low"],
                "ci_high": row["ci_high"],
                "verdict": row["verdict"],
                "basis": row["basis"],
            }
        )
    return pd.DataFrame(rows, columns=["label", "change", "ci_low", "ci_high", "verdict", "basis"])


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)
