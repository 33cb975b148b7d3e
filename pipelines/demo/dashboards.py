"""Menuiseries du Rhône: one "Tableau de bord <année>.xlsx" per year, one sheet per site.

Each site sheet has title rows, then a French header row whose wording drifts between years,
then twelve month rows (real dates in odd years, French text such as `janv. 2024` in even
years), then a `Total <année>` row. Revenue is in k€; a missing value is written "NC"; months
not yet complete are rows with only their label.
"""

import datetime as dt
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

from pipelines.demo.effects import MENUISERIES
from pipelines.demo.periods import add_months, french_month_label, month_starts, saved_at
from pipelines.demo.series import MENUISERIES_EVENTS, Series, menuiseries_series
from pipelines.demo.writers import xlsx_bytes

AUTHOR = "Claire Martin"
TITLE = "Menuiseries du Rhône — Tableau de bord mensuel {year}"
SITE_LINE = "Site : {sheet}"
SHEETS = {
    "Lyon": "Lyon",
    "Saint-Étienne": "St-Etienne",
    "Vénissieux": "Vénissieux",
    "Villefranche": "Villefranche",
}
"""Canonical site name -> sheet name (the sheet name `St-Etienne` is an alias)."""
NOTES_SHEET = "Notes"
KPI_COLUMNS = (
    "units_produced",
    "hours_worked",
    "fte",
    "revenue_eur",
    "material_cost_eur",
    "staff_cost_eur",
)
"""KPIs of columns B to G; column A is the month and column H the comment."""
NUMBER_FORMATS = {
    "units_produced": "#,##0",
    "hours_worked": "#,##0",
    "fte": "0.0",
    "revenue_eur": "#,##0.0",
    "material_cost_eur": "#,##0",
    "staff_cost_eur": "#,##0",
}
REVENUE_DIVISOR = 1000
"""Revenue is written in k€."""
GO_LIVE_COMMENT = "Démarrage nouvelle organisation"


@dataclass(frozen=True)
class DashboardStyle:
    """How one year's workbook is laid out."""

    title_rows: tuple[str, ...]
    headers: tuple[str, ...]
    date_format: str | None
    """Number format of real Excel dates in column A, or None for French text labels."""

    @property
    def header_row(self) -> int:
        """1-based row of the header."""
        return len(self.title_rows) + 1


_BASE_HEADERS = (
    "Mois",
    "Unités produites",
    "Heures travaillées",
    "ETP",
    "Chiffre d'affaires (k€)",
    "Coût matière (€)",
    "Masse salariale (€)",
    "Commentaire",
)


def _headers(**changes: str) -> tuple[str, ...]:
    return tuple(changes.get(header, header) for header in _BASE_HEADERS)


STYLES: dict[int, DashboardStyle] = {
    2023: DashboardStyle(
        (TITLE, SITE_LINE),
        _headers(**{"Heures travaillées": "Heures trav.", "Chiffre d'affaires (k€)": "CA (k€)"}),
        "mmm yyyy",
    ),
    2024: DashboardStyle((TITLE, SITE_LINE, ""), _headers(ETP="ETP "), None),
    2025: DashboardStyle((TITLE, SITE_LINE, ""), _headers(), "mm/yyyy"),
    2026: DashboardStyle((TITLE, SITE_LINE, ""), _headers(ETP="Etp"), None),
}


def style_for(year: int) -> DashboardStyle:
    """The layout of a year's workbook (after 2026: odd years like 2025, even like 2026)."""
    return STYLES.get(year) or STYLES[2025 if year % 2 else 2026]


def file_name(year: int) -> str:
    """`Tableau de bord 2024.xlsx`."""
    return f"Tableau de bord {year}.xlsx"


def dashboard_files(last_month: dt.date, as_of: dt.date) -> dict[str, bytes]:
    """Every yearly workbook from 2023 to the year of `last_month`, by file name."""
    series = menuiseries_series(last_month)
    files = {}
    for year in range(MENUISERIES.data_start.year, last_month.year + 1):
        year_end = min(dt.date(year, 12, 1), last_month)
        workbook = dashboard_workbook(year, series, last_month)
        files[file_name(year)] = xlsx_bytes(
            workbook,
            created=dt.datetime(year, 1, 3, 9, 0),
            saved=saved_at(add_months(year_end, 1) - dt.timedelta(days=1), as_of),
            author=AUTHOR,
        )
    return files


def dashboard_workbook(year: int, series: Series, last_month: dt.date) -> Workbook:
    """The workbook of one year: a sheet per site, then `Notes`."""
    style = style_for(year)
    workbook = Workbook()
    default = workbook.active
    for site, sheet_name in SHEETS.items():
        _site_sheet(workbook.create_sheet(sheet_name), year, site, style, series[site], last_month)
    _notes_sheet(workbook.create_sheet(NOTES_SHEET), year)
    workbook.remove(default)
    return workbook


