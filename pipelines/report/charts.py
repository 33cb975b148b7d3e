"""The report's charts, as matplotlib Figures: pure functions of their data, no I/O.

Four kinds, each readable on a phone at 800 px wide: a KPI's timeline around go-live with its
observed before and after levels and, where the method models one, the level without the
transformation and its 95 % band; the sites compared (dumbbell); the transformed sites against
the control sites (indexed to 100); and the executive summary (every KPI's change with its
interval). Titles come from the caller in the client's language; the functions add only a few
fixed words (legend, go-live label), in French or English, from `reports/strings.yaml`
(`chart_words`). Every value axis names its unit; every change says % or pts.

x positions are matplotlib date numbers computed here (`matplotlib.dates.date2num`), so no unit
converter, pandas' or matplotlib's, is involved and the figures carry no global state.
"""

import logging
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis, Ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.path import Path
from matplotlib.text import Text
from matplotlib.ticker import (
    FixedLocator,
    Formatter,
    MaxNLocator,
    NullFormatter,
    NullLocator,
)
from matplotlib.transforms import Transform, blended_transform_factory, offset_copy

from pipelines import formatting
from pipelines.report import style
from pipelines.report.content import strings

logger = logging.getLogger(__name__)

VERDICT_ORDER = ("improved", "worsened", "no_significant_change")
INSUFFICIENT = "insufficient_data"

MONTH_STEPS = (1, 2, 3, 4, 6, 12, 24, 60, 120)
WEEK_STEPS = (1, 2, 4, 8, 13, 26, 52, 104, 260)
MAX_X_TICKS = 6
"""A month label is about 75 px wide at 11 pt: six fit 700 px with air between them."""
INDEX_BASE_PERIODS = 12
LABEL_WRAP = 32
"""Characters per line of a site or KPI name, so names never eat half the chart's width."""

HEADROOM = 0.32
"""Share of the data's range left free above it, for the box at the chart's top-left."""
ROW_HEIGHT_IN = 0.5
MIN_ROWS_HEIGHT_IN = 3.0
FRAME_HEIGHT_IN = 1.7
"""Title, x axis and legend around the rows of the horizontal charts."""

PANEL_ROW_HEIGHT_IN = 2.6
"""Height of a row of `site_timelines` panels: the site's name, the plot and its periods."""
PANEL_FRAME_HEIGHT_IN = 1.1
"""Title and legend (up to two rows) around the panels."""
PANEL_GAP_PX = 26.0
"""Air between two panels, beyond their tick labels and titles."""
PANEL_Y_TICKS = 4
"""At most four steps of value ticks in a panel's ~200 px."""
PANEL_X_TICKS = 4
"""Period ticks per panel when they are years ("2024": about 35 px at 11 pt)."""
PANEL_MONTH_TICKS = 3
"""Period ticks per panel when they name a month or week ("janv. 2025": about 80 px)."""
NOTE_CLEARANCE_PX = 6.0
"""Space left between the box at a panel's top-left and the highest value under it."""
NOTE_INSET_PX = 3.0
"""Space between a panel's box and the panel's left edge."""
PANEL_DENSE_POINTS = 60
PANEL_DENSE_MARKER = 1.8
"""Beyond 60 periods in a panel (weeks), smaller dots: the line, not each period, reads."""

NOTE_OFFSET_PT = 10.0
"""Space between the plot and the column of changes at its right."""
LEVEL_WIDTH = 3.0
DASHES = (0, (5, 3))
BAND_ALPHA = 0.18
VALUE_STEPS = [1, 2, 2.5, 5, 10]
"""Steps between value ticks, times a power of ten."""
GO_LIVE_DASHES = (0, (4, 3))
GO_LIVE_WIDTH = 1.3
NOTE_PAD = 0.45
"""Padding of the box at the top-left, in font sizes."""
NOTE_X, NOTE_Y = 0.012, 0.975
"""The box's top-left corner, in fractions of the plot."""
VALUE_MARGIN = 0.06
"""Share of the values' range left free below and above them (before any headroom)."""
PANEL_TITLE_ALLOWANCE_PX = 90.0
"""A panel is at most its share of the figure's width less this (tick labels, unit, gaps):
the room for its title."""
GO_LIVE_MARKER = Path(
    [(0.0, -0.5), (0.0, -0.1), (0.0, 0.1), (0.0, 0.5)],
    [Path.MOVETO, Path.LINETO, Path.MOVETO, Path.LINETO],
)
"""Two dashes on a vertical: the go-live line as a legend handle."""
SITE_GO_LIVE_MARKER = Path([(0.0, 0.0), (0.0, 1.0)], [Path.MOVETO, Path.LINETO])
"""A tick standing on the period axis: one site's go-live in a staggered roll-out."""
SITE_GO_LIVE_SIZE = 16.0


def kpi_timeline(
    values: pd.Series,
    *,
    title: str,
    unit: str,
    language: str,
    grain: str,
    go_live: pd.Timestamp,
    after_start: pd.Timestamp,
    before_mean: float | None,
    after_mean: float | None,
    change_text: str,
    target: float | None = None,
    before_start: pd.Timestamp | None = None,
    before_end: pd.Timestamp | None = None,
    counterfactual: float | None = None,
    counterfactual_band: tuple[float, float] | None = None,
    counterfactual_series: pd.DataFrame | None = None,
    level_labels: Mapping[str, str] | None = None,
    site_go_lives: Sequence[pd.Timestamp] = (),
) -> Figure:
    """A KPI's values around go-live: the series, its observed before and after levels, the
    model's level without the transformation and its 95 % band (when given), the ramp-up
    shaded, the go-live line (or, for a staggered roll-out, the roll-out shaded and each
    site's go-live marked), the target, and `change_text` in a box at the top-left.

    `values` is indexed by period start; NaN is a missing period, drawn as a gap. The before
    level spans the periods from `before_start` (default: the first) to before `before_end`
    (default: `go_live`); the after level spans the periods from `after_start` on. The level
    without the transformation is drawn per period when `counterfactual_series` (indexed by
    period start, columns expected, low, high) has rows, else as the flat `counterfactual`
    with `counterfactual_band` (low, high) over the after periods. `level_labels` maps
    before_mean, after_mean and counterfactual to the text written beside each level (the key
    table's numbers). `site_go_lives` with two or more dates makes a staggered roll-out: the
    span from the first to the last is shaded and named, each date marked on the period
    axis, and the ramp-up runs from the last one to `after_start`. Raises ValueError when
    `values` is empty.
    """
    words = _words(language)
    series = _period_series(values)
    with style.chart_style():
        fig, ax = style.new_figure()
        style.set_title(fig, title)
        timeline = _Timeline.of_panel(
            {
                "values": series,
                "go_live": go_live,
                "after_start": after_start,
                "before_mean": before_mean,
                "after_mean": after_mean,
                "change_text": change_text,
                "target": target,
                "before_start": before_start,
                "before_end": before_end,
                "counterfactual": counterfactual,
                "counterfactual_band": counterfactual_band,
                "counterfactual_series": counterfactual_series,
                "level_labels": level_labels,
                "site_go_lives": site_go_lives,
            }
        )
        handles = _draw_timeline(ax, timeline, words=words, grain=grain, go_live_label=True)
        ax.set_ylim(*_value_limits(timeline.extremes(), headroom=HEADROOM))
        _value_axis(ax.yaxis, _unit_renderer(unit, language))
        ax.set_ylabel(formatting.unit_label(unit, language))
        _period_axis(ax, series.index, grain, language)
        _finish(fig, [handle for handle in handles.values() if handle is not None])
    return fig


