"""Seeded benchmark workloads: a `sheet_per_site` workbook, a `long` CSV and their client.yaml.

Both files use the same sites (`Dépôt 001`, `Dépôt 002`, ...) and weekly periods: consecutive
ISO weeks from 2000-W01 (Monday 2000-01-03), so 1,000 weeks end in 2019, long before today.
Every (site, week, KPI) appears once, so the expected number of values stored is known exactly:
rows x KPI columns for the workbook, rows for the CSV (every indicator maps to its own KPI).
"""

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from openpyxl import Workbook

from pipelines.catalogue import BASE_KPIS

SLUG = "cap-bench"
WEEKS_PER_SITE = 1000
FIRST_MONDAY = dt.date(2000, 1, 3)  # Monday of ISO week 2000-W01
XLSX_NAME = "Tableau de bord bench.xlsx"
CSV_NAME = "Export_KPI_bench.csv"
PERIOD_HEADER = "Semaine"
CSV_ENCODING = "cp1252"
MAX_KPIS = len(BASE_KPIS)


@dataclass(frozen=True)
class Workload:
    """A generated file and what loading it must store."""

    path: Path
    rows: int
    kpis: int
    expected_values: int


def site_name(index: int) -> str:
    """The name of the site number `index` (0-based): `Dépôt 001`."""
    return f"Dépôt {index + 1:03d}"


def week_monday(index: int) -> dt.date:
    """The Monday of the `index`-th week (0-based) from 2000-W01."""
    return FIRST_MONDAY + dt.timedelta(weeks=index)


def site_count(rows: int) -> int:
    """Sites needed for `rows` (site, week) rows of at most `WEEKS_PER_SITE` weeks each."""
    return max(1, -(-rows // WEEKS_PER_SITE))


def kpi_names(count: int) -> list[str]:
    """The first `count` KPIs of the catalogue (at most `MAX_KPIS`, one column or code each)."""
    if not 1 <= count <= MAX_KPIS:
        raise ValueError(f"between 1 and {MAX_KPIS} KPIs (the catalogue's size), got {count}")
    return list(BASE_KPIS)[:count]


def _value(rng: random.Random, kpi: str) -> float:
    """A plausible value: a fraction for percentages (as Excel stores them), else an amount."""
    if BASE_KPIS[kpi].unit == "pct":
        return round(rng.uniform(0.5, 1.0), 4)
    return round(rng.uniform(10.0, 100_000.0), 2)


def _site_weeks(rows: int) -> Iterator[tuple[int, int]]:
    """(site, week) of each row: `WEEKS_PER_SITE` weeks of a site, then the next site."""
    for row in range(rows):
        yield divmod(row, WEEKS_PER_SITE)


def write_xlsx(folder: Path, rows: int, kpis: int, seed: int) -> Workload:
    """A `sheet_per_site` workbook: a sheet per site, `Semaine | <KPI headers>`, a row per week.

    Periods are real dates (the Monday of each week) and values are numeric cells.
    """
    names = kpi_names(kpis)
    rng = random.Random(seed)
    workbook = Workbook(write_only=True)
    sheet = None
    current_site = -1
    for site, week in _site_weeks(rows):
        if site != current_site:
            sheet = workbook.create_sheet(site_name(site))
            sheet.append([PERIOD_HEADER, *(BASE_KPIS[kpi].label_fr for kpi in names)])
            current_site = site
        monday = dt.datetime.combine(week_monday(week), dt.time())
        sheet.append([monday, *(_value(rng, kpi) for kpi in names)])
    path = folder / XLSX_NAME
    workbook.save(path)
    return Workload(path, rows, kpis, rows * kpis)


def write_csv(folder: Path, rows: int, indicators: int, seed: int) -> Workload:
    """A `long` CSV export: `Site;Semaine;Indicateur;Valeur`, cp1252, decimal commas,
    weeks as `YYYY-Sww`, sorted by site, week and indicator."""
    names = kpi_names(indicators)
    rng = random.Random(seed)
    lines = ["Site;Semaine;Indicateur;Valeur"]
    for row in range(rows):
        step, indicator = divmod(row, indicators)
        site, week = divmod(step, WEEKS_PER_SITE)
        year, number, _ = week_monday(week).isocalendar()
        kpi = names[indicator]
        value = _value(rng, kpi)
        if BASE_KPIS[kpi].unit == "pct":
            value = round(value * 100, 2)  # text exports write percentages in points
        text = f"{value:.2f}".replace(".", ",")
        lines.append(f"{site_name(site)};{year}-S{number:02d};{kpi.upper()};{text}")
    path = folder / CSV_NAME
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(CSV_ENCODING))
    return Workload(path, rows, 1, rows)


def client_yaml(sites: int, xlsx_kpis: int, csv_indicators: int) -> str:
    """The client.yaml that reads both workloads: the sites, a weekly cadence, two sources."""
    config = {
        "name": "Cap benchmark",
        "language": "fr",
        "cadence": "weekly",
        "go_live": "2010-01-04",
        "sites": [{"name": site_name(index)} for index in range(sites)],
        "sources": [
            {
                "name": "tableau_de_bord",
                "pattern": XLSX_NAME,
                "layout": "sheet_per_site",
                "period": [PERIOD_HEADER],
                "columns": {kpi: [BASE_KPIS[kpi].label_fr] for kpi in kpi_names(xlsx_kpis)},
            },
            {
                "name": "export_wms",
                "pattern": CSV_NAME,
                "layout": "long",
                "encoding": CSV_ENCODING,
                "delimiter": ";",
                "site": "Site",
                "period": "Semaine",
                "indicator": "Indicateur",
                "value": "Valeur",
                "indicators": {kpi.upper(): kpi for kpi in kpi_names(csv_indicators)},
            },
        ],
    }
    return yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
