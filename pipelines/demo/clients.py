"""The `client.yaml` of each demo client, as commented YAML text.

Sites and go-lives come from `pipelines.demo.effects`, headers and labels from the modules that
write the files, so the configuration always matches what the demo writes.
"""

import datetime as dt
import json

import yaml

from pipelines.demo import dashboards, exports, finance_packs
from pipelines.demo.effects import DURAND, HELIOS, MENUISERIES, DemoEffect

SCHEMA_LINE = "# yaml-language-server: $schema=../../client.schema.json"


def _q(text: str) -> str:
    """`text` as a YAML scalar: plain when YAML reads it back unchanged, else double-quoted."""
    try:
        plain_ok = yaml.safe_load(f"key: {text}") == {"key": text}
    except yaml.YAMLError:
        plain_ok = False
    return text if plain_ok and text == text.strip() else json.dumps(text, ensure_ascii=False)


def _names(names: list[str]) -> str:
    unique = list(dict.fromkeys(names))
    return _q(unique[0]) if len(unique) == 1 else "[" + ", ".join(_q(n) for n in unique) + "]"


def _recipients(people: list[str]) -> str:
    return "\n".join(f"      - {_q(person)}" for person in people)


def menuiseries_yaml() -> str:
    """client.yaml of Menuiseries du Rhône (sheet per site, monthly, staggered go-lives)."""
    headers = {
        kpi: [
            dashboards.style_for(year).headers[index + 1]
            for year in sorted(dashboards.STYLES, reverse=True)
        ]
        for index, kpi in enumerate(dashboards.KPI_COLUMNS)
    }
    sites = []
    for site, go_live in MENUISERIES.go_live.items():
        sheet = dashboards.SHEETS[site]
        sites.append(f"  - name: {_q(site)}")
        if sheet != site:
            sites.append(f"    aliases: [{_q(sheet)}]   # the workbook's sheet name")
        sites.append(f"    go_live: {go_live.isoformat()}")
    columns = "\n".join(f"      {kpi}: {_names(names)}" for kpi, names in headers.items())
    return f"""{SCHEMA_LINE}
# {MENUISERIES.name}: demo client written by `pipelines.demo` (fictitious data).
# Sources: one workbook a year, "Tableau de bord <année>.xlsx", sent monthly by the finance
# manager. One sheet per site plus a "Notes" sheet; 2 or 3 title rows above the header; months
# as real dates or as French text ("janv. 2024"); a "Total <année>" row; revenue in k€;
# "NC" where a site did not report. Headers changed wording over the years (synonyms below).
name: {_q(MENUISERIES.name)}
language: fr
timezone: Europe/Paris
cadence: monthly

# Staggered go-lives of the continuous-improvement programme, first day of the month.
sites:
{chr(10).join(sites)}

sources:
  - name: tableau-de-bord
    pattern: "Tableau de bord *.xlsx"
    format: xlsx
    layout: sheet_per_site
    locale: fr
    skip_sheets: [{_q(dashboards.NOTES_SHEET)}]
    period: {_q(dashboards.style_for(2024).headers[0])}
    columns:
{columns}
    scale:
      revenue_eur: {dashboards.REVENUE_DIVISOR}   # revenue is written in k€

report:
  delivery: review
  recipients:
    to:
{
        _recipients(
            [
                "Claire Martin <claire.martin@menuiseries-rhone.example.fr>",
                "Philippe Garnier <philippe.garnier@menuiseries-rhone.example.fr>",
            ]
        )
    }
    cc:
{_recipients(["Sophie Bernard <sophie.bernard@menuiseries-rhone.example.fr>"])}
"""