def site_timelines(
    panels: list[dict[str, object]], *, title: str, unit: str, language: str, grain: str
) -> Figure:
    """A KPI's timeline for each site, as small multiples: one panel per site, in two
    columns (one for a single site), each drawn as `kpi_timeline` draws a timeline.

    Each panel is a dict with keys site (the panel's title), values, go_live, after_start,
    before_mean, after_mean, change_text and target, and optionally before_start,
    before_end, counterfactual, counterfactual_band, counterfactual_series, level_labels and
    site_go_lives, as `kpi_timeline`'s arguments of those names; before_mean, after_mean,
    target and the counterfactual may be None. The panels share both
    axes, the same KPI on the same scale over the same periods, so that levels and go-live
    dates compare at a glance: values are labelled left of each row, periods under each
    column, the unit once. One legend serves every panel; it names the go-live line, which
    has no label of its own in a panel this narrow. A change text wider than its panel goes
    onto two lines, the change then its interval. Raises ValueError when `panels` or a
    panel's values are empty.
    """
    if not panels:
        raise ValueError("no site to chart")
    words = _words(language)
    timelines = [_Timeline.of_panel(panel) for panel in panels]
    periods = timelines[0].series.index
    for timeline in timelines[1:]:
        periods = periods.union(timeline.series.index)
    extremes = [value for timeline in timelines for value in timeline.extremes()]
    columns = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / columns)
    with style.chart_style():
        fig, grid = _panel_figure(rows, columns, len(panels))
        style.set_title(fig, title)
        # Limits first: with them set, no line added below makes matplotlib rescale the axes.
        _panel_period_axis(grid[0], periods, grain, language)
        grid[0].set_ylim(*_value_limits(extremes, headroom=HEADROOM))
        ticks = _panel_value_ticks(grid, extremes, _unit_renderer(unit, language))
        slots: dict[str, Artist | None] = {}
        titles = []
        for number, (ax, panel, timeline) in enumerate(zip(grid, panels, timelines, strict=True)):
            handles = _draw_timeline(
                ax,
                timeline,
                words=words,
                grain=grain,
                go_live_label=False,
                markersize=_panel_marker_size(len(timeline.series)),
            )
            for slot, handle in handles.items():
                if slots.get(slot) is None:
                    slots[slot] = handle
            titles.append(_panel_title(ax, str(panel["site"]), columns))
            # Periods under each column's lowest panel, values left of each row's first one;
            # no ticks elsewhere: a tick costs a line and two texts to make and draw.
            if _has_panel_below(number, columns, len(grid)):
                _no_ticks(ax.xaxis)
            if number % columns:
                _no_ticks(ax.yaxis)
            # Fixed (and unused) axis label places: matplotlib would otherwise measure the
            # tick labels again at every draw to keep the empty labels clear of them.
            ax.xaxis.set_label_coords(0.5, 0.0)
            ax.yaxis.set_label_coords(0.0, 0.5)
        unit_text = fig.text(
            style.MARGIN_PX / fig.bbox.width,
            0.5,
            formatting.unit_label(unit, language),
            rotation=90,
            ha="left",
            va="center",
            color=style.MUTED,
            fontsize=style.FONT_SIZE,
            gid="unit",
            parse_math=False,
        )
        handles = [slots.get("before_mean"), _go_live_handle(words["go_live"])]
        handles += [
            slots.get(slot)
            for slot in ("roll_out", "site_go_live", "ramp_up", "after_mean", "counterfactual")
        ]
        handles.append(slots.get("target"))
        style.add_legend(fig, [handle for handle in handles if handle is not None])
        margins = _panel_margins(fig, grid, titles, columns, unit_text)
        ax_height, ax_width = _place_panels(fig, grid, columns, margins, unit_text)
        notes = [text for ax in grid for text in ax.texts if text.get_gid() == "change_text"]
        headroom = _place_notes(fig, notes, ax_width, ax_height)
        grid[0].set_ylim(*_value_limits(extremes, headroom=headroom))
        _panel_grid(grid, ticks)
    return fig


def site_comparison(
    rows: pd.DataFrame, *, title: str, unit: str, language: str, direction: str
) -> Figure:
    """A dumbbell per site, from the observed before level (hollow grey dot) to the observed
    after level (dot coloured by verdict), the model's level without the transformation as a
    grey bar where there is one, best effect on top, the change written on the right.

    `rows` has columns site, before, after, change, basis and verdict, and optionally
    counterfactual (the after side's level without the transformation, in the KPI's unit).
    `change` is in percent when `basis` is "relative", else in the KPI's unit (points for a
    rate, `unit` "pct"). `direction` is "higher_is_better" or "lower_is_better" and decides
    which change is best.
    """
    words = _words(language)
    table = rank_sites(rows, direction)
    with style.chart_style():
        fig, ax = style.new_figure(height_in=_rows_height(len(table)))
        style.set_title(fig, title)
        y = _row_positions(len(table))
        counterfactual = _dumbbells(ax, y, table)
        for position, row in zip(y, table.to_dict("records"), strict=True):
            if _finite(row["change"]) and row["verdict"] != INSUFFICIENT:
                _row_note(ax, position, change_label(row, unit, language))
            else:
                _row_note(ax, position, words["insufficient"], muted=True)
        _category_axis(ax, y, table["site"].astype(str).tolist())
        levels = [*pd.to_numeric(table["before"]), *pd.to_numeric(table["after"])]
        if "counterfactual" in table:
            levels += list(pd.to_numeric(table["counterfactual"]))
        ax.set_xlim(*_value_limits(levels, headroom=0.0, margin=0.08))
        _value_axis(ax.xaxis, _unit_renderer(unit, language), ticks=7)
        ax.set_xlabel(formatting.unit_label(unit, language))
        _align_notes(ax)
        verdicts = _present_verdicts(table["verdict"])
        handles = [
            _dot_handle(style.BEFORE, words["before"], hollow=True),
            *(_dot_handle(style.VERDICT_COLOURS[v], words[f"after_{v}"]) for v in verdicts),
        ]
        if counterfactual:
            handles.append(_bar_handle(words["counterfactual_dot"]))
        _finish(fig, handles)
    return fig


def change_label(row: Mapping[str, object], unit: str, language: str) -> str:
    """A change as the charts write it: `+12,0 %` when `row["basis"]` is relative, else in
    the KPI's unit: `+3,0 pts` for a rate, `+1 234 €`, `+0,05 unités/h`."""
    value = float(row["change"])
    if row.get("basis") == "relative":
        return formatting.percent(value, language, signed=True)
    return formatting.signed_level(value, unit, language)


