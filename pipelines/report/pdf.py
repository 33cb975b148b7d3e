"""The client report as a PDF of 8 in wide pages (text pages 16:9, 8 x 4.5 in, readable on a
phone held sideways; a chart page has its chart's height):
cover, summary, key-indicator table, the charts, a data-quality appendix and a methodology note.

Text pages are drawn with matplotlib, with the same fonts and colours as the charts, and every
page goes into one PDF (fonts embedded once). No date is written: the same content gives the
same bytes.
"""

import json
import textwrap
from collections.abc import Iterable
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from pipelines import formatting
from pipelines.report import style
from pipelines.report.content import REPORTS_DIR, ReportContent, say, strings
from pipelines.report.figures import RenderedChart, key_table
from pipelines.report.problems import file_reasons

CALIBRATION = REPORTS_DIR / "calibration.json"
"""The calibration study's figures (`make proof`), shown on the methodology's last page."""
WIDTH_IN, HEIGHT_IN = 8.0, 4.5
LINE = 0.052
"""Height of a line of 11 pt text, in fractions of the page height (with leading)."""
WRAP = 92
"""Characters per line of 11 pt text across the page."""
TOP, BOTTOM = 0.80, 0.05


def write_pdf(content: ReportContent, charts: list[RenderedChart], path: Path) -> int:
    """Write the report to `path` and return its number of pages."""
    language = content.language
    pages = [
        _cover(content),
        *_paragraph_pages(say(language, "summary_title"), summary_paragraphs(content)),
        *(chart.figure for chart in charts[:1]),
        *_table_pages(content),
        *(chart.figure for chart in charts[1:]),
        *_paragraph_pages(say(language, "quality_title"), _quality_paragraphs(content)),
        *_paragraph_pages(say(language, "method_title"), _method_paragraphs(content)),
        *_calibration_pages(language),
    ]
    metadata = {
        "Title": f"{content.config.name} – {content.period_key}",
        "CreationDate": None,
        "ModDate": None,
    }
    with style.chart_style(), PdfPages(path, metadata=metadata) as document:
        for page in pages:
            document.savefig(page)
    return len(pages)


def summary_paragraphs(content: ReportContent) -> list[str]:
    """The summary: the client-total sentence of every key KPI (bullets, `• `), progress to
    target under it, and the data pending correction."""
    language = content.language
    paragraphs = [say(language, "summary_intro")]
    for key in content.key_results:
        if key.total is None:
            continue
        paragraphs.append("• " + str(key.total[f"sentence_{language}"]))
        target, progress = key.total.get("target_change_pct"), key.total["target_progress_pct"]
        if not pd.isna(target) and not pd.isna(progress):
            text = say(
                language,
                "target",
                target=formatting.percent(float(target), language, signed=True),
                due=formatting.month(pd.Timestamp(key.total["target_due"]), language),
                progress=formatting.percent(float(progress), language, decimals=0),
            )
            paragraphs.append("   " + text)
    if content.pending_files:
        paragraphs.append(say(language, "pending", files=", ".join(content.pending_files)))
    return paragraphs


def _cover(content: ReportContent) -> Figure:
    language = content.language
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
    figure.patch.set_facecolor("white")
    figure.add_artist(
        matplotlib.patches.Rectangle(
            (0, 0), 0.02, 1, color=style.AFTER, transform=figure.transFigure
        )
    )
    figure.text(0.08, 0.70, content.config.name, fontsize=26, weight="bold")
    figure.text(0.08, 0.58, say(language, "report_title"), fontsize=18)
    period = formatting.period(pd.Timestamp(content.latest_period), content.grain, language)
    figure.text(0.08, 0.45, say(language, "period", period=period), fontsize=13)
    if content.data_until is not None:
        until = formatting.day(content.data_until, language)
        figure.text(
            0.08, 0.38, say(language, "data_until", date=until), fontsize=11, color="#555555"
        )
    figure.text(0.08, 0.10, say(language, "prepared_by"), fontsize=11, color="#555555")
    return figure


def _paragraph_pages(title: str, paragraphs: Iterable[str]) -> list[Figure]:
    """Pages of wrapped paragraphs under `title`; a paragraph is never split across pages."""
    per_page = int((TOP - BOTTOM) / LINE)
    pages: list[list[str]] = [[]]
    for paragraph in paragraphs:
        indent = " " * (len(paragraph) - len(paragraph.lstrip(" •")))
        block = textwrap.wrap(paragraph, WRAP, subsequent_indent=indent) or [""]
        if pages[-1] and len(pages[-1]) + len(block) > per_page:
            pages.append([])
        pages[-1].extend([*block, ""])
    figures = []
    for lines in pages:
        figure = _titled_page(title)
        for number, line in enumerate(lines):
            figure.text(0.06, TOP - number * LINE, line, fontsize=11, va="top")
        figures.append(figure)
    return figures


