"""Helios Services: an English monthly finance pack per fiscal year (FY = calendar year).

`Finance pack FY2024.xlsx`, `Finance pack FY2025.xlsx`, then `Finance pack FY<year> YTD.xlsx`
for the year in progress. Sheets: `Summary` (all sites, to skip), then one sheet per site.
Each sheet: a title row, a merged `FY2025` cell over the month columns, a row of month headers
`Jan`..`Dec` and a total column, then KPIs as rows (section titles without values). Gross
margin is stored as a fraction with a percentage format; a few numbers are English text.
"""

import datetime as dt

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from pipelines.demo.effects import HELIOS
from pipelines.demo.periods import ENGLISH_MONTHS, add_months, saved_at
from pipelines.demo.series import HELIOS_DELIVERY_SHARE, Series, helios_series
from pipelines.demo.writers import xlsx_bytes

AUTHOR = "Helios Services Finance"
TITLE = "Helios Services — Monthly finance pack"
SUMMARY_SHEET = "Summary"
ROW_LABELS: dict[str, str] = {
    "revenue_eur": "Revenue",
    "staff_cost_eur": "Staff costs",
    "operating_cost_eur": "Operating costs",
    "ebitda_eur": "EBITDA",
    "gross_margin_pct": "Gross margin %",
    "billable_hours": "Billable hours",
    "hours_worked": "Hours worked",
    "fte": "FTE",
}
ROW_LABELS_2024 = {
    **ROW_LABELS,
    "staff_cost_eur": "Personnel costs",
    "operating_cost_eur": "Operating expenses",
    "fte": "Headcount (FTE)",
}
"""FY2024 used other labels for three rows."""
LAYOUT: tuple[tuple[str, str], ...] = (
    ("section", "Profit & loss"),
    ("kpi", "revenue_eur"),
    ("kpi", "staff_cost_eur"),
    ("kpi", "operating_cost_eur"),
    ("kpi", "ebitda_eur"),
    ("kpi", "gross_margin_pct"),
    ("blank", ""),
    ("section", "Activity"),
    ("kpi", "billable_hours"),
    ("kpi", "hours_worked"),
    ("kpi", "fte"),
)
"""Rows from row 4 down."""
FIRST_LAYOUT_ROW = 4
MONTH_HEADER_ROW = 3
YEAR_ROW = 2
NUMBER_FORMATS = {
    "revenue_eur": "#,##0;(#,##0)",
    "staff_cost_eur": "#,##0;(#,##0)",
    "operating_cost_eur": "#,##0;(#,##0)",
    "ebitda_eur": "#,##0;(#,##0)",
    "gross_margin_pct": "0.0%",
    "billable_hours": "#,##0",
    "hours_worked": "#,##0",
    "fte": "0.0",
}
TEXT_NUMBERS = frozenset(
    {
        (2024, "Lyon", "billable_hours", 3),
        (2025, "Paris", "revenue_eur", 2),
        (2025, "Nantes", "hours_worked", 10),
    }
)
"""(year, site, KPI, month) cells written as English text with a thousands comma ("4,176")."""


def file_name(year: int, year_to_date: bool) -> str:
    """`Finance pack FY2025.xlsx`, or `Finance pack FY2026 YTD.xlsx` for a year in progress."""
    return f"Finance pack FY{year}{' YTD' if year_to_date else ''}.xlsx"


def finance_pack_files(last_month: dt.date, as_of: dt.date) -> dict[str, bytes]:
    """Every finance pack from FY2024 to the year of `last_month`, by file name."""
    series = helios_series(last_month)
    files = {}
    for year in range(HELIOS.data_start.year, last_month.year + 1):
        year_to_date = last_month < dt.date(year, 12, 1)
        year_end = min(dt.date(year, 12, 1), last_month)
        files[file_name(year, year_to_date)] = xlsx_bytes(
            finance_pack_workbook(year, series, last_month),
            created=dt.datetime(year, 2, 10, 14, 0),
            saved=saved_at(add_months(year_end, 1) - dt.timedelta(days=1), as_of, days=8),
            author=AUTHOR,
        )
    return files


