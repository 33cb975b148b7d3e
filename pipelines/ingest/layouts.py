"""Turning the sheets of one file into observations, following the source's layout.

Layouts: `sheet_per_site` (a sheet per site, a row per period, KPIs as columns), `long` (a row per
site, period, indicator and value) and `wide` (KPIs as rows, periods as columns under an optional
year header). Title rows, total rows and columns, section titles, footnotes, free-text columns and
rows without any value are skipped; anything else that is not understood is a rejection.
"""

import datetime as dt
import re
from collections.abc import Sequence

from pipelines.catalogue import BASE_KPIS
from pipelines.config.model import ClientConfig, LongSource, SheetPerSiteSource, WideSource
from pipelines.ingest.matching import (
    HEADER_SEARCH_ROWS,
    SiteResolver,
    find_header,
    is_blank,
    is_total_label,
)
from pipelines.ingest.periods import Grain, PeriodProblem, parse_period
from pipelines.ingest.readers import Cell, Sheet
from pipelines.ingest.records import ParsedFile
from pipelines.ingest.text import normalize
from pipelines.ingest.values import ValueProblem, parse_number

AnyLayoutSource = SheetPerSiteSource | LongSource | WideSource
_YEAR = re.compile(r"(?:^|\D)((?:19|20)\d{2})(?:\D|$)")


class _Context:
    """What every layout needs: the configuration, the source and where results go."""

    def __init__(
        self, config: ClientConfig, source: AnyLayoutSource, today: dt.date, parsed: ParsedFile
    ) -> None:
        self.config = config
        self.source = source
        self.locale = source.locale or config.language
        self.grain: Grain = source.grain or config.grain
        self.today = today
        self.sites = SiteResolver(config)
        self.parsed = parsed
        self.skipped = {normalize(name) for name in source.skip_sheets}

    def site(self, text: str, sheet: str | None, row: int | None, column: int | None) -> str | None:
        try:
            return self.sites.resolve(text)
        except ValueProblem as problem:
            self.parsed.reject(sheet, row, column, text, problem.rule, str(problem))
            return None

    def period(
        self,
        cell: Cell,
        sheet: str | None,
        row: int,
        column: int,
        year: int | None = None,
        check_future: bool = True,
    ) -> dt.date | None:
        try:
            period = parse_period(cell, self.grain, year)
        except PeriodProblem as problem:
            self.parsed.reject(sheet, row, column, cell, "bad_period", str(problem))
            return None
        if check_future and not self.is_past(period, cell, sheet, row, column):
            return None
        return period

    def is_past(
        self, period: dt.date, cell: Cell, sheet: str | None, row: int, column: int
    ) -> bool:
        """False, with a rejection, for a period that starts after today."""
        if period <= self.today:
            return True
        self.parsed.reject(
            sheet,
            row,
            column,
            cell,
            "future_period",
            f"period {period:%Y-%m-%d} is after today ({self.today:%Y-%m-%d})",
        )
        return False

    def value(
        self, cell: Cell, kpi: str, sheet: str | None, row: int, column: int
    ) -> tuple[bool, float | None]:
        """(ok, value): the cell's number in canonical units, or a rejection recorded."""
        is_percent = BASE_KPIS[kpi].unit == "pct"
        try:
            number = parse_number(cell, self.locale, percent_points=is_percent)
        except ValueProblem as problem:
            self.parsed.reject(sheet, row, column, cell, problem.rule, f"{kpi}: {problem}")
            return False, None
        if number is None:
            return True, None
        if is_percent and isinstance(cell, int | float) and self.source.percent_cells == "fraction":
            number *= 100.0
        return True, number * self.source.scale.get(kpi, 1.0)

    def skip_sheet(self, sheet: Sheet) -> bool:
        return sheet.name is not None and normalize(sheet.name) in self.skipped