def _titled_page(title: str) -> Figure:
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
    figure.patch.set_facecolor("white")
    figure.text(0.06, 0.92, title, fontsize=16, weight="bold", va="top")
    return figure


TABLE_COLUMNS = (
    # (string key, x in page fractions: left edge, or right edge when right-aligned;
    #  wrap width in characters; right-aligned)
    ("col_before", 0.20, 14, True),
    ("col_after", 0.365, 14, True),
    ("col_counterfactual", 0.545, 15, True),
    ("col_change", 0.67, 10, True),
    ("col_interval", 0.70, 11, False),
    ("col_method", 0.835, 14, False),
)
"""The numbers of a KPI, on the line under its name and verdict."""
TABLE_FONT_SIZE = 10.5
TABLE_LINE = 0.041
"""Height of a line of the table, in fractions of the page height."""


def _table_pages(content: ReportContent) -> list[Figure]:
    """The key indicators of the client total: for each KPI, its name and verdict on a line,
    then the observed levels before and after, the level without the transformation, the
    change (after against that level) with its interval, and the method, each cell with its
    unit and wrapped to its column; a new page when the next KPI would not fit, the note
    under the last one."""
    language = content.language
    headers = [say(language, key) for key, *_ in TABLE_COLUMNS]
    note = textwrap.fill(say(language, "table_note"), 132)
    note_height = 0.028 * (note.count("\n") + 1)  # 7.5 pt lines on a 4.5 in page
    pages: list[Figure] = []
    y = BOTTOM
    for row in key_table(content):
        cells = [row.before, row.after, row.counterfactual, row.change, row.interval, row.method]
        if y - TABLE_LINE * (1 + _table_line_count(cells)) - 0.03 < BOTTOM:
            pages.append(_titled_page(say(language, "key_table_title")))
            y = _table_line(pages[-1], TOP + LINE, headers, True)
        figure = pages[-1]
        figure.text(0.04, y, row.label, fontsize=TABLE_FONT_SIZE, weight="bold", va="top")
        figure.text(0.97, y, row.verdict, fontsize=TABLE_FONT_SIZE, weight="bold", va="top",
                    ha="right", color=style.VERDICT_TEXT[row.verdict_code])  # fmt: skip
        y = _table_line(figure, y - TABLE_LINE, cells, False)
    if not pages or y - 0.01 - note_height < 0.01:
        pages.append(_titled_page(say(language, "key_table_title")))
        y = TOP + LINE
    pages[-1].text(0.04, y - 0.01, note, fontsize=7.5, color="#595959", va="top")
    return pages


TABLE_PLACES = [(x, "right" if right else "left", width) for _, x, width, right in TABLE_COLUMNS]
"""x, alignment and wrap width of each key-table column."""


def _table_line_count(cells: list[str]) -> int:
    """How many text lines a table line of `cells` takes, once wrapped to its columns."""
    return max(len(lines) for lines in _wrapped(cells, TABLE_PLACES))


def _table_line(figure: Figure, y: float, cells: list[str], header: bool) -> float:
    """One line of the table's columns at `y` (its top), each cell wrapped to its column, a
    rule under it; the y of the next line."""
    count = _cells_line(figure, y, cells, TABLE_PLACES, size=TABLE_FONT_SIZE, header=header,
                        linespacing=1.25)  # fmt: skip
    y -= TABLE_LINE * count + 0.02
    figure.add_artist(Line2D([0.04, 0.97], [y + 0.012, y + 0.012], color="#DDDDDD", linewidth=0.8))
    return y


def _wrapped(cells: list[str], places: list[tuple[float, str, int]]) -> list[list[str]]:
    """Each cell wrapped to its column's width (an empty cell as one empty line)."""
    return [
        textwrap.wrap(cell, width, break_long_words=False) or [""]
        for cell, (_, _, width) in zip(cells, places, strict=True)
    ]


def _cells_line(
    figure: Figure,
    y: float,
    cells: list[str],
    places: list[tuple[float, str, int]],
    *,
    size: float,
    header: bool,
    linespacing: float = 1.2,
) -> int:
    """One row of a table at `y` (its top), each cell wrapped to its place (x, alignment,
    width); how many text lines it took."""
    wrapped = _wrapped(cells, places)
    for lines, (x, align, _) in zip(wrapped, places, strict=True):
        figure.text(x, y, "\n".join(lines), fontsize=size, va="top", ha=align,
                    weight="bold" if header else "normal", linespacing=linespacing,
                    color=style.MUTED if header else style.TEXT)  # fmt: skip
    return max(len(lines) for lines in wrapped)