def treated_vs_controls(
    treated: pd.Series,
    controls: pd.Series,
    *,
    title: str,
    language: str,
    grain: str,
    go_live: pd.Timestamp,
    site_go_lives: Sequence[pd.Timestamp] = (),
) -> Figure:
    """The transformed sites and the control sites on one scale: each series divided by its
    mean over the (up to) 12 periods before go-live, times 100. With `site_go_lives` on two
    or more dates (a staggered roll-out), the roll-out is shaded and named and each site's
    go-live marked, instead of one go-live line.

    Raises ValueError when a series has no positive mean before go-live to index on.
    """
    words = _words(language)
    go_live = pd.Timestamp(go_live)
    index = _period_series(treated).index.union(_period_series(controls).index)
    indexed = [
        (
            index_to_base(_period_series(treated).reindex(index), go_live, grain),
            style.AFTER,
            words["treated"],
            "treated",
        ),
        (
            index_to_base(_period_series(controls).reindex(index), go_live, grain),
            style.CONTROL,
            words["controls"],
            "controls",
        ),
    ]
    with style.chart_style():
        fig, ax = style.new_figure()
        style.set_title(fig, title)
        x = _date_numbers(index)
        handles: list[Artist] = []
        for series, colour, label, gid in indexed:
            _draw_series(
                ax,
                x,
                series.to_numpy(),
                colour,
                # Two dense lines read better without dots: the index, not each period, matters.
                markersize=_marker_size(len(x), dense=0.0),
                linewidth=2.0,
                gid=gid,
            )
            handles.append(_line_handle(colour, label, width=2.0))
        ax.axhline(100.0, color="#BDBDBD", linewidth=1.0, zorder=1)
        go_lives = sorted({pd.Timestamp(day) for day in site_go_lives})
        if len(go_lives) > 1:
            first, last = go_lives[0], go_lives[-1]
            handles.append(
                _shade(ax, first, last, style.ROLL_OUT, words["roll_out"], gid="roll_out")
            )
            handles.append(_site_go_lives(ax, go_lives, words["site_go_live"]))
            middle = (_date_number(first) + _date_number(last)) / 2
            _above_plot(ax, middle, words["roll_out"], gid="roll_out_label")
        else:
            _go_live_line(ax, go_live, words["go_live"])
        _corner_note(ax, words["index"], gid="index_note", emphasis=False)
        extremes = [100.0, *(value for series, *_ in indexed for value in series)]
        ax.set_ylim(*_value_limits(extremes, headroom=HEADROOM))
        _value_axis(ax.yaxis, lambda value, decimals: formatting.number(value, language, decimals))
        ax.set_ylabel(words["index_axis"])
        _period_axis(ax, index, grain, language)
        _finish(fig, handles)
    return fig


def executive_summary(rows: pd.DataFrame, *, title: str, language: str) -> Figure:
    """Every KPI's change after go-live on one row: a dot at the change, its 95 % interval as
    an error bar, coloured by verdict; the change written at the right of the row.

    `rows` has columns label, change, ci_low, ci_high, verdict, basis ("relative": change in
    percent; "absolute": in the KPI's unit, points for a rate) and unit (the KPI's; a row
    without one is taken for a rate). Rows keep their order, first on top; an
    insufficient_data row shows the words instead of a dot. Both bases share the axis (a
    relative change in % and a rate's change in points are of a like size); the axis label
    says which is which and each row's text gives its unit.
    """
    words = _words(language)
    records = rows.reset_index(drop=True).to_dict("records")
    usable = [not _insufficient(row) for row in records]
    with style.chart_style():
        fig, ax = style.new_figure(height_in=_rows_height(len(records)))
        style.set_title(fig, title)
        y = _row_positions(len(records))
        extremes: list[object] = [0.0]
        if not records:
            _insufficient_note(ax, -0.5, words["insufficient"])
            ax.tick_params(axis="x", labelbottom=False, bottom=False)
        for position, row, ok in zip(y, records, usable, strict=True):
            if not ok:
                _insufficient_note(ax, position, words["insufficient"])
                continue
            _row_note(ax, position, _summary_change(row, language))
            extremes.extend([row["change"], row.get("ci_low"), row.get("ci_high")])
        _change_dots(ax, y, records, usable)
        ax.axvline(0.0, color=style.TEXT, linewidth=1.0, zorder=1)
        _category_axis(ax, y, [str(row["label"]) for row in records])
        ax.set_xlim(*_value_limits(extremes, headroom=0.0, margin=0.1))
        relative = all(row["basis"] == "relative" for row in records)
        _value_axis(ax.xaxis, _change_renderer(relative, language), ticks=7)
        ax.set_xlabel(_change_axis_label(records, words))
        _align_notes(ax)
        verdicts = [row["verdict"] for row, ok in zip(records, usable, strict=True) if ok]
        present = _present_verdicts(pd.Series(verdicts, dtype=object))
        _finish(fig, [_dot_handle(style.VERDICT_COLOURS[v], words[v]) for v in present])
    return fig


def rank_sites(rows: pd.DataFrame, direction: str) -> pd.DataFrame:
    """The sites best effect first ("best" per `direction`), sites without a change last."""
    if direction not in ("higher_is_better", "lower_is_better"):
        raise ValueError(f"unknown direction {direction!r}")
    sign = 1.0 if direction == "higher_is_better" else -1.0
    effect = sign * pd.to_numeric(rows["change"], errors="coerce")
    order = effect.sort_values(ascending=False, na_position="last", kind="stable").index
    return rows.loc[order].reset_index(drop=True)


def index_to_base(series: pd.Series, go_live: pd.Timestamp, grain: str) -> pd.Series:
    """`series` as 100 × value / its mean over the (up to) 12 periods before go-live."""
    start = go_live - _periods_offset(INDEX_BASE_PERIODS, grain)
    base_window = series[(series.index >= start) & (series.index < go_live)]
    base = float(base_window.mean())
    if not math.isfinite(base) or base <= 0:
        raise ValueError("no positive mean before go-live to index the series on")
    return 100.0 * series / base


class _ValueFormatter(Formatter):
    """Tick labels through a formatting function, all with the decimals the ticks need."""

    def __init__(self, render: Callable[[float, int], str]) -> None:
        self._render = render
        self._decimals = 0
        # Matplotlib formats the same ticks several times per draw; Babel is not free.
        self._texts: dict[tuple[float, int], str] = {}

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self._text(x, self._decimals)

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        self._decimals = _common_decimals(values)
        return [self._text(v, self._decimals) for v in values]

    def _text(self, value: float, decimals: int) -> str:
        key = (float(value), decimals)
        if key not in self._texts:
            self._texts[key] = self._render(value, decimals)
        return self._texts[key]


def _common_decimals(values: Sequence[float]) -> int:
    """The fewest decimals that write every tick exactly (0.5, 0.75 -> 2)."""
    for decimals in range(6):
        scale = 10**decimals
        if all(abs(v * scale - round(v * scale)) < 1e-6 for v in values):
            return decimals
    return 6


def _unit_renderer(unit: str, language: str) -> Callable[[float, int], str]:
    """Value tick labels: `12 %` for a rate, plain numbers otherwise (the axis label says
    the unit)."""
    if unit == "pct":
        return lambda value, decimals: formatting.percent(value, language, decimals)
    return lambda value, decimals: formatting.number(value, language, decimals)


def _change_renderer(relative: bool, language: str) -> Callable[[float, int], str]:
    if relative:
        return lambda value, decimals: formatting.percent(value, language, decimals, signed=True)
    return lambda value, decimals: formatting.signed_number(value, language, decimals=decimals)


def _words(language: str) -> dict[str, str]:
    """The charts' fixed words in `language` (`chart_words` of `reports/strings.yaml`)."""
    formatting.locale_of(language)
    return strings(language)["chart_words"]