def durand_yaml() -> str:
    """client.yaml of Logistique Durand (long CSV, weekly, two control sites)."""
    go_live = _single_go_live(DURAND)
    sites = [f"  - name: {_q(site)}" for site in DURAND.treated]
    sites += [f"  - name: {_q(site)}\n    control: true" for site in DURAND.controls]
    indicators = "\n".join(
        f"      {code}: {kpi}" for code, (kpi, _unit) in exports.INDICATORS.items()
    )
    header = exports.HEADER
    columns = exports.DELIMITER.join(header)
    iso_year, iso_week, _ = go_live.isocalendar()
    week = f"{iso_year}-W{iso_week:02d}"
    return f"""{SCHEMA_LINE}
# {DURAND.name}: demo client written by `pipelines.demo` (fictitious data).
# Sources: the warehouse system's KPI export, one CSV per ISO year ("Export_KPI_2024.csv"),
# long format ({columns}), cp1252, semicolons, decimal commas,
# weeks as "2024-S01" (Monday of the ISO week). Missing values are empty or "NC".
# The client sometimes sends the same export twice ("Export_KPI_2025 (1).csv"): keep one.
name: {_q(DURAND.name)}
language: fr
timezone: Europe/Paris
cadence: weekly
go_live: {go_live.isoformat()}   # Monday of ISO week {week}, every treated site

# Two sites run the new process; two comparable sites are kept as controls.
sites:
{chr(10).join(sites)}

sources:
  - name: export-kpi
    pattern: "Export_KPI_*.csv"
    format: csv
    layout: long
    encoding: {exports.ENCODING}
    delimiter: "{exports.DELIMITER}"
    locale: fr
    grain: week
    site: {_q(header[0])}
    period: {_q(header[1])}
    indicator: {_q(header[2])}
    value: {_q(header[3])}
    indicators:   # indicator code -> KPI (the "{header[4]}" column is informative)
{indicators}

# A weekly report that goes out by itself after a nightly run whose checks passed.
report:
  delivery: auto
  recipients:
    to:
{
        _recipients(
            [
                "Marc Durand <marc.durand@logistique-durand.example.fr>",
                "Nathalie Lefèvre <nathalie.lefevre@logistique-durand.example.fr>",
            ]
        )
    }
"""


def helios_yaml() -> str:
    """client.yaml of Helios Services (English finance pack, monthly, one go-live)."""
    go_live = _single_go_live(HELIOS)
    rows = "\n".join(
        f"      {kpi}: "
        + _names([finance_packs.ROW_LABELS[kpi], finance_packs.ROW_LABELS_2024[kpi]])
        for kpi in finance_packs.ROW_LABELS
    )
    sites = "\n".join(f"  - name: {_q(site)}" for site in HELIOS.sites)
    return f"""{SCHEMA_LINE}
# {HELIOS.name}: demo client written by `pipelines.demo` (fictitious data).
# Sources: the monthly finance pack, one workbook per fiscal year (FY = calendar year):
# "Finance pack FY2025.xlsx", "Finance pack FY2026 YTD.xlsx" for the year in progress.
# KPIs as rows, months as columns under a merged "FY2025" cell, one sheet per site plus a
# "Summary" sheet; gross margin stored as a fraction with a % format; some numbers as text.
name: {_q(HELIOS.name)}
language: en
timezone: Europe/Paris
cadence: monthly
go_live: {go_live.isoformat()}

sites:
{sites}

sources:
  - name: finance-pack
    pattern: "Finance pack FY*.xlsx"
    format: xlsx
    layout: wide
    locale: en
    site_from: sheet
    skip_sheets: [{_q(finance_packs.SUMMARY_SHEET)}]
    rows:   # FY2024 used "Personnel costs", "Operating expenses" and "Headcount (FTE)"
{rows}
    percent_cells: fraction   # gross margin cells hold 0.359, shown as 35.9 %

report:
  delivery: review
  recipients:
    to:
{
        _recipients(
            [
                "Emma Clarke <emma.clarke@helios-services.example.com>",
                "Julien Moreau <julien.moreau@helios-services.example.com>",
            ]
        )
    }
    cc:
{_recipients(["finance@helios-services.example.com"])}
"""


def _single_go_live(client: DemoEffect) -> dt.date:
    dates = set(client.go_live.values())
    if len(dates) != 1:
        raise ValueError(f"{client.slug}: expected one go-live for every treated site")
    return dates.pop()


CLIENT_YAML = {
    MENUISERIES.slug: menuiseries_yaml,
    DURAND.slug: durand_yaml,
    HELIOS.slug: helios_yaml,
}
"""Slug -> function returning the client's `client.yaml` text."""
