"""Every chart of a client report, drawn once from its content: written as PNG (email, UI) under
a safe file name, and kept as a figure for the PDF's vector pages."""

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from pipelines import formatting
from pipelines.impact.analysis import periods_of_months
from pipelines.impact.series import CLIENT_TOTAL, CONTROLS_TOTAL
from pipelines.report import charts, style
from pipelines.report.content import KeyResult, ReportContent, say, strings

logger = logging.getLogger(__name__)

EMAIL_KPIS = 2
"""How many key KPIs have their client-total chart in the email body, after the summary."""
SITE_SERIES_SHOWN = 12
"""At most this many site panels in a KPI's small multiples (the best and the weakest half)."""
INSUFFICIENT = "insufficient_data"
"""How the impact analysis counts `baseline_months` in weeks."""
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


NAIVE_METHODS = frozenset({"before_after"})
"""Methods that compare the observed means as they are: every other method adjusts (for
seasons, a trend, control sites) and has a level without the transformation of its own."""


def adjusts(row: Mapping[str, object]) -> bool:
    """Whether the result's method adjusts for seasons, drift or controls (not the naive
    before/after), so that its level without the transformation is the model's."""
    return str(row.get("method")) not in NAIVE_METHODS


def counterfactual_after(row: Mapping[str, object]) -> float | None:
    """The after side's level without the transformation, in the KPI's unit: the row's
    `counterfactual_after` when the statistics wrote one, else what makes the change add up
    with the observed after mean: mean_after / (1 + rel_change_pct / 100) on the relative
    basis, mean_after - abs_change on the absolute one. None without a change."""
    given = row.get("counterfactual_after")
    if not _missing(given):
        return float(given)
    after = row.get("mean_after")
    if _missing(after) or row.get("verdict") == INSUFFICIENT:
        return None
    if row.get("basis") == "relative":
        change = row.get("rel_change_pct")
        if _missing(change) or float(change) <= -100:
            return None
        return float(after) / (1 + float(change) / 100)
    change = row.get("abs_change")
    return None if _missing(change) else float(after) - float(change)


def counterfactual_band(row: Mapping[str, object]) -> tuple[float, float] | None:
    """The 95 % band (low, high) of `counterfactual_after`, from the change's interval:
    mean_after / (1 + ci / 100) on the relative basis, mean_after - ci on the absolute one."""
    after, low, high = row.get("mean_after"), row.get("ci_low"), row.get("ci_high")
    if any(_missing(value) for value in (after, low, high)) or row.get("verdict") == INSUFFICIENT:
        return None
    after, low, high = float(after), float(low), float(high)
    if row.get("basis") == "relative":
        if min(low, high) <= -100:
            return None
        return after / (1 + high / 100), after / (1 + low / 100)
    return after - high, after - low


@dataclass(frozen=True)
class Change:
    """A result's change as the report shows it, with its 95 % interval: in percent
    (`basis` relative) or in the KPI's unit (absolute), always in points for a rate."""

    value: float
    low: float
    high: float
    basis: str


def displayed_change(row: Mapping[str, object]) -> Change | None:
    """The change and interval the report shows for a result, None without one. A KPI in
    percent (`unit` pct: margins, service level) is shown in points, never as a relative
    percentage: a relative result of such a KPI is converted with its level without the
    transformation (after - after / (1 + change / 100))."""
    if row.get("verdict") == INSUFFICIENT or _missing(row.get("ci_low")):
        return None
    low, high = float(row["ci_low"]), float(row["ci_high"])
    if row.get("basis") != "relative":
        return (
            None
            if _missing(row.get("abs_change"))
            else Change(float(row["abs_change"]), low, high, "absolute")
        )
    if _missing(row.get("rel_change_pct")):
        return None
    if row.get("unit") != "pct":
        return Change(float(row["rel_change_pct"]), low, high, "relative")
    after, expected, band = (
        row.get("mean_after"),
        counterfactual_after(row),
        counterfactual_band(row),
    )
    if _missing(after) or expected is None or band is None:
        return None
    after = float(after)
    return Change(after - expected, after - band[1], after - band[0], "absolute")


def verdict_words(row: Mapping[str, object], language: str) -> str:
    """The verdict in words; a result with numbers but no verdict (a fake go-live showed as
    much: see `reason_fr`/`reason_en`) is « Preuves insuffisantes », not missing data."""
    verdict = str(row["verdict"])
    numbers = not _missing(row.get("rel_change_pct")) or not _missing(row.get("abs_change"))
    if verdict == "insufficient_data" and numbers:
        return say(language, "verdict_inconclusive")
    return say(language, f"verdict_{verdict}")


def change_cell(row: Mapping[str, object], language: str) -> str:
    """The change alone, as the key table writes it: `+12,0 %`, `+3,0 pts`; the words
    « Données insuffisantes » without one."""
    change = displayed_change(row)
    if change is None:
        return verdict_words(row, language)
    return _change_number(change.value, change.basis, str(row.get("unit")), language)