def _period_series(values: pd.Series) -> pd.Series:
    """Float values on a sorted DatetimeIndex of period starts (ValueError when empty)."""
    if len(values) == 0:
        raise ValueError("no values to chart")
    index = pd.DatetimeIndex(pd.to_datetime(values.index))
    series = pd.Series(pd.to_numeric(values.to_numpy(), errors="coerce"), index=index)
    return series.astype(float).sort_index()


def _date_numbers(index: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(mdates.date2num(pd.DatetimeIndex(index).to_numpy()), dtype=float)


def _date_number(stamp: pd.Timestamp) -> float:
    return float(mdates.date2num(pd.Timestamp(stamp).to_datetime64()))


def _half_period(grain: str) -> float:
    """Half a period in days (matplotlib date units): the air left at each end of the x axis."""
    return 16.0 if grain == "month" else 4.0


def _periods_offset(count: int, grain: str) -> pd.DateOffset:
    if grain == "month":
        return pd.DateOffset(months=count)
    if grain == "week":
        return pd.DateOffset(weeks=count)
    raise ValueError(f"unknown grain {grain!r}, expected 'month' or 'week'")


def _finish(fig: Figure, handles: list[Artist]) -> None:
    style.add_legend(fig, handles)
    style.fix_layout(fig)


@dataclass(frozen=True)
class _Timeline:
    """What a timeline shows (see `kpi_timeline`)."""

    series: pd.Series
    go_live: pd.Timestamp
    after_start: pd.Timestamp
    before_mean: float | None
    after_mean: float | None
    change_text: str
    target: float | None
    before_start: pd.Timestamp | None = None
    before_end: pd.Timestamp | None = None
    counterfactual: float | None = None
    counterfactual_band: tuple[float, float] | None = None
    counterfactual_series: pd.DataFrame | None = None
    level_labels: Mapping[str, str] = field(default_factory=dict)
    site_go_lives: tuple[pd.Timestamp, ...] = ()

    @classmethod
    def of_panel(cls, panel: Mapping[str, object]) -> "_Timeline":
        """A panel of `site_timelines` (or `kpi_timeline`'s arguments); a missing number
        (None, NaN) as None."""
        values = panel["values"]
        if not isinstance(values, pd.Series):
            raise TypeError(f"a panel's values are a pandas Series, not {type(values).__name__}")
        return cls(
            _period_series(values),
            pd.Timestamp(panel["go_live"]),
            pd.Timestamp(panel["after_start"]),
            _optional_number(panel.get("before_mean")),
            _optional_number(panel.get("after_mean")),
            str(panel["change_text"]),
            _optional_number(panel.get("target")),
            _optional_stamp(panel.get("before_start")),
            _optional_stamp(panel.get("before_end")),
            _optional_number(panel.get("counterfactual")),
            _optional_band(panel.get("counterfactual_band")),
            _counterfactual_frame(panel.get("counterfactual_series")),
            dict(panel.get("level_labels") or {}),
            tuple(sorted({pd.Timestamp(day) for day in panel.get("site_go_lives") or ()})),
        )

    @property
    def staggered(self) -> bool:
        """Whether the sites went live on several dates (a client total's roll-out)."""
        return len(self.site_go_lives) > 1

    def extremes(self) -> list[object]:
        """The values the y limits must hold."""
        levels = [self.before_mean, self.after_mean, self.target, self.counterfactual]
        levels += list(self.counterfactual_band or ())
        if self.counterfactual_series is not None:
            for column in ("expected", "low", "high"):
                levels += list(self.counterfactual_series[column].to_numpy())
        return [*self.series.to_numpy(), *levels]


def _draw_timeline(
    ax: Axes,
    timeline: _Timeline,
    *,
    words: dict[str, str],
    grain: str,
    go_live_label: bool,
    markersize: float | None = None,
) -> dict[str, Artist | None]:
    """A timeline's artists on `ax` (see `kpi_timeline`); its legend handles by kind, None
    for what is not drawn. The go-live line (or the roll-out) is labelled above the plot when
    `go_live_label`; markers are sized for the number of periods unless `markersize` is given."""
    series, go_live, after_start = timeline.series, timeline.go_live, timeline.after_start
    x = _date_numbers(series.index)
    if markersize is None:
        markersize = _marker_size(len(x))
    _draw_series(ax, x, series.to_numpy(), style.SERIES, markersize=markersize)
    pad = _half_period(grain)
    before_end = timeline.before_end or go_live
    on_before = series.index < before_end
    if timeline.before_start is not None:
        on_before &= series.index >= timeline.before_start
    before = _span(x[on_before], pad)
    after = _span(x[series.index >= after_start], pad)
    handles: dict[str, Artist | None] = {
        "before_mean": _level(
            ax, before, timeline.before_mean, style.BEFORE, words["before_mean"], "before_mean"
        )
    }
    if timeline.staggered:
        first, last = timeline.site_go_lives[0], timeline.site_go_lives[-1]
        handles["roll_out"] = _shade(
            ax, first, last, style.ROLL_OUT, words["roll_out"], gid="roll_out"
        )
        handles["site_go_live"] = _site_go_lives(ax, timeline.site_go_lives, words["site_go_live"])
        handles["ramp_up"] = _shade(
            ax, max(last, go_live), after_start, style.RAMP_UP, words["ramp_up"], gid="ramp_up"
        )
        if go_live_label:
            _above_plot(
                ax,
                (_date_number(first) + _date_number(last)) / 2,
                words["roll_out"],
                gid="roll_out_label",
            )
    else:
        handles["ramp_up"] = _shade(
            ax, go_live, after_start, style.RAMP_UP, words["ramp_up"], gid="ramp_up"
        )
        _go_live_line(ax, go_live, words["go_live"] if go_live_label else None)
    handles["after_mean"] = _level(
        ax, after, timeline.after_mean, style.AFTER, words["after_mean"], "after_mean"
    )
    handles["counterfactual"] = _counterfactual(ax, after, timeline, words["counterfactual"])
    handles["target"] = _target_line(ax, timeline.target, words["target"])
    _level_labels(ax, timeline, before, after)
    _corner_note(ax, timeline.change_text, gid="change_text", emphasis=True)
    return handles


def _counterfactual(
    ax: Axes, span: tuple[float, float] | None, timeline: _Timeline, label: str
) -> Patch | None:
    """The model's level without the transformation, dashed, in its 95 % band: per period
    when the timeline has them, else flat over the after periods; its legend handle."""
    frame = timeline.counterfactual_series
    if frame is not None:
        x = _date_numbers(frame.index)
        expected = frame["expected"].to_numpy(dtype=float)
        low = frame["low"].to_numpy(dtype=float)
        high = frame["high"].to_numpy(dtype=float)
    elif timeline.counterfactual is not None and span is not None:
        x = np.array(span, dtype=float)
        expected = np.full(2, timeline.counterfactual)
        band = timeline.counterfactual_band
        low, high = (np.full(2, min(band)), np.full(2, max(band))) if band else (None, None)
    else:
        return None
    if low is not None and high is not None:
        ax.fill_between(
            x,
            low,
            high,
            facecolor=style.COUNTERFACTUAL,
            alpha=BAND_ALPHA,
            edgecolor="none",
            zorder=2,
            gid="counterfactual_band",
        )
    ax.plot(
        x,
        expected,
        color=style.COUNTERFACTUAL,
        linestyle=DASHES,
        linewidth=2.2,
        zorder=4,
        gid="counterfactual",
    )
    return Patch(
        facecolor=mpl.colors.to_rgba(style.COUNTERFACTUAL, BAND_ALPHA),
        edgecolor=style.COUNTERFACTUAL,
        linestyle=(0, (3, 2)),
        linewidth=1.5,
        label=label,
    )


def _level_labels(
    ax: Axes,
    timeline: _Timeline,
    before: tuple[float, float] | None,
    after: tuple[float, float] | None,
) -> None:
    """The key table's number beside each level, at the right end of its segment: above the
    line, or under it for the lower of the after level and the level without the
    transformation, so that the two never cover each other."""
    labels = timeline.level_labels
    if before is not None and timeline.before_mean is not None and labels.get("before_mean"):
        _level_label(
            ax,
            before[1],
            timeline.before_mean,
            labels["before_mean"],
            style.BEFORE,
            above=True,
            gid="before_mean_value",
        )
    if after is None:
        return
    counterfactual = timeline.counterfactual
    counterfactual_x = after[1]
    frame = timeline.counterfactual_series
    if frame is not None and len(frame):
        counterfactual_x = float(_date_numbers(frame.index)[-1])
        counterfactual = float(frame["expected"].iloc[-1])
    after_on_top = (
        counterfactual is None
        or timeline.after_mean is None
        or timeline.after_mean >= counterfactual
    )
    if timeline.after_mean is not None and labels.get("after_mean"):
        _level_label(
            ax,
            after[1],
            timeline.after_mean,
            labels["after_mean"],
            style.AFTER,
            above=after_on_top,
            gid="after_mean_value",
        )
    if counterfactual is not None and labels.get("counterfactual"):
        _level_label(
            ax,
            counterfactual_x,
            counterfactual,
            labels["counterfactual"],
            style.COUNTERFACTUAL,
            above=not after_on_top,
            gid="counterfactual_value",
        )


def _level_label(
    ax: Axes, x: float, y: float, text: str, colour: str, *, above: bool, gid: str
) -> None:
    ax.annotate(
        text,
        (x, y),
        xytext=(0, 4 if above else -4),
        textcoords="offset points",
        ha="right",
        va="bottom" if above else "top",
        color=colour,
        fontweight="bold",
        zorder=7,
        bbox={
            "boxstyle": "square,pad=0.1",
            "facecolor": "white",
            "edgecolor": "none",
            "alpha": 0.8,
        },
        annotation_clip=False,
        gid=gid,
    )


def _site_go_lives(ax: Axes, go_lives: Sequence[pd.Timestamp], label: str) -> Line2D:
    """Each site's go-live as a tick standing on the period axis; its legend handle."""
    x = _date_numbers(pd.DatetimeIndex(go_lives))
    marker = {
        "linestyle": "none",
        "marker": SITE_GO_LIVE_MARKER,
        "markersize": SITE_GO_LIVE_SIZE,
        "markeredgewidth": 2.0,
        "markeredgecolor": style.TEXT,
        "markerfacecolor": "none",
    }
    ax.plot(x, np.zeros(len(x)), transform=ax.get_xaxis_transform(), clip_on=False, zorder=6,
            gid="site_go_live", **marker)  # fmt: skip
    return Line2D([], [], label=label, **marker)


def _panel_value_ticks(
    grid: list[Axes], extremes: list[object], render: Callable[[float, int], str]
) -> np.ndarray:
    """The panels' shared y ticks, and return them.

    They cover the values only, not the headroom above them where the boxes are: fewer tick
    labels to draw, none beside a box, and the same ticks whatever the headroom, so the
    layout measured before the headroom is known holds; none at the very bottom either, where
    a label would touch the periods' labels.
    """
    bottom, top = _value_limits(extremes, headroom=0.0, margin=VALUE_MARGIN / 2)
    ticks = MaxNLocator(nbins=PANEL_Y_TICKS, steps=VALUE_STEPS).tick_values(bottom, top)
    ticks = ticks[(ticks >= bottom) & (ticks <= top)]
    grid[0].yaxis.set_major_locator(FixedLocator(ticks))
    grid[0].yaxis.set_major_formatter(_ValueFormatter(render))
    return ticks


def _panel_grid(grid: list[Axes], ticks: np.ndarray) -> None:
    """The horizontal grid at the y ticks, in every panel, whether it has y ticks or not."""
    for ax in grid:
        ax.yaxis.grid(False)
        lines = LineCollection(
            [[(0.0, tick), (1.0, tick)] for tick in ticks],
            transform=ax.get_yaxis_transform(),
            colors=style.GRID,
            linewidths=mpl.rcParams["grid.linewidth"],
            zorder=0.5,
            gid="grid",
        )
        ax.add_collection(lines, autolim=False)


def _no_ticks(axis: Axis) -> None:
    """No tick on a shared axis: a tick machinery of its own (the limits stay shared)."""
    axis.major = Ticker()
    axis.set_major_locator(NullLocator())
    axis.set_major_formatter(NullFormatter())


def _panel_figure(rows: int, columns: int, count: int) -> tuple[Figure, list[Axes]]:
    """An 8 in wide figure (Agg canvas, no layout engine) with `count` panels on a grid, the
    first row on top, all sharing the first panel's x and y limits."""
    height = rows * PANEL_ROW_HEIGHT_IN + PANEL_FRAME_HEIGHT_IN
    fig = Figure(figsize=(style.WIDTH_IN, height), dpi=style.DPI, layout="none")
    FigureCanvasAgg(fig)
    first = fig.add_subplot(rows, columns, 1)
    grid = [first]
    for number in range(2, count + 1):
        grid.append(fig.add_subplot(rows, columns, number, sharex=first, sharey=first))
    return fig, grid


def _panel_title(ax: Axes, site: str, columns: int) -> Text:
    """The site's name over its panel, bold, wrapped when it would overflow the panel."""
    room = ax.figure.bbox.width / columns - PANEL_TITLE_ALLOWANCE_PX
    text = ax.set_title(
        site,
        fontsize=style.EMPHASIS_SIZE,
        fontweight="bold",
        color=style.TEXT,
        loc="left",
        # A fixed place: matplotlib would otherwise measure the panel's y axis at every
        # draw to keep the title clear of it.
        y=1.0,
        parse_math=False,
    )
    renderer = ax.figure.canvas.get_renderer()
    characters = LABEL_WRAP
    while text.get_window_extent(renderer).width > room and characters >= style.MIN_WRAP:
        text.set_text(
            textwrap.fill(site, characters, break_long_words=False, break_on_hyphens=False)
        )
        characters -= 4
    return text


def _panel_period_axis(ax: Axes, index: pd.DatetimeIndex, grain: str, language: str) -> None:
    """Three or four period ticks: the years when the ticks fall on year starts (four such
    short labels fit a panel), else three months or weeks."""
    first, last = index.min(), index.max()
    ticks = tick_periods(first, last, grain, most=PANEL_X_TICKS)
    if _year_starts(ticks, grain):
        labels = [str(_year_of(t, grain)) for t in ticks]
    else:
        ticks = tick_periods(first, last, grain, most=PANEL_MONTH_TICKS)
        labels = [formatting.period(t, grain, language) for t in ticks]
    ax.set_xticks(_date_numbers(pd.DatetimeIndex(ticks)), labels=labels)
    pad = _half_period(grain)
    ax.set_xlim(_date_number(first) - pad, _date_number(last) + pad)


def _year_starts(ticks: list[pd.Timestamp], grain: str) -> bool:
    if len(ticks) < 2:
        return False
    if grain == "month":
        return all(t.month == 1 for t in ticks)
    return all(t.isocalendar().week == 1 for t in ticks)


def _year_of(period: pd.Timestamp, grain: str) -> int:
    return period.year if grain == "month" else period.isocalendar().year


def _panel_marker_size(points: int) -> float:
    return _marker_size(points) if points <= PANEL_DENSE_POINTS else PANEL_DENSE_MARKER


def _go_live_handle(label: str) -> Line2D:
    """The go-live line in a legend: a short dashed vertical line, drawn as a marker."""
    return Line2D(
        [],
        [],
        linestyle="none",
        marker=GO_LIVE_MARKER,
        markersize=13,
        markeredgewidth=GO_LIVE_WIDTH,
        markeredgecolor=style.TEXT,
        markerfacecolor="none",
        fillstyle="none",
        label=label,
    )


@dataclass
class _PanelMargins:
    """What surrounds the panels' plots, in pixels: the frame (figure title, legend, unit)
    and each column's and row's tick labels and titles."""

    frame_left: float
    frame_top: float
    frame_bottom: float
    left: list[float]
    right: list[float]
    top: list[float]
    bottom: list[float]


def _panel_margins(
    fig: Figure, grid: list[Axes], titles: list[Text], columns: int, unit_text: Text
) -> _PanelMargins:
    """Measure the decorations around the panels once; they do not depend on the panels'
    size. The panels share their ticks, so the last panel's x labels (it is on the bottom
    row) and the first panel's y labels stand for every labelled panel's."""
    renderer = fig.canvas.get_renderer()
    frame_top = frame_bottom = style.MARGIN_PX
    if fig._suptitle is not None:  # get_suptitle() gives the string, not the Text
        frame_top += fig._suptitle.get_window_extent(renderer).height + style.GAP_PX
    for legend in fig.legends:
        frame_bottom += legend.get_window_extent(renderer).height + style.GAP_PX
    frame_left = style.MARGIN_PX + unit_text.get_window_extent(renderer).width + style.GAP_PX / 2
    rows = math.ceil(len(grid) / columns)
    last = grid[-1]
    inner = last.get_window_extent(renderer)
    x_labels = last.xaxis.get_tightbbox(renderer) or inner
    x_left = max(inner.x0 - x_labels.x0, 0.0)
    below = max(inner.y0 - x_labels.y0, 0.0)
    margins = _PanelMargins(
        frame_left,
        frame_top,
        frame_bottom,
        left=[x_left] * columns,
        right=[max(x_labels.x1 - inner.x1, 0.0)] * columns,
        top=[0.0] * rows,
        bottom=[0.0] * rows,
    )
    for number, (ax, title) in enumerate(zip(grid, titles, strict=True)):
        row = number // columns
        if not _has_panel_below(number, columns, len(grid)):
            margins.bottom[row] = below
        if title.get_text():
            overhang = title.get_window_extent(renderer).y1 - ax.get_window_extent(renderer).y1
            margins.top[row] = max(margins.top[row], overhang)
    first = grid[0]
    inner = first.get_window_extent(renderer)
    y_labels = first.yaxis.get_tightbbox(renderer) or inner
    margins.left[0] = max(inner.x0 - y_labels.x0, x_left)
    return margins


def _place_panels(
    fig: Figure, grid: list[Axes], columns: int, margins: _PanelMargins, unit_text: Text
) -> tuple[float, float]:
    """Place every plot, all of the same size, and the unit's label; return a plot's height
    and width in pixels."""
    width, height = fig.bbox.width, fig.bbox.height
    rows = math.ceil(len(grid) / columns)
    spare_x = width - margins.frame_left - style.MARGIN_PX - sum(margins.left) - sum(margins.right)
    ax_width = (spare_x - (columns - 1) * PANEL_GAP_PX) / columns
    spare_y = height - margins.frame_top - margins.frame_bottom
    spare_y -= sum(margins.top) + sum(margins.bottom)
    ax_height = (spare_y - (rows - 1) * PANEL_GAP_PX) / rows
    xs, x = [], margins.frame_left
    for column in range(columns):
        xs.append(x + margins.left[column])
        x += margins.left[column] + ax_width + margins.right[column] + PANEL_GAP_PX
    ys, y = [], height - margins.frame_top
    for row in range(rows):
        ys.append(y - margins.top[row] - ax_height)
        y -= margins.top[row] + ax_height + margins.bottom[row] + PANEL_GAP_PX
    for number, ax in enumerate(grid):
        row, column = divmod(number, columns)
        ax.set_position(
            [xs[column] / width, ys[row] / height, ax_width / width, ax_height / height]
        )
    plots_top = height - margins.frame_top - margins.top[0]
    unit_text.set_y((plots_top + ys[-1]) / 2 / height)
    return ax_height, ax_width


def _has_panel_below(number: int, columns: int, count: int) -> bool:
    return number + columns < count


def _place_notes(fig: Figure, notes: list[Text], ax_width: float, ax_height: float) -> float:
    """Put the box of each panel inside its top-left corner, break every box onto two lines
    (the change, then its interval) when the longest is wider than its panel, so that the
    boxes stay alike from panel to panel; return the headroom (see `_value_limits`) that
    keeps the values under the highest box."""
    renderer = fig.canvas.get_renderer()
    pad = NOTE_PAD * style.EMPHASIS_SIZE * fig.dpi / 72
    inset = pad + NOTE_INSET_PX
    room = ax_width - 2 * inset
    # The longest text stands for the widest: each measure costs a text layout.
    longest = max(notes, key=lambda note: len(note.get_text()))
    if longest.get_window_extent(renderer).width > room:
        for note in notes:
            note.set_text(_two_lines(note.get_text()))
    for note in notes:
        # A text without an interval, wider than its panel (rare): wrapped to fit.
        characters = len(note.get_text())
        while note.get_window_extent(renderer).width > room and characters > style.MIN_WRAP:
            characters -= 5
            note.set_text(textwrap.fill(note.get_text(), characters, break_long_words=False))
    for note in notes:
        # Flush with the plot's top: nothing (go-live line, ramp-up) shows above the box.
        note.set_position((inset / ax_width, 1 - pad / ax_height))
    box = max(note.get_window_extent(renderer).height for note in notes) + 2 * pad
    free = min((box + NOTE_CLEARANCE_PX) / ax_height, 0.8)
    return max((free * (1 + 2 * VALUE_MARGIN) - VALUE_MARGIN) / (1 - free), 0.0)


def _two_lines(text: str) -> str:
    """ "+12,4 % (IC 95 % : …)" as the change, then the interval on a line of its own; a text
    without an interval as it is."""
    head, separator, tail = text.partition(" (")
    return f"{head}\n({tail}" if separator and tail and "\n" not in text else text


def _optional_number(value: object) -> float | None:
    return float(value) if _finite(value) else None


def _optional_stamp(value: object) -> pd.Timestamp | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value)