def _site_sheet(
    sheet: Worksheet,
    year: int,
    site: str,
    style: DashboardStyle,
    rows: dict[dt.date, dict[str, float | None]],
    last_month: dt.date,
) -> None:
    for index, line in enumerate(style.title_rows, start=1):
        if line:
            sheet.cell(index, 1, line.format(year=year, sheet=SHEETS[site]))
    sheet.cell(1, 1).font = Font(bold=True, size=14)
    for column, header in enumerate(style.headers, start=1):
        cell = sheet.cell(style.header_row, column, header)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", wrap_text=True)
    months = month_starts(dt.date(year, 1, 1), dt.date(year, 12, 1))
    for offset, month in enumerate(months, start=1):
        row = style.header_row + offset
        label = sheet.cell(row, 1)
        if style.date_format:
            label.value = dt.datetime.combine(month, dt.time())
            label.number_format = style.date_format
        else:
            label.value = french_month_label(month)
        if month > last_month:
            continue
        values = rows[month]
        for column, kpi in enumerate(KPI_COLUMNS, start=2):
            _value_cell(sheet, row, column, kpi, values[kpi])
        comment = _comment(site, month)
        if comment:
            sheet.cell(row, len(KPI_COLUMNS) + 2, comment)
    _total_row(sheet, style.header_row + len(months) + 1, year, rows, last_month)
    sheet.column_dimensions["A"].width = 14
    for letter in "BCDEFG":
        sheet.column_dimensions[letter].width = 16
    sheet.column_dimensions["H"].width = 34
    sheet.freeze_panes = sheet.cell(style.header_row + 1, 2)


def _value_cell(sheet: Worksheet, row: int, column: int, kpi: str, value: float | None) -> None:
    cell = sheet.cell(row, column)
    if value is None:
        cell.value = "NC"
        cell.alignment = Alignment(horizontal="right")
        return
    cell.value = round(value / REVENUE_DIVISOR, 1) if kpi == "revenue_eur" else value
    cell.number_format = NUMBER_FORMATS[kpi]


def _total_row(
    sheet: Worksheet,
    row: int,
    year: int,
    rows: dict[dt.date, dict[str, float | None]],
    last_month: dt.date,
) -> None:
    """`Total <year>`: sums of the months sent so far; ETP is the average."""
    sheet.cell(row, 1, f"Total {year}").font = Font(bold=True)
    months = [m for m in month_starts(dt.date(year, 1, 1), dt.date(year, 12, 1)) if m <= last_month]
    for column, kpi in enumerate(KPI_COLUMNS, start=2):
        known = [rows[m][kpi] for m in months if rows[m][kpi] is not None]
        if not known:
            continue
        total = sum(known) / len(known) if kpi == "fte" else sum(known)
        cell = sheet.cell(row, column)
        if kpi == "revenue_eur":
            cell.value = round(total / REVENUE_DIVISOR, 1)
        elif kpi == "fte":
            cell.value = round(total, 1)
        else:
            cell.value = total
        cell.number_format = NUMBER_FORMATS[kpi]
        cell.font = Font(bold=True)


def _comment(site: str, month: dt.date) -> str:
    _, comment = MENUISERIES_EVENTS.get((site, month), (1.0, ""))
    if month == MENUISERIES.go_live.get(site):
        comment = f"{comment} ; {GO_LIVE_COMMENT}" if comment else GO_LIVE_COMMENT
    return comment


def _notes_sheet(sheet: Worksheet, year: int) -> None:
    first_go_live = min(MENUISERIES.go_live.values())
    if year < first_go_live.year:
        programme = f"Programme d'amélioration continue : démarrage prévu en {first_go_live.year}."
    else:
        go_lives = ", ".join(
            f"{SHEETS[site]} {french_month_label(day)}" for site, day in MENUISERIES.go_live.items()
        )
        programme = f"Programme d'amélioration continue, démarrage par site : {go_lives}."
    lines = (
        f"Notes — tableau de bord {year}",
        "",
        "CA en k€ HT ; coût matière et masse salariale en € (charges comprises).",
        "ETP : effectif moyen du mois, intérimaires inclus. Ligne Total : moyenne pour l'ETP.",
        "NC = non communiqué par le site (à compléter au prochain envoi).",
        programme,
        "Fichier à renvoyer au cabinet avant le 10 de chaque mois.",
    )
    for row, line in enumerate(lines, start=1):
        if line:
            sheet.cell(row, 1, line)
    sheet.cell(1, 1).font = Font(bold=True)
    sheet.column_dimensions["A"].width = 100