def finance_pack_workbook(year: int, series: Series, last_month: dt.date) -> Workbook:
    """One fiscal year's pack: `Summary`, then a sheet per site."""
    workbook = Workbook()
    summary = workbook.active
    summary.title = SUMMARY_SHEET
    months = [dt.date(year, m, 1) for m in range(1, 13)]
    sent = [m for m in months if m <= last_month]
    _pack_sheet(summary, year, f"{TITLE} — all sites", _summary(series, sent), sent, None)
    for site in HELIOS.sites:
        _pack_sheet(workbook.create_sheet(site), year, TITLE, series[site], sent, site)
    return workbook


def _summary(series: Series, months: list[dt.date]) -> dict[dt.date, dict[str, float | None]]:
    """Sums over sites; gross margin recomputed from the summed revenue and staff costs."""
    rows: dict[dt.date, dict[str, float | None]] = {}
    for month in months:
        total: dict[str, float | None] = {}
        for kpi in ROW_LABELS:
            total[kpi] = sum(series[site][month][kpi] or 0 for site in series)
        revenue, staff = total["revenue_eur"] or 0, total["staff_cost_eur"] or 0
        total["gross_margin_pct"] = round(
            100 * (revenue - HELIOS_DELIVERY_SHARE * staff) / revenue, 1
        )
        total["fte"] = round(total["fte"] or 0, 1)
        rows[month] = total
    return rows


def _pack_sheet(
    sheet: Worksheet,
    year: int,
    title: str,
    rows: dict[dt.date, dict[str, float | None]],
    sent: list[dt.date],
    site: str | None,
) -> None:
    year_to_date = len(sent) < 12
    labels = ROW_LABELS_2024 if year <= 2024 else ROW_LABELS
    sheet.cell(1, 1, title).font = Font(bold=True, size=14)
    sheet.cell(YEAR_ROW, 2, f"FY{year}")
    sheet.cell(YEAR_ROW, 2).alignment = Alignment(horizontal="center")
    sheet.cell(YEAR_ROW, 2).font = Font(bold=True)
    sheet.merge_cells(start_row=YEAR_ROW, start_column=2, end_row=YEAR_ROW, end_column=13)
    for month_index, name in enumerate(ENGLISH_MONTHS, start=2):
        sheet.cell(MONTH_HEADER_ROW, month_index, name).font = Font(bold=True)
    total_column = 14
    sheet.cell(MONTH_HEADER_ROW, total_column, "YTD total" if year_to_date else "FY total")
    sheet.cell(MONTH_HEADER_ROW, total_column).font = Font(bold=True)
    for offset, (kind, key) in enumerate(LAYOUT):
        row = FIRST_LAYOUT_ROW + offset
        if kind == "section":
            sheet.cell(row, 1, key).font = Font(bold=True, italic=True)
            continue
        if kind == "blank":
            continue
        sheet.cell(row, 1, labels[key])
        for month in sent:
            value = rows[month][key]
            if value is None:
                continue
            cell = sheet.cell(row, month.month + 1)
            if site is not None and (year, site, key, month.month) in TEXT_NUMBERS:
                cell.value = f"{value:,.0f}"
                cell.alignment = Alignment(horizontal="right")
            else:
                cell.value = round(value / 100, 3) if key == "gross_margin_pct" else value
                cell.number_format = NUMBER_FORMATS[key]
        total = sheet.cell(row, total_column, _total(key, rows, sent))
        total.number_format = NUMBER_FORMATS[key]
        total.font = Font(bold=True)
    sheet.column_dimensions["A"].width = 22
    for column in range(2, total_column + 1):
        sheet.column_dimensions[get_column_letter(column)].width = 11
    sheet.freeze_panes = sheet.cell(FIRST_LAYOUT_ROW, 2)


def _total(key: str, rows: dict[dt.date, dict[str, float | None]], sent: list[dt.date]) -> float:
    """Total column: sums; FTE averaged; gross margin weighted by revenue (as a fraction)."""
    values = [(rows[m][key] or 0.0, rows[m]["revenue_eur"] or 0.0) for m in sent]
    if key == "fte":
        return round(sum(v for v, _ in values) / len(values), 1)
    if key == "gross_margin_pct":
        revenue = sum(r for _, r in values)
        return round(sum(v * r for v, r in values) / revenue / 100, 3)
    return sum(v for v, _ in values)
