"""One look for every chart of the report: colours, fonts, sizes, figure and PNG output.

Colours follow the Okabe–Ito palette, which stays distinct for the common colour-vision
deficiencies; meaning never rests on colour alone (the texts carry the numbers and verdicts).

Charts are `matplotlib.figure.Figure` objects made directly, never through pyplot: there is no
global figure registry, so nothing to close and nothing to leak between charts or threads. A
figure is garbage-collected like any object once the caller drops it. rcParams apply while an
artist is created and while the figure is drawn, so both happen inside `chart_style()`.
"""

import math
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import matplotlib as mpl
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.legend import Legend
from matplotlib.text import Text

BEFORE = "#5F5F5F"
"""The before side: its average level and its dots."""
AFTER = "#0072B2"
"""The after side: its average level and its 95 % band; the transformed sites."""
IMPROVED = "#009E73"
WORSENED = "#D55E00"
NEUTRAL = "#999999"
"""No significant change, and anything without a verdict."""
CONTROL = "#E69F00"
TARGET = "#CC79A7"
SERIES = "#8C8C8C"
"""The observed values: context behind the levels, so lighter than them."""
TEXT = "#222222"
MUTED = "#595959"
"""Secondary text: axis labels, notes, the go-live label."""
GRID = "#E3E3E3"
RAMP_UP = "#EDEDED"
ROLL_OUT = "#DDE9F3"
"""The roll-out of a staggered transformation, from the first site's go-live to the last."""
COUNTERFACTUAL = "#5F5F5F"
"""The model's level without the transformation (dashed, in its grey 95 % band): the before
side's colour, carried on over the after periods."""

VERDICT_TEXT = {
    "improved": "#007A5A",
    "worsened": "#B34700",
    "no_significant_change": "#555555",
    "insufficient_data": "#555555",
}
"""A verdict written in words (tables): the verdict's colour, darkened to read as text."""

VERDICT_COLOURS = {
    "improved": IMPROVED,
    "worsened": WORSENED,
    "no_significant_change": NEUTRAL,
    "insufficient_data": NEUTRAL,
}

WIDTH_IN = 8.0
"""800 px at 100 dpi: the width of the report's images."""
HEIGHT_IN = 4.5
DPI = 100

MARGIN_PX = 10.0
"""White space around the chart, in pixels at 100 dpi."""
GAP_PX = 14.0
"""Space between the title and the plot, and between the plot and the legend."""
TITLE_WRAP = 75
"""Characters per line of a long title to start from: 14 pt bold fills 800 px at about 75."""
MIN_WRAP = 20
PNG_COMPRESSION = 1
"""zlib level: 6 (the default) takes twice as long for files 3 % smaller."""

LEGEND_HANDLE = 1.8
LEGEND_TEXT_PAD = 0.5
LEGEND_SPACING = 1.4
"""Legend handle length, handle-to-text and column spacing, in font sizes (em)."""

FONT_SIZE = 11.0
"""The smallest text of any chart: 11 pt stays readable on an 800 px image seen on a phone."""
TITLE_SIZE = 14.0
EMPHASIS_SIZE = 12.0

RC_PARAMS: dict[str, object] = {
    # DejaVu Sans ships with matplotlib: the same glyphs, hence the same pixels, everywhere.
    "font.family": ["DejaVu Sans"],
    "font.size": FONT_SIZE,
    "axes.titlesize": TITLE_SIZE,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": FONT_SIZE,
    "ytick.labelsize": FONT_SIZE,
    "legend.fontsize": FONT_SIZE,
    "legend.title_fontsize": FONT_SIZE,
    "figure.titlesize": TITLE_SIZE,
    "figure.labelsize": FONT_SIZE,
    "text.color": TEXT,
    "axes.labelcolor": MUTED,
    "axes.edgecolor": "#B0B0B0",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "axes.axisbelow": True,
    "axes.titlelocation": "left",
    "grid.color": GRID,
    "grid.linewidth": 0.8,
    "grid.linestyle": "-",
    "xtick.color": "#B0B0B0",
    "ytick.color": "#B0B0B0",
    "xtick.labelcolor": TEXT,
    "ytick.labelcolor": TEXT,
    "xtick.major.size": 3.5,
    "ytick.major.size": 0.0,
    "legend.frameon": False,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.facecolor": "white",
    "figure.autolayout": False,
    "figure.constrained_layout.use": False,
    # Unhinted glyphs at their true size: smooth at 800 px, and the 8x oversampled default
    # hinting would cost a third of the drawing time.
    "text.hinting": "no_hinting",
    "text.hinting_factor": 1,
    "text.antialiased": True,
    "lines.solid_capstyle": "round",
    # Reproducible bytes when a chart is written as SVG or PDF. PDF fonts as Type 3, subset by
    # matplotlib itself: TrueType (42) goes through fontTools and cost 0.25 s per font and
    # document; Type 3 text is still extractable (the report's tests read it back).
    "svg.hashsalt": "cap-report",
    "svg.fonttype": "path",
    "pdf.fonttype": 3,
}


_STYLED: ContextVar[bool] = ContextVar("chart_style_active", default=False)


@contextmanager
def chart_style() -> Iterator[None]:
    """The report's rcParams for the duration of the block (creating and drawing a chart).

    Nested uses cost nothing: only the outermost one swaps the rcParams (a copy of some 300
    validated entries, which each helper of this module would otherwise pay again).
    """
    if _STYLED.get():
        yield
        return
    token = _STYLED.set(True)
    try:
        with mpl.rc_context(RC_PARAMS):
            yield
    finally:
        _STYLED.reset(token)