def interval_cell(row: Mapping[str, object], language: str) -> str:
    """The change's 95 % interval, `+9,1 % à +14,8 %`; `–` without one."""
    change = displayed_change(row)
    if change is None:
        return "–"
    unit = str(row.get("unit"))
    low, high = (_change_number(v, change.basis, unit, language) for v in (change.low, change.high))
    return say(language, "interval", low=low, high=high)


def change_text(row: Mapping[str, object], language: str) -> str:
    """`+12,0 % (IC 95 % : +9,1 % à +14,8 %)`: a result's change and interval (points for a
    rate: `+3,0 pts (IC 95 % : +1,1 pts à +4,9 pts)`)."""
    if displayed_change(row) is None:
        return verdict_words(row, language)
    return with_interval(change_cell(row, language), interval_cell(row, language), language)


def with_interval(change: str, interval: str, language: str) -> str:
    """A change cell and its interval cell as one text: `+12,0 % (IC 95 % : +9,1 % à
    +14,8 %)`; the change alone when there is no interval (`–`)."""
    if interval == "–":
        return change
    separator = "\u00a0: " if language == "fr" else ": "
    return f"{change} ({say(language, 'col_interval')}{separator}{interval})"


def _change_number(value: float, basis: str, unit: str, language: str) -> str:
    if basis == "relative":
        return formatting.percent(value, language, signed=True)
    return formatting.signed_level(value, unit, language)


def result_decimals(row: Mapping[str, object]) -> int:
    """The decimals of a result's levels, the same for all of them so that a reader can redo
    the change from them to its last decimal: one for a rate (its change is in points to one
    decimal), else by the largest level: two under 100, one under 1 000, none above."""
    if row.get("unit") == "pct":
        return 1
    levels = [row.get("mean_before"), row.get("mean_after"), counterfactual_after(row)]
    finite = [abs(float(v)) for v in levels if not _missing(v)]
    largest = max(finite, default=0.0)
    return 2 if largest < 100 else 1 if largest < 1000 else 0


def level_cell(value: object, unit: str, language: str, decimals: int | None = None) -> str:
    """A level as the key table writes it, with its unit (`0,56 unités/h`, `10,9 %`,
    `34 283 €/ETP`); `–` when missing."""
    if _missing(value):
        return "–"
    return formatting.level(float(value), unit, language, decimals)


def level_number(value: float, unit: str, language: str, decimals: int | None = None) -> str:
    """A level's number as the key table writes it, without the unit the chart's axis
    already names (`0,56`; `10,9 %` for a rate)."""
    if decimals is None:
        decimals = formatting.level_decimals(value)
    if unit == "pct":
        return formatting.percent(value, language, decimals)
    return formatting.number(value, language, decimals)


def method_label(method: object, language: str) -> str:
    """A method's name in words (`Corrigé de la saisonnalité`); an unknown code as is."""
    key = f"method_{method}"
    return say(language, key) if key in strings(language) else str(method)


@dataclass(frozen=True)
class KeyTableRow:
    """One KPI of the key table, every cell formatted with its unit: the observed levels,
    the level without the transformation, the change (after against that level), its
    interval, the method and the verdict."""

    label: str
    before: str
    after: str
    counterfactual: str
    change: str
    interval: str
    method: str
    verdict: str
    verdict_code: str


def key_table(content: ReportContent) -> list[KeyTableRow]:
    """The key table of the client total, as the PDF and the email show it: a reader can
    redo the sum, after against « without the transformation » gives the change."""
    language = content.language
    rows = []
    for key in content.key_results:
        row = key.total
        if row is None:
            continue
        unit, decimals = key.kpi.unit, result_decimals(row)
        rows.append(
            KeyTableRow(
                label=key.kpi.label_fr if language == "fr" else key.kpi.label_en,
                before=level_cell(row.get("mean_before"), unit, language, decimals),
                after=level_cell(row.get("mean_after"), unit, language, decimals),
                counterfactual=level_cell(counterfactual_after(row), unit, language, decimals),
                change=change_cell(row, language),
                interval=interval_cell(row, language),
                method=method_label(row.get("method"), language),
                verdict=verdict_words(row, language),
                verdict_code=str(row["verdict"]),
            )
        )
    return rows


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
            "change": [_effect(row) for row in key.sites],
        }
    )
    ranked = charts.rank_sites(effects, key.kpi.direction)["position"].tolist()
    half = limit // 2
    chosen = sorted([*ranked[:half], *ranked[-half:]])
    title = say(language, f"{string}_subset", kpi=label, half=half, total=len(key.sites))
    return [key.sites[position] for position in chosen], title


def _effect(row: Mapping[str, object]) -> float:
    """A site's change as the report shows it (percent, or points for a rate); NaN without
    one. Ranks the sites, so it needs no interval."""
    change = displayed_change(row)
    if change is not None:
        return change.value
    column = "rel_change_pct" if row.get("basis") == "relative" else "abs_change"
    value = row.get(column)
    return float("nan") if _missing(value) else float(value)


