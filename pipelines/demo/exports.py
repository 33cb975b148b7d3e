"""Logistique Durand: the warehouse system's yearly KPI export, long format, one file per ISO year.

`Export_KPI_<year>.csv`: cp1252, `;`-separated, CRLF, no quoting, header
`Site;Semaine;Indicateur;Valeur;Unité`, weeks as `2024-S01`, decimal commas, the total cost
with a thousands separator (U+00A0 up to 2024, a plain space from 2025), missing values as an
empty field or `NC`. The client sent the 2025 export twice: `Export_KPI_2025 (1).csv`.
"""

import datetime as dt

from pipelines.demo.effects import DURAND
from pipelines.demo.periods import iso_week_label
from pipelines.demo.series import DURAND_MISSING, Series, durand_series
from pipelines.demo.writers import csv_bytes

ENCODING = "cp1252"
DELIMITER = ";"
HEADER = ["Site", "Semaine", "Indicateur", "Valeur", "Unité"]
INDICATORS: dict[str, tuple[str, str]] = {
    # code: (canonical KPI, unit as written)
    "COLIS_EXP": ("parcels_shipped", "colis"),
    "HEURES_TRAV": ("hours_worked", "h"),
    "INTERIM": ("temp_workers", "pers."),
    "TX_SERVICE": ("service_level_pct", "%"),
    "COUT_TOTAL": ("total_cost_eur", "€"),
}
DECIMALS = {
    "parcels_shipped": 0,
    "hours_worked": 1,
    "temp_workers": 0,
    "service_level_pct": 1,
    "total_cost_eur": 2,
}
NBSP = "\u00a0"
DUPLICATE_YEAR = 2025
"""The year whose export the client sent twice."""


def file_name(year: int, copy: int = 0) -> str:
    """`Export_KPI_2025.csv`, or `Export_KPI_2025 (1).csv` for a browser's second download."""
    return f"Export_KPI_{year}{f' ({copy})' if copy else ''}.csv"


def export_files(last_week: dt.date) -> dict[str, bytes]:
    """Every yearly export from ISO year 2023 to the ISO year of `last_week`, by file name."""
    series = durand_series(last_week)
    files = {}
    for year in range(DURAND.data_start.isocalendar()[0], last_week.isocalendar()[0] + 1):
        data = export_bytes(year, series)
        files[file_name(year)] = data
        if year == DUPLICATE_YEAR:
            files[file_name(year, copy=1)] = data
    return files


def export_bytes(iso_year: int, series: Series) -> bytes:
    """The export of one ISO year: rows by week, then site (alphabetical), then indicator."""
    thousands = NBSP if iso_year <= 2024 else " "
    weeks = sorted({w for rows in series.values() for w in rows if w.isocalendar()[0] == iso_year})
    lines = [HEADER]
    for monday in weeks:
        for site in sorted(series):
            values = series[site][monday]
            for code, (kpi, unit) in INDICATORS.items():
                value = values[kpi]
                if value is None:
                    text = DURAND_MISSING.get((site, monday, kpi), "NC")
                else:
                    separator = thousands if kpi == "total_cost_eur" else ""
                    text = french_number(value, DECIMALS[kpi], separator)
                lines.append([site, iso_week_label(monday), code, text, unit])
    return csv_bytes(lines, delimiter=DELIMITER, encoding=ENCODING)


def french_number(value: float, decimals: int, thousands: str = "") -> str:
    """`12 345,60`: decimal comma, optional thousands separator."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", thousands)