def new_figure(height_in: float = HEIGHT_IN) -> tuple[Figure, Axes]:
    """A report-wide figure (8 in wide, Agg canvas, no layout engine) and its one Axes.

    Call it inside `chart_style()`, and build the rest of the chart there too: the style
    applies to the artists created while it is active. Finish with `fix_layout`.
    """
    with chart_style():
        figure = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="none")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
    return figure, axes


def set_title(fig: Figure, title: str) -> Text:
    """The chart's title, bold, at the figure's top-left, wrapped to the figure's width."""
    with chart_style():
        text = fig.suptitle(
            title,
            x=MARGIN_PX / fig.bbox.width,
            y=1 - MARGIN_PX / fig.bbox.height,
            ha="left",
            va="top",
            fontweight="bold",
            color=TEXT,
            parse_math=False,
        )
        renderer = fig.canvas.get_renderer()
        room = fig.bbox.width - 2 * MARGIN_PX
        characters = TITLE_WRAP
        while text.get_window_extent(renderer).width > room and characters >= MIN_WRAP:
            text.set_text(textwrap.fill(title, characters, break_long_words=False))
            characters -= 5
    return text


def add_legend(fig: Figure, handles: Sequence[Artist]) -> Legend | None:
    """The legend centred under the plot, on one row, or on as few more as its widest row
    needs to fit the figure's width (three at most)."""
    if not handles:
        return None
    with chart_style():
        room = fig.bbox.width - 2 * MARGIN_PX
        widths = [_legend_width(fig, [handle]) for handle in handles]
        for rows in (1, 2, 3):
            columns = math.ceil(len(handles) / rows)
            if _row_width(fig, widths, rows) <= room:
                break
        return fig.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=(0.5, MARGIN_PX / fig.bbox.height),
            borderaxespad=0.0,
            borderpad=0.0,
            ncols=columns,
            handlelength=LEGEND_HANDLE,
            columnspacing=LEGEND_SPACING,
            handletextpad=LEGEND_TEXT_PAD,
        )


def _row_width(fig: Figure, widths: list[float], rows: int) -> float:
    """The width in pixels of a legend of entries `widths` wide laid out on `rows` rows:
    matplotlib fills its columns first, and a column is as wide as its widest entry."""
    columns = [widths[start : start + rows] for start in range(0, len(widths), rows)]
    em = FONT_SIZE * fig.dpi / 72
    return sum(max(column) for column in columns) + (len(columns) - 1) * LEGEND_SPACING * em


def _legend_width(fig: Figure, handles: Sequence[Artist]) -> float:
    """The width in pixels of the legend on one row, from its labels' widths: cheaper than
    laying a legend out to measure it."""
    renderer = fig.canvas.get_renderer()
    font = FontProperties(family=RC_PARAMS["font.family"], size=FONT_SIZE)
    labels = [str(handle.get_label()) for handle in handles]
    text = sum(renderer.get_text_width_height_descent(t, font, ismath=False)[0] for t in labels)
    em = FONT_SIZE * fig.dpi / 72
    spacing = len(labels) * (LEGEND_HANDLE + LEGEND_TEXT_PAD) + (len(labels) - 1) * LEGEND_SPACING
    return text + spacing * em


def fix_layout(fig: Figure) -> Figure:
    """Place the figure's one Axes so that its labels, the title and the legend fit, and
    return the figure.

    One measurement, no layout engine: constrained layout costs two measurements at build and
    two more at every save (savefig draws a figure with a layout engine twice). Margins are
    the measured overhangs of the Axes' decorations (tick labels, axis labels, texts outside
    the plot); they do not depend on the Axes' size, so one pass is enough. Positions are
    fractions of the figure and text sizes are in points: the layout holds at any dpi (PNG
    and PDF alike), not for another figure size.
    """
    with chart_style():
        renderer = fig.canvas.get_renderer()
        width, height = fig.bbox.width, fig.bbox.height
        top = bottom = MARGIN_PX
        if fig._suptitle is not None:  # get_suptitle() gives the string, not the Text
            top += fig._suptitle.get_window_extent(renderer).height + GAP_PX
        for legend in fig.legends:
            bottom += legend.get_window_extent(renderer).height + GAP_PX
        for ax in fig.axes:
            inner = ax.get_window_extent(renderer)
            outer = ax.get_tightbbox(renderer)
            x0 = MARGIN_PX + max(inner.x0 - outer.x0, 0)
            x1 = width - MARGIN_PX - max(outer.x1 - inner.x1, 0)
            y0 = bottom + max(inner.y0 - outer.y0, 0)
            y1 = height - top - max(outer.y1 - inner.y1, 0)
            ax.set_position([x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height])
    return fig


def save_png(fig: Figure, path: Path) -> Path:
    """Write `fig` as an 800 px wide PNG whose bytes depend only on the chart, and return path.

    No "Software" entry (it names the matplotlib version) and no timestamp are written.
    """
    path = Path(path)
    with chart_style():
        fig.savefig(
            path,
            format="png",
            dpi=DPI,
            metadata={"Software": None},
            pil_kwargs={"compress_level": PNG_COMPRESSION},
        )
    return path