def _counterfactual_frame(frame: object) -> pd.DataFrame | None:
    """Per-period levels without the transformation (expected, low, high) on a sorted
    DatetimeIndex; None when there are none."""
    if frame is None:
        return None
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"a counterfactual series is a DataFrame, not {type(frame).__name__}")
    if frame.empty:
        return None
    table = frame[["expected", "low", "high"]].astype(float)
    table.index = pd.DatetimeIndex(pd.to_datetime(frame.index))
    return table.sort_index()


def _optional_band(band: object) -> tuple[float, float] | None:
    """A band's low and high, None when missing or not two finite numbers."""
    try:
        low, high = band  # a tuple, a list, an array
    except (TypeError, ValueError):
        return None
    return (float(low), float(high)) if _finite(low) and _finite(high) else None


def _marker_size(points: int, *, dense: float = 3.0) -> float:
    """Markers show the periods (and a lone value between gaps); smaller when there are many."""
    return 4.5 if points <= 40 else dense


def _draw_series(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    colour: str,
    *,
    markersize: float,
    linewidth: float = 1.4,
    gid: str = "values",
) -> Line2D:
    (line,) = ax.plot(
        x,
        y,
        color=colour,
        linewidth=linewidth,
        marker="o",
        markersize=markersize,
        markeredgewidth=0,
        zorder=3,
        gid=gid,
    )
    return line