def parse_sheets(
    sheets: Sequence[Sheet], config: ClientConfig, source: AnyLayoutSource, today: dt.date
) -> ParsedFile:
    """Observations, rejections and warnings from the sheets of one file."""
    parsed = ParsedFile()
    context = _Context(config, source, today, parsed)
    layout = {
        "sheet_per_site": _sheet_per_site,
        "long": _long,
        "wide": _wide,
    }[source.layout]
    used = 0
    for sheet in sheets:
        if context.skip_sheet(sheet):
            parsed.warnings.append(f"sheet {sheet.name!r} skipped (listed in skip_sheets)")
            continue
        if layout(context, sheet):
            used += 1
    if used == 0 and not parsed.rejections:
        parsed.reject(
            None,
            None,
            None,
            None,
            "no_data",
            "no sheet has a recognisable header: "
            + "; ".join(parsed.warnings or ["the file holds no table"]),
        )
    return parsed


def _sheet_per_site(context: _Context, sheet: Sheet) -> bool:
    source = context.source
    assert isinstance(source, SheetPerSiteSource)
    header = find_header(sheet.rows, {"period": source.period, **source.columns}, ["period"])
    if header is None or len(header[1]) < 2:
        context.parsed.warnings.append(
            f"sheet {sheet.name!r} skipped: no header with {source.period[0]!r} and a KPI column "
            f"in its first {HEADER_SEARCH_ROWS} rows"
        )
        return False
    site = context.site(sheet.name or "", sheet.name, None, None)
    if site is None:
        return True
    header_index, columns = header
    period_column = columns.pop("period")
    for index in range(header_index + 1, len(sheet.rows)):
        row = sheet.rows[index]
        cells = {kpi: _cell(row, column) for kpi, column in columns.items()}
        if all(is_blank(cell) for cell in cells.values()):
            continue  # blank line, footnote, section title or a period not yet filled in
        label = _cell(row, period_column)
        if is_total_label(label):
            continue
        number = sheet.row_number(index)
        period = context.period(label, sheet.name, number, period_column)
        if period is None:
            continue
        for kpi, cell in cells.items():
            ok, value = context.value(cell, kpi, sheet.name, number, columns[kpi])
            if ok:
                context.parsed.add(
                    site, period, context.grain, kpi, value, sheet.name, number, columns[kpi]
                )
    return True


def _long(context: _Context, sheet: Sheet) -> bool:
    source = context.source
    assert isinstance(source, LongSource)
    wanted = {
        "site": source.site,
        "period": source.period,
        "indicator": source.indicator,
        "value": source.value,
    }
    header = find_header(sheet.rows, wanted, list(wanted))
    if header is None:
        context.parsed.warnings.append(
            f"{_sheet_label(sheet)} skipped: no header with the columns "
            + ", ".join(repr(texts[0]) for texts in wanted.values())
        )
        return False
    header_index, columns = header
    indicators = {normalize(code): kpi for code, kpi in source.indicators.items()}
    unknown: dict[str, int] = {}
    for index in range(header_index + 1, len(sheet.rows)):
        row = sheet.rows[index]
        if all(is_blank(cell) for cell in row):
            continue
        site_cell, period_cell, code, cell = (
            _cell(row, columns[key]) for key in ("site", "period", "indicator", "value")
        )
        if is_total_label(site_cell) or is_total_label(period_cell):
            continue
        number = sheet.row_number(index)
        kpi = indicators.get(normalize(str(code or "")))
        if kpi is None:
            unknown[str(code)] = unknown.get(str(code), 0) + 1
            continue
        site = context.site(str(site_cell or ""), sheet.name, number, columns["site"])
        period = context.period(period_cell, sheet.name, number, columns["period"])
        ok, value = context.value(cell, kpi, sheet.name, number, columns["value"])
        if site is not None and period is not None and ok:
            context.parsed.add(
                site, period, context.grain, kpi, value, sheet.name, number, columns["value"]
            )
    if unknown:
        context.parsed.warnings.append(
            "indicators not in client.yaml, ignored: "
            + ", ".join(f"{code!r} ({count} rows)" for code, count in sorted(unknown.items()))
        )
    return True


