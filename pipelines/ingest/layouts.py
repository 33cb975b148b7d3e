"""Locating the data cells of one file, following the source's layout.

Layouts: `sheet_per_site` (a sheet per site, a row per period, KPIs as columns), `long` (a row per
site, period, indicator and value) and `wide` (KPIs as rows, periods as columns under an optional
year header). A layout finds the header below any title rows and hands every data cell, with its
site, period and KPI keys and its place, to a `RawCells`; `pipelines.ingest.normalize` interprets
them. Sheets listed in `skip_sheets` or without a recognisable header are skipped with a warning;
free-text columns, section titles and lines Cap does not track are never taken.
"""

import datetime as dt
import re
from collections.abc import Iterable, Sequence

import numpy as np

from pipelines.config.model import LongSource, RecordsSource, SheetPerSiteSource, WideSource
from pipelines.ingest.cells import RawCells, blank_mask, key_text, key_texts, split_cells
from pipelines.ingest.matching import HEADER_SEARCH_ROWS, find_header, is_blank, is_total_label
from pipelines.ingest.periods import PeriodProblem, parse_period
from pipelines.ingest.readers import Cell, Sheet
from pipelines.ingest.text import column_letter, normalize

AnyLayoutSource = SheetPerSiteSource | LongSource | WideSource | RecordsSource
_YEAR = re.compile(r"(?:^|\D)((?:19|20)\d{2})(?:\D|$)")


def locate_cells(
    sheets: Iterable[Sheet], source: AnyLayoutSource, cells: RawCells, warnings: list[str]
) -> int:
    """Add the data cells of every sheet to `cells`; return how many sheets held a table."""
    layout = {
        "sheet_per_site": _sheet_per_site,
        "long": _long,
        "wide": _wide,
        "records": _records,
    }[source.layout]
    skipped = {normalize(name) for name in source.skip_sheets}
    used = 0
    for sheet in sheets:
        if sheet.name is not None and normalize(sheet.name) in skipped:
            warnings.append(f"sheet {sheet.name!r} skipped (listed in skip_sheets)")
            continue
        if layout(source, sheet, cells, warnings):
            used += 1
    return used


def _sheet_per_site(
    source: SheetPerSiteSource, sheet: Sheet, cells: RawCells, warnings: list[str]
) -> bool:
    header = find_header(sheet.rows, {"period": source.period, **source.columns}, ["period"])
    if header is None or len(header[1]) < 2:
        warnings.append(
            f"sheet {sheet.name!r} skipped: no header with {source.period[0]!r} and a KPI column "
            f"in its first {HEADER_SEARCH_ROWS} rows"
        )
        return False
    header_index, columns = header
    period_column = columns.pop("period")
    data = grid(sheet.rows[header_index + 1 :], max(columns.values(), default=0) + 1)
    values = {kpi: split_cells(data[:, column]) for kpi, column in columns.items()}
    # A row without any value (a period not filled in yet, a footnote) is not data.
    keep = ~np.logical_and.reduce([split.blank() for split in values.values()])
    rows = _row_numbers(sheet, header_index)
    periods = key_texts(data[:, period_column], cells.key_texts)
    for kpi, column in columns.items():
        cells.add_run(
            values[kpi],
            keep=keep,
            rows=rows,
            column=column_letter(column),
            sheet=sheet.name,
            site_key=sheet.name,
            period_key=periods,
            period_column=column_letter(period_column),
            kpi_key=kpi,
        )
    return True


def _long(source: LongSource, sheet: Sheet, cells: RawCells, warnings: list[str]) -> bool:
    wanted = {
        "site": source.site,
        "period": source.period,
        "indicator": source.indicator,
        "value": source.value,
    }
    header = find_header(sheet.rows, wanted, list(wanted))
    if header is None:
        warnings.append(
            f"{_sheet_label(sheet)} skipped: no header with the columns "
            + ", ".join(repr(texts[0]) for texts in wanted.values())
        )
        return False
    header_index, columns = header
    data = grid(sheet.rows[header_index + 1 :], max(columns.values()) + 1)
    cells.add_run(
        data[:, columns["value"]],
        rows=_row_numbers(sheet, header_index),
        column=column_letter(columns["value"]),
        sheet=sheet.name,
        site_key=key_texts(data[:, columns["site"]], cells.key_texts),
        site_column=column_letter(columns["site"]),
        period_key=key_texts(data[:, columns["period"]], cells.key_texts),
        period_column=column_letter(columns["period"]),
        kpi_key=key_texts(data[:, columns["indicator"]], cells.key_texts),
    )
    return True