def _timeline_arguments(
    content: ReportContent, key: KeyResult, row: dict[str, object]
) -> dict[str, object]:
    """A result row's timeline, as `charts.kpi_timeline` and a `site_timelines` panel take
    it: the observed means, the model's level without the transformation (per period when
    the warehouse has them) where the method adjusts, the numbers of the key table beside
    them, and for a client total with a staggered roll-out each site's go-live."""
    language, unit = content.language, key.kpi.unit
    before = None if _missing(row.get("mean_before")) else float(row["mean_before"])
    after = None if _missing(row.get("mean_after")) else float(row["mean_after"])
    site = str(row["site"])
    go_live = pd.Timestamp(row["go_live"])
    site_go_lives = _site_go_lives(content, key) if site == CLIENT_TOTAL else []
    before_end = min([go_live, *site_go_lives])
    labels, decimals = {}, result_decimals(row)
    if before is not None:
        labels["before_mean"] = level_number(before, unit, language, decimals)
    if after is not None:
        labels["after_mean"] = level_number(after, unit, language, decimals)
    counterfactual, band, series = None, None, None
    if adjusts(row):
        counterfactual, band = counterfactual_after(row), counterfactual_band(row)
        series = content.counterfactual_series(site, key.kpi.name, str(row["method"]))
    if counterfactual is not None:
        number = level_number(counterfactual, unit, language, decimals)
        if series is not None:  # the line varies: its mean is the table's number
            words = strings(language)["chart_words"]
            number = str(words["counterfactual_average"]).format(value=number)
        labels["counterfactual"] = number
    return {
        "values": content.values(site, key.kpi.name),
        "go_live": go_live,
        "after_start": pd.Timestamp(row["after_start"]),
        "before_mean": before,
        "after_mean": after,
        "change_text": change_text(row, language),
        "target": _target_level(row, before),
        "before_start": _baseline_start(before_end, content),
        "before_end": before_end,
        "counterfactual": counterfactual,
        "counterfactual_band": band,
        "counterfactual_series": series if counterfactual is not None else None,
        "level_labels": labels,
        "site_go_lives": site_go_lives,
    }


def _site_go_lives(content: ReportContent, key: KeyResult) -> list[pd.Timestamp]:
    """Each transformed site's go-live (its result's, else its configuration's)."""
    dates = {pd.Timestamp(row["go_live"]) for row in key.sites if not _missing(row.get("go_live"))}
    if not dates:
        for site in content.config.sites:
            go_live = content.config.go_live_of(site.name)
            if go_live is not None:
                dates.add(pd.Timestamp(go_live))
    return sorted(dates)


def _baseline_start(before_end: pd.Timestamp, content: ReportContent) -> pd.Timestamp:
    """The first period the before mean may hold: `baseline_months` before its end."""
    periods = periods_of_months(content.config.impact.baseline_months, content.grain)
    if content.grain == "week":
        return before_end - pd.Timedelta(weeks=periods)
    return before_end - pd.DateOffset(months=periods)


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


def _target_level(row: dict[str, object], before: float | None) -> float | None:
    target = row.get("target_change_pct")
    if before is None or _missing(target) or row["site"] != CLIENT_TOTAL:
        return None
    return before * (1 + float(target) / 100)


def _controls(content: ReportContent, key: KeyResult, title: str) -> Callable[[], Figure]:
    go_lives = _site_go_lives(content, key)
    go_live = pd.Timestamp(key.total["go_live"]) if key.total else pd.Timestamp.min
    return lambda: charts.treated_vs_controls(
        content.values(CLIENT_TOTAL, key.kpi.name),
        content.values(CONTROLS_TOTAL, key.kpi.name),
        title=title,
        language=content.language,
        grain=content.grain,
        # The index base ends where the roll-out begins.
        go_live=min([go_live, *go_lives]),
        site_go_lives=go_lives,
    )


def _sites(
    content: ReportContent, key: KeyResult, sites: list[dict[str, object]], title: str
) -> Callable[[], Figure]:
    records = []
    for row in sites:
        change = displayed_change(row)
        records.append(
            {
                "site": row["site"],
                "before": row["mean_before"],
                "after": row["mean_after"],
                "counterfactual": counterfactual_after(row) if adjusts(row) else None,
                "change": _effect(row),
                "basis": change.basis if change else row.get("basis"),
                "verdict": row["verdict"],
            }
        )
    rows = pd.DataFrame(records)
    return lambda: charts.site_comparison(
        rows,
        title=title,
        unit=key.kpi.unit,
        language=content.language,
        direction=key.kpi.direction,
    )


def _summary_rows(content: ReportContent) -> pd.DataFrame:
    """Each key KPI's client-total change as the key table shows it (points for a rate)."""
    language = content.language
    columns = ["label", "change", "ci_low", "ci_high", "verdict", "basis", "unit"]
    rows = []
    for key in content.key_results:
        if key.total is None:
            continue
        row = key.total
        change = displayed_change(row)
        rows.append(
            {
                "label": key.kpi.label_fr if language == "fr" else key.kpi.label_en,
                "change": change.value if change else float("nan"),
                "ci_low": change.low if change else float("nan"),
                "ci_high": change.high if change else float("nan"),
                "verdict": row["verdict"],
                "basis": change.basis if change else row["basis"],
                "unit": key.kpi.unit,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)