def _span(x: np.ndarray, pad: float) -> tuple[float, float] | None:
    """From the first to the last of a side's periods; a lone period gets some width."""
    if x.size == 0:
        return None
    start, end = float(x.min()), float(x.max())
    return (start - pad / 2, end + pad / 2) if start == end else (start, end)


def _level(
    ax: Axes,
    span: tuple[float, float] | None,
    level: float | None,
    colour: str,
    label: str,
    gid: str,
) -> Line2D | None:
    """A side's mean as a thick horizontal segment over its periods; its legend handle."""
    if level is None or span is None:
        if level is not None:
            logger.debug("%s %s not drawn: no period on its side", gid, level)
        return None
    ax.plot(
        span,
        [level, level],
        color=colour,
        linewidth=LEVEL_WIDTH,
        solid_capstyle="butt",
        zorder=4,
        gid=gid,
    )
    return _line_handle(colour, label)


def _shade(
    ax: Axes, start: pd.Timestamp, end: pd.Timestamp, colour: str, label: str, *, gid: str
) -> Patch | None:
    """The periods from `start` to `end` shaded (the ramp-up, the roll-out); none when empty."""
    if end <= start:
        return None
    ax.axvspan(
        _date_number(start),
        _date_number(end),
        facecolor=colour,
        edgecolor="none",
        zorder=0,
        gid=gid,
    )
    return Patch(facecolor=colour, label=label)