def _wide(source: WideSource, sheet: Sheet, cells: RawCells, warnings: list[str]) -> bool:
    header = _find_period_header(sheet.rows)
    if header is None:
        warnings.append(
            f"{_sheet_label(sheet)} skipped: no row of month or week headers "
            f"in its first {HEADER_SEARCH_ROWS} rows"
        )
        return False
    site = source.site if source.site_from == "fixed" else sheet.name
    header_index, first_period_column = header
    header_row = sheet.rows[header_index]
    years = _column_years(sheet.rows[:header_index], len(header_row))
    period_columns = [
        column
        for column, cell in enumerate(header_row)
        if column >= first_period_column and not is_total_label(cell) and _is_period_header(cell)
    ]
    labels = {normalize(text): kpi for kpi, texts in source.rows.items() for text in texts}
    for index in range(header_index + 1, len(sheet.rows)):
        row = sheet.rows[index]
        label = next((cell for cell in row[:first_period_column] if not is_blank(cell)), None)
        kpi = labels.get(normalize(str(label))) if label is not None else None
        if kpi is None:
            continue  # section title, footnote, total or a line Cap does not track
        # Blank cells after the row's last value are periods not reported yet, not missing.
        filled = [column for column in period_columns if not is_blank(_cell(row, column))]
        reported = [column for column in period_columns if filled and column <= filled[-1]]
        cells.add_run(
            [_cell(row, column) for column in reported],
            rows=sheet.row_number(index),
            column=[column_letter(column) for column in reported],
            sheet=sheet.name,
            site_key=site,
            period_key=[key_text(header_row[column]) for column in reported],
            period_row=sheet.row_number(header_index),
            period_column=[column_letter(column) for column in reported],
            year_hint=[years.get(column) for column in reported],
            kpi_key=kpi,
        )
    return True


def _records(source: RecordsSource, sheet: Sheet, cells: RawCells, warnings: list[str]) -> bool:
    measured = {kpi: m.column for kpi, m in source.measures.items() if m.column}
    header = find_header(
        sheet.rows, {"site": source.site, "date": source.date, **measured}, ["site", "date"]
    )
    if header is None:
        warnings.append(
            f"{_sheet_label(sheet)} skipped: no header with {source.site[0]!r} and "
            f"{source.date[0]!r} in its first {HEADER_SEARCH_ROWS} rows"
        )
        return False
    header_index, columns = header
    missing = sorted(kpi for kpi in measured if kpi not in columns)
    if missing:
        warnings.append(f"{_sheet_label(sheet)}: no column for {', '.join(missing)}")
    data = grid(sheet.rows[header_index + 1 :], max(columns.values()) + 1)
    keys = data[:, [columns["site"], columns["date"]]]
    keep = ~blank_mask(keys).all(axis=1)  # a line without site or date is not a transaction
    rows = _row_numbers(sheet, header_index)
    sites = key_texts(data[:, columns["site"]], cells.key_texts)
    dates = key_texts(data[:, columns["date"]], cells.key_texts)
    for kpi, measure in source.measures.items():
        if measure.agg == "count":
            column, values = columns["date"], np.ones(len(data), dtype=object)
        elif kpi in columns:
            column, values = columns[kpi], data[:, columns[kpi]]
        else:
            continue
        cells.add_run(
            values,
            keep=keep,
            rows=rows,
            column=column_letter(column),
            sheet=sheet.name,
            site_key=sites,
            site_column=column_letter(columns["site"]),
            period_key=dates,
            period_column=column_letter(columns["date"]),
            kpi_key=kpi,
        )
    return True


def grid(rows: Sequence[Sequence[Cell]], min_width: int) -> np.ndarray:
    """Rows of cells as a 2-D object array, short rows padded with None."""
    width = max([min_width, *(len(row) for row in rows)]) if rows else min_width
    if rows and all(len(row) == width for row in rows):
        return np.array(rows, dtype=object).reshape(len(rows), width)
    table = np.full((len(rows), width), None, dtype=object)
    for index, row in enumerate(rows):
        table[index, : len(row)] = row
    return table


def _row_numbers(sheet: Sheet, header_index: int) -> np.ndarray:
    if sheet.line_numbers is None:
        return np.arange(header_index + 2, len(sheet.rows) + 1, dtype=np.int64)
    return np.asarray(sheet.line_numbers[header_index + 1 :], dtype=np.int64)


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


def _cell(row: Sequence[Cell], column: int) -> Cell:
    return row[column] if column < len(row) else None


def _sheet_label(sheet: Sheet) -> str:
    return f"sheet {sheet.name!r}" if sheet.name is not None else "the table"