def _quality_paragraphs(content: ReportContent) -> list[str]:
    language = content.language
    files = content.files
    paragraphs = [
        say(language, "quality_files") + " :"
        if language == "fr"
        else say(language, "quality_files") + ":"
    ]
    for file in files.itertuples():
        paragraphs.append(f"• {file.original_name} – {say(language, f'status_{file.status}')}")
    paragraphs.append(say(language, "quality_rejected"))
    set_aside = files[files["status"].isin(["rejected", "quarantined"])]
    if set_aside.empty:
        paragraphs.append("   " + say(language, "quality_none_rejected"))
    reasons = file_reasons(language, content.problems)
    for file in set_aside.itertuples():
        fallback = "problem_quarantined" if file.status == "quarantined" else "problem_rejected"
        reason = reasons.get(str(file.original_name)) or say(language, fallback)
        paragraphs.append(f"• {file.original_name} – {reason}")
    paragraphs.append(say(language, "quality_coverage"))
    paragraphs.extend(_coverage_lines(content))
    latest, days, allowed = content.lateness
    if latest is not None:
        period = formatting.period(pd.Timestamp(latest), content.grain, language)
        paragraphs.append(say(language, "quality_late", period=period, days=days, allowed=allowed))
        if days > allowed:
            paragraphs.append(say(language, "quality_late_flag"))
    return paragraphs


def _coverage_lines(content: ReportContent) -> list[str]:
    coverage = content.coverage
    if coverage.empty:
        return []
    grid = coverage.pivot(index="site", columns="period_start", values="kpis").fillna(0).astype(int)
    grid = grid.iloc[:, -6:]
    periods = [
        formatting.period(pd.Timestamp(p), content.grain, content.language) for p in grid.columns
    ]
    lines = ["   " + " | ".join(periods)]
    for site, counts in grid.iterrows():
        lines.append(f"• {site} : " + " | ".join(str(c) for c in counts))
    return lines


def _method_paragraphs(content: ReportContent) -> list[str]:
    language = content.language
    months = content.config.impact.ramp_up_months
    ramp_up = say(language, "ramp_up", months=months) if months else ""
    texts = strings(language)["method_text"]
    return [
        str(text).format(baseline=content.config.impact.baseline_months, ramp_up=ramp_up)
        for text in texts
    ]


CALIBRATION_COLUMNS = [(0.04, "left", 62), (0.60, "right", 8), (0.725, "right", 13),
                       (0.86, "right", 17), (0.97, "right", 13)]  # fmt: skip
"""x, alignment and wrap width of the calibration table's columns."""
CALIBRATION_HEIGHT_IN = 5.2
"""The calibration page is taller than a text page: ten families and a note."""


def _calibration_pages(language: str) -> list[Figure]:
    """The calibration study's table, family by family, as the client's CFO reads it: how
    often the 95 % interval held the true effect, the mean error against the plain
    before/after's, and how often an effect was claimed where there was none. No page when
    the study's figures are absent."""
    if not CALIBRATION.exists():
        return []
    study = json.loads(CALIBRATION.read_text(encoding="utf-8"))
    figure = _titled_page(say(language, "calibration_title"))
    figure.set_size_inches(WIDTH_IN, CALIBRATION_HEIGHT_IN)
    headers = [str(header) for header in strings(language)["calibration_columns"]]
    y = _calibration_line(figure, 0.86, headers, header=True)
    overall = {**study["overall"], f"label_{language}": say(language, "calibration_overall")}
    for family in [*study["families"], overall]:
        errors = [_figure(family.get(key), language) for key in ("mae", "naive_mae")]
        cells = [
            str(family[f"label_{language}"]),
            formatting.number(family["series"], language, 0),
            _share(family.get("coverage"), language),
            " / ".join(errors),
            _share(family.get("false_positive_rate"), language),
        ]
        y = _calibration_line(figure, y, cells, header=family is overall)
    series = formatting.number(overall["series"], language, 0)
    note = say(language, "calibration_note", series=series, seed=study["seed"])
    figure.text(0.04, y - 0.005, textwrap.fill(note, 130), fontsize=7.5, color="#595959",
                va="top")  # fmt: skip
    return [figure]


def _share(value: float | None, language: str) -> str:
    """A share of the study as a percentage, `–` when the family had no such series."""
    return "–" if value is None else formatting.percent(100 * value, language, decimals=1)


def _figure(value: float | None, language: str) -> str:
    """An error of the study to one decimal, `–` when there is none."""
    return "–" if value is None else formatting.number(value, language, 1)


def _calibration_line(figure: Figure, y: float, cells: list[str], *, header: bool) -> float:
    """One row of the calibration table at `y` (its top); the y of the next row."""
    count = _cells_line(figure, y, cells, CALIBRATION_COLUMNS, size=7.5, header=header)
    return y - 0.026 * count - 0.01