def _wide(context: _Context, sheet: Sheet) -> bool:
    source = context.source
    assert isinstance(source, WideSource)
    header = _find_period_header(sheet.rows)
    if header is None:
        context.parsed.warnings.append(
            f"{_sheet_label(sheet)} skipped: no row of month or week headers "
            f"in its first {HEADER_SEARCH_ROWS} rows"
        )
        return False
    site_name = source.site if source.site_from == "fixed" else sheet.name
    site = context.site(site_name or "", sheet.name, None, None)
    if site is None:
        return True
    header_index, first_period_column = header
    years = _column_years(sheet.rows[:header_index], len(sheet.rows[header_index]))
    header_number = sheet.row_number(header_index)
    periods: dict[int, dt.date] = {}
    for column, cell in enumerate(sheet.rows[header_index]):
        if column < first_period_column or is_blank(cell) or is_total_label(cell):
            continue
        period = context.period(
            cell, sheet.name, header_number, column, years.get(column), check_future=False
        )
        if period is not None:
            periods[column] = period
    labels = {normalize(text): kpi for kpi, texts in source.rows.items() for text in texts}
    for index in range(header_index + 1, len(sheet.rows)):
        row = sheet.rows[index]
        label = next((cell for cell in row[:first_period_column] if not is_blank(cell)), None)
        kpi = labels.get(normalize(str(label))) if label is not None else None
        if kpi is None:
            continue  # section title, footnote, total or a line Cap does not track
        number = sheet.row_number(index)
        last_filled = _last_filled(row, periods)
        for column, period in periods.items():
            cell = _cell(row, column)
            if period > last_filled:
                continue  # blanks after the last value: periods not reported yet
            if not is_blank(cell) and not context.is_past(period, cell, sheet.name, number, column):
                continue
            ok, value = context.value(cell, kpi, sheet.name, number, column)
            if ok:
                context.parsed.add(
                    site, period, context.grain, kpi, value, sheet.name, number, column
                )
    return True


def _find_period_header(rows: Sequence[Sequence[Cell]]) -> tuple[int, int] | None:
    """(row index, first period column) of the row with the most month/week headers."""
    best: tuple[int, int, int] | None = None
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        columns = [column for column, cell in enumerate(row) if _is_period_header(cell)]
        if len(columns) >= 2 and (best is None or len(columns) > best[2]):
            best = (index, columns[0], len(columns))
    return None if best is None else (best[0], best[1])


def _is_period_header(cell: Cell) -> bool:
    if isinstance(cell, dt.date):
        return True
    if not isinstance(cell, str) or is_blank(cell):
        return False
    for grain in ("month", "week"):
        try:
            parse_period(cell, grain, year=2000)
            return True
        except PeriodProblem:
            continue
    return False


def _column_years(rows: Sequence[Sequence[Cell]], width: int) -> dict[int, int]:
    """The year above each column, from a (merged) year header such as `FY2025` or `2025`.

    A merged cell holds its text in its first column only, so a year runs rightwards until the
    next one; rows nearer the header win over title rows further up.
    """
    years: dict[int, int] = {}
    for row in rows:
        current: int | None = None
        for column in range(width):
            year = _year_in(_cell(row, column))
            current = year if year is not None else current
            if current is not None:
                years[column] = current
    return years


def _year_in(cell: Cell) -> int | None:
    if isinstance(cell, bool) or not isinstance(cell, str | int | float):
        return None
    text = str(int(cell)) if isinstance(cell, float) and cell.is_integer() else str(cell)
    match = _YEAR.search(text)
    return int(match[1]) if match else None


def _last_filled(row: Sequence[Cell], periods: dict[int, dt.date]) -> dt.date:
    """The latest period with a value in a row: blanks after it are months not yet reported."""
    filled = [period for column, period in periods.items() if not is_blank(_cell(row, column))]
    return max(filled) if filled else dt.date.min


def _cell(row: Sequence[Cell], column: int) -> Cell:
    return row[column] if column < len(row) else None


def _sheet_label(sheet: Sheet) -> str:
    return f"sheet {sheet.name!r}" if sheet.name is not None else "the table"