def _target_line(ax: Axes, target: float | None, label: str) -> Line2D | None:
    if target is None:
        return None
    ax.axhline(target, color=style.TARGET, linestyle=DASHES, linewidth=1.6, zorder=2, gid="target")
    return _line_handle(style.TARGET, label, width=1.6, dashed=True)


def _go_live_line(ax: Axes, go_live: pd.Timestamp, label: str | None) -> None:
    """The go-live as a dashed vertical line, `label` above the plot (none: the legend says it)."""
    x = _date_number(go_live)
    ax.axvline(
        x,
        color=style.TEXT,
        linestyle=GO_LIVE_DASHES,
        linewidth=GO_LIVE_WIDTH,
        zorder=5,
        gid="go_live",
    )
    if label is not None:
        _above_plot(ax, x, label, gid="go_live_label")


def _above_plot(ax: Axes, x: float, label: str, *, gid: str) -> None:
    """`label` centred on `x`, above the plot, where neither the data nor the top-left note
    can be."""
    ax.text(
        x,
        1.015,
        label,
        transform=blended_transform_factory(ax.transData, ax.transAxes),
        ha="center",
        va="bottom",
        color=style.TEXT,
        clip_on=False,
        gid=gid,
    )


def _corner_note(ax: Axes, text: str, *, gid: str, emphasis: bool) -> None:
    """A note in the top-left corner, in the headroom the y limits leave free, on white so
    the go-live line passes behind it."""
    box = {"boxstyle": f"round,pad={NOTE_PAD}", "facecolor": "white"}
    box["edgecolor"] = "#C8C8C8" if emphasis else "none"
    ax.text(
        NOTE_X,
        NOTE_Y,
        text,
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=style.EMPHASIS_SIZE if emphasis else style.FONT_SIZE,
        fontweight="bold" if emphasis else "normal",
        color=style.TEXT if emphasis else style.MUTED,
        zorder=6,
        bbox=box,
        gid=gid,
        parse_math=False,
    )


def _value_limits(
    values: Sequence[object], *, headroom: float, margin: float = VALUE_MARGIN
) -> tuple[float, float]:
    """Axis limits around the finite `values`, with `headroom` of their range left on top."""
    finite = np.array([float(v) for v in values if _finite(v)], dtype=float)
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    spread = high - low or (abs(high) * 0.1 or 1.0)
    return low - margin * spread, high + (margin + headroom) * spread


def _value_axis(axis: Axis, render: Callable[[float, int], str], *, ticks: int = 5) -> None:
    axis.set_major_locator(MaxNLocator(nbins=ticks, steps=VALUE_STEPS))
    axis.set_major_formatter(_ValueFormatter(render))


def _period_axis(ax: Axes, index: pd.DatetimeIndex, grain: str, language: str) -> None:
    """A few period ticks on calendar steps (every quarter, every year...), the rest bare."""
    ticks = tick_periods(index.min(), index.max(), grain)
    ax.set_xticks(
        _date_numbers(pd.DatetimeIndex(ticks)),
        labels=[formatting.period(t, grain, language) for t in ticks],
    )
    pad = _half_period(grain)
    ax.set_xlim(_date_number(index.min()) - pad, _date_number(index.max()) + pad)


def tick_periods(
    first: pd.Timestamp, last: pd.Timestamp, grain: str, *, most: int = MAX_X_TICKS
) -> list[pd.Timestamp]:
    """At most `most` period starts from first to last, on the finest calendar step that fits:
    monthly ticks fall on months 1, 4, 7, 10 for a quarterly step; weekly ones on ISO weeks
    1, 14, 27, 40 for a 13-week step."""
    frequency = {"month": "MS", "week": "W-MON"}.get(grain)
    if frequency is None:
        raise ValueError(f"unknown grain {grain!r}, expected 'month' or 'week'")
    periods = pd.date_range(first, last, freq=frequency)
    ticks: list[pd.Timestamp] = list(periods)
    for step in MONTH_STEPS if grain == "month" else WEEK_STEPS:
        ticks = [p for p in periods if _on_step(p, grain, step)]
        if len(ticks) <= most:
            break
    return ticks or list(periods[:1])


def _on_step(period: pd.Timestamp, grain: str, step: int) -> bool:
    if grain == "month":
        return (period.year * 12 + period.month - 1) % step == 0
    iso = period.isocalendar()
    if iso.week == 53:  # would sit one week from week 1 on every step but the weekly one
        return step == 1
    if step <= 52:
        return (iso.week - 1) % step == 0
    return iso.week == 1 and iso.year % (step // 52) == 0


def _line_handle(
    colour: str, label: str, *, width: float = LEVEL_WIDTH, dashed: bool = False
) -> Line2D:
    linestyle = DASHES if dashed else "-"
    return Line2D([], [], color=colour, linewidth=width, linestyle=linestyle, label=label)


def _dot_handle(colour: str, label: str, *, hollow: bool = False) -> Line2D:
    return Line2D(
        [],
        [],
        linestyle="none",
        marker="o",
        markersize=8,
        markerfacecolor="white" if hollow else colour,
        markeredgecolor=colour,
        markeredgewidth=1.8 if hollow else 0.0,
        label=label,
    )


def _rows_height(count: int) -> float:
    return max(MIN_ROWS_HEIGHT_IN, ROW_HEIGHT_IN * count + FRAME_HEIGHT_IN)


def _row_positions(count: int) -> np.ndarray:
    """y of each row, the first row on top."""
    return np.arange(count, dtype=float)[::-1]


def _category_axis(ax: Axes, y: np.ndarray, labels: list[str]) -> None:
    wrapped = [textwrap.fill(label, LABEL_WRAP, break_long_words=False) for label in labels]
    ax.set_yticks(y, labels=wrapped, parse_math=False)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", visible=True)
    ax.spines["left"].set_visible(False)


def _row_note(ax: Axes, y: float, text: str, *, muted: bool = False) -> None:
    """A row's change, in a column at the right of the plot (see `_align_notes`)."""
    ax.text(
        1.0,
        y,
        text,
        transform=_note_transform(ax, NOTE_OFFSET_PT),
        ha="left",
        va="center",
        fontweight="normal" if muted else "bold",
        fontstyle="italic" if muted else "normal",
        color=style.MUTED if muted else style.TEXT,
        clip_on=False,
        gid="muted_note" if muted else "change",
    )


def _align_notes(ax: Axes) -> None:
    """Right-align the changes of the column so that their units line up; the words of a
    row without a change stay left-aligned."""
    notes = [text for text in ax.texts if text.get_gid() == "change"]
    if not notes:
        return
    renderer = ax.figure.canvas.get_renderer()
    widest = max(note.get_window_extent(renderer).width for note in notes)
    right = NOTE_OFFSET_PT + widest * 72 / ax.figure.dpi
    for note in notes:
        note.set_horizontalalignment("right")
        note.set_transform(_note_transform(ax, right))


def _note_transform(ax: Axes, offset_pt: float) -> Transform:
    # An offset in points from the plot's right edge: the column's overhang does not depend
    # on the plot's width, so one layout pass places it.
    return offset_copy(
        blended_transform_factory(ax.transAxes, ax.transData),
        ax.figure,
        x=offset_pt,
        units="points",
    )


def _insufficient_note(ax: Axes, y: float, text: str) -> None:
    """The words in the middle of an empty row, on white over the zero line."""
    ax.text(
        0.5,
        y,
        text,
        ha="center",
        va="center",
        transform=blended_transform_factory(ax.transAxes, ax.transData),
        color=style.MUTED,
        fontstyle="italic",
        zorder=4,
        gid="insufficient",
        bbox={"boxstyle": "square,pad=0.2", "facecolor": "white", "edgecolor": "none"},
    )


def _dumbbells(ax: Axes, y: np.ndarray, table: pd.DataFrame) -> bool:
    """One bar per row from before to after, a hollow dot at before, a dot by verdict at after,
    a grey bar at the level without the transformation: one artist per kind (and per
    verdict), not per row. Whether any row has a level without the transformation."""
    before = pd.to_numeric(table["before"], errors="coerce").to_numpy(float)
    after = pd.to_numeric(table["after"], errors="coerce").to_numpy(float)
    ax.hlines(y, before, after, color="#CFCFCF", linewidth=3.0, zorder=2)
    ax.plot(
        before,
        y,
        linestyle="none",
        marker="o",
        markersize=9,
        markerfacecolor="white",
        markeredgecolor=style.BEFORE,
        markeredgewidth=1.8,
        zorder=3,
        gid="before",
    )
    verdicts = table["verdict"].astype(str).to_numpy()
    for verdict in dict.fromkeys(verdicts):
        rows = verdicts == verdict
        ax.plot(
            after[rows],
            y[rows],
            linestyle="none",
            marker="o",
            markersize=10,
            color=_verdict_colour(verdict),
            zorder=4,
            gid=f"after:{verdict}",
        )
    if "counterfactual" not in table:
        return False
    counterfactual = pd.to_numeric(table["counterfactual"], errors="coerce").to_numpy(float)
    shown = np.isfinite(counterfactual)
    if not shown.any():
        return False
    ax.plot(
        counterfactual[shown],
        y[shown],
        linestyle="none",
        marker="|",
        markersize=18,
        markeredgewidth=3.0,
        color=style.COUNTERFACTUAL,
        zorder=3.5,
        gid="counterfactual",
    )
    return True


def _bar_handle(label: str) -> Line2D:
    """The level without the transformation in the dumbbell's legend."""
    return Line2D(
        [],
        [],
        linestyle="none",
        marker="|",
        markersize=14,
        markeredgewidth=3.0,
        color=style.COUNTERFACTUAL,
        label=label,
    )


def _change_dots(ax: Axes, y: np.ndarray, records: list[dict], usable: list[bool]) -> None:
    """A dot at each change and its 95 % interval as an error bar, one artist per verdict."""
    rows = [(position, row) for position, row, ok in zip(y, records, usable, strict=True) if ok]
    for verdict in dict.fromkeys(str(row["verdict"]) for _, row in rows):
        group = [(position, row) for position, row in rows if str(row["verdict"]) == verdict]
        change = np.array([float(row["change"]) for _, row in group])
        low = np.array([_number(row.get("ci_low")) for _, row in group])
        high = np.array([_number(row.get("ci_high")) for _, row in group])
        container = ax.errorbar(
            change,
            [position for position, _ in group],
            xerr=[np.maximum(change - low, 0.0), np.maximum(high - change, 0.0)],
            fmt="o",
            markersize=10,
            color=_verdict_colour(verdict),
            elinewidth=2.5,
            capsize=5,
            capthick=2.0,
            zorder=3,
        )
        container.lines[0].set_gid(f"change:{verdict}")
        for bars in container.lines[2]:
            bars.set_gid(f"interval:{verdict}")


def _summary_change(row: dict, language: str) -> str:
    unit = row.get("unit")
    return change_label(row, unit if isinstance(unit, str) else "pct", language)


def _change_axis_label(records: list[dict], words: dict[str, str]) -> str:
    """The summary's x label with its unit: %, points, or both (points for the rates)."""
    kinds = set()
    for row in records:
        unit = row.get("unit")
        if row["basis"] == "relative":
            kinds.add("percent")
        elif not isinstance(unit, str) or unit == "pct":
            kinds.add("points")
        else:
            kinds.add("unit")
    if "unit" in kinds:
        unit = words["unit_mixed"]
    elif kinds == {"points"}:
        unit = words["points_axis"]
    elif "points" in kinds:
        unit = words["mixed_units"]
    else:
        unit = words["percent_axis"]
    return f"{words['change_axis']} ({unit})"


def _insufficient(row: dict) -> bool:
    return row["verdict"] == INSUFFICIENT or not _finite(row["change"])


def _present_verdicts(verdicts: pd.Series) -> list[str]:
    seen = set(verdicts.astype(str))
    return [v for v in VERDICT_ORDER if v in seen]


def _verdict_colour(verdict: object) -> str:
    return style.VERDICT_COLOURS.get(str(verdict), style.NEUTRAL)


def _number(value: object) -> float:
    """The value as a float, NaN when missing or not a number."""
    return float(value) if _finite(value) else math.nan


def _finite(value: object) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
