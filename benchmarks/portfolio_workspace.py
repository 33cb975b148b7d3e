"""The seeded portfolio of `python -m benchmarks.portfolio`: many monthly workbook clients and one
weekly client with a long CSV, with their client.yaml, as a consultant's workspace holds them.

- `clients` SMEs (`pme-01`, `pme-02`, ...), French and English alternately, each with `sites`
  sites (every fifth one a control site, from five sites on) and `months` months of 12 base KPIs
  ending at the last complete month before `as_of`. They send one `sheet_per_site` workbook a
  year (`Tableau de bord <année>.xlsx`, `Dashboard <year>.xlsx` in English): a sheet per site, a
  title row, then a row per month (real dates) and the KPIs as columns, numbers as numeric cells
  and the service level as a fraction, as Excel stores a percentage. Units per hour rise by
  `XLSX_EFFECT` from each treated site's go-live (staggered around the middle of the window).
- One logistics client (`CSV_SLUG`) sends a single `long` CSV of about `csv_rows` rows
  (`Site;Semaine;Indicateur;Valeur`, cp1252, `;`, decimal commas, weeks as `2024-S01`):
  `csv_sites` depots x 10 indicators x as many ISO weeks as that takes, ending at the last
  complete week before `as_of`. Parcels per hour rise by `CSV_EFFECT` from the go-live on the
  treated depots; every fifth depot is a control.
- One new delivery, kept aside for the "one client changed" run: the first client's workbook
  of the latest year again, restated (a few values corrected).

Deterministic: values come from `numpy.random.default_rng([seed, client, ...])` and workbooks are
written with fixed document and zip times (`pipelines.demo.writers.xlsx_bytes`), so the same
options give byte-identical files. A file's modification time is when the client sent it (a
year's workbook on 5 January of the next year, the current year's the day before `as_of`), as
Cap takes a delivery's date from it.
"""

import datetime as dt
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from openpyxl import Workbook

from pipelines.catalogue import BASE_KPIS
from pipelines.config.loader import CONFIG_FILE_NAME, load_client_config
from pipelines.demo.periods import (
    add_months,
    iso_week_label,
    last_complete_month,
    last_complete_week,
    month_starts,
)
from pipelines.demo.writers import xlsx_bytes

XLSX_KPIS = (
    "units_produced",
    "hours_worked",
    "billable_hours",
    "fte",
    "temp_workers",
    "revenue_eur",
    "material_cost_eur",
    "staff_cost_eur",
    "operating_cost_eur",
    "total_cost_eur",
    "ebitda_eur",
    "service_level_pct",
)
"""The 12 base KPIs of every workbook client, in column order (B to M)."""
XLSX_EFFECT = 0.08
"""Units per hour after a treated site's go-live, relative to before."""
CSV_EFFECT = 0.10
"""Parcels per hour after the go-live on a treated depot, relative to before."""
CONTROL_EVERY = 5
"""Every fifth site is a control site (when a client has at least this many sites)."""

CSV_SLUG = "messagerie-express"
CSV_NAME = "Export_KPI_historique.csv"
CSV_ENCODING = "cp1252"
CSV_HEADER = ("Site", "Semaine", "Indicateur", "Valeur")
CSV_INDICATORS = {
    "COLIS_EXP": "parcels_shipped",
    "HEURES_TRAV": "hours_worked",
    "ETP": "fte",
    "INTERIM": "temp_workers",
    "CA_HT": "revenue_eur",
    "MASSE_SAL": "staff_cost_eur",
    "COUT_EXPL": "operating_cost_eur",
    "COUT_TOTAL": "total_cost_eur",
    "EBITDA": "ebitda_eur",
    "TX_SERVICE": "service_level_pct",
}
"""The export's indicator codes and the KPI each one is (10 indicators a depot and week)."""

LANGUAGES = ("fr", "en")
PERIOD_HEADER = {"fr": "Mois", "en": "Month"}
WORKBOOK_NAME = {"fr": "Tableau de bord {year}.xlsx", "en": "Dashboard {year}.xlsx"}
WORKBOOK_PATTERN = {"fr": "Tableau de bord *.xlsx", "en": "Dashboard *.xlsx"}
RESTATED_NAME = {"fr": "Tableau de bord {year} rectifié.xlsx", "en": "Dashboard {year} v2.xlsx"}
TITLE = {"fr": "{client} — tableau de bord {year} — {site}", "en": "{client} — {year} — {site}"}
RESTATED_VALUES = 3
"""How many sites' latest revenue the restated workbook corrects."""

TRADES = (
    "Ateliers",
    "Menuiserie",
    "Fonderie",
    "Imprimerie",
    "Plasturgie",
    "Conserverie",
    "Tôlerie",
    "Charpente",
    "Biscuiterie",
    "Décolletage",
)
FAMILIES = (
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
)
TOWNS = (
    "Lyon",
    "Saint-Étienne",
    "Vénissieux",
    "Villefranche",
    "Grenoble",
    "Annecy",
    "Chambéry",
    "Valence",
    "Roanne",
    "Bourg-en-Bresse",
    "Mâcon",
    "Dijon",
    "Besançon",
    "Clermont-Ferrand",
    "Vienne",
    "Montélimar",
    "Oyonnax",
    "Aurillac",
    "Le Puy-en-Velay",
    "Vichy",
    "Nevers",
    "Auxerre",
    "Chalon-sur-Saône",
    "Beaune",
    "Dole",
    "Lons-le-Saunier",
    "Pontarlier",
    "Belfort",
    "Montbéliard",
    "Vesoul",
)
FIRST_NAMES = ("Claire", "Philippe", "Sophie", "Marc", "Nathalie", "Julien", "Isabelle", "Éric")
LAST_NAMES = ("Martin", "Garnier", "Bernard", "Durand", "Lefèvre", "Rousseau", "Blanc", "Faure")

# Seasonal factors by calendar month: hours (August holidays, December) and units per hour.
HOURS_SEASON = (1.0, 0.98, 1.03, 1.0, 0.97, 1.02, 0.96, 0.86, 1.02, 1.04, 1.0, 0.91)
PRODUCTIVITY_SEASON = (0.99, 1.0, 1.01, 1.0, 1.0, 1.01, 0.99, 0.96, 1.01, 1.02, 1.0, 0.98)


@dataclass(frozen=True)
class PortfolioSpec:
    """The size of the portfolio and the date it is generated for."""

    clients: int = 50
    sites: int = 10
    months: int = 48
    csv_rows: int = 1_000_000
    csv_sites: int = 100
    as_of: dt.date = dt.date(2026, 11, 27)
    seed: int = 20261127


@dataclass(frozen=True)
class Portfolio:
    """What `write_portfolio` wrote."""

    clients_dir: Path
    """The client folders (`<slug>/client.yaml` and `<slug>/inbox/`), to copy into a CAP_HOME."""
    slugs: list[str]
    workbooks: list[Path]
    csv: Path
    csv_rows: int
    csv_weeks: int
    values: int
    """Values in every inbox file together: what a full run must store."""
    changed_slug: str
    new_delivery: Path
    """The restated workbook that the "one client changed" run drops into that client's inbox."""
    seconds: float


def write_portfolio(folder: Path, spec: PortfolioSpec) -> Portfolio:
    """Write the portfolio into `folder` (`clients/` and `deliveries/`); every client.yaml is
    validated with `load_client_config`."""
    if spec.clients < 1 or spec.sites < 1 or spec.months < 1 or spec.csv_rows < 1:
        raise ValueError("clients, sites, months and csv rows must be at least 1")
    started = time.perf_counter()
    clients_dir = folder / "clients"
    deliveries = folder / "deliveries"
    last_month = last_complete_month(spec.as_of)
    months = month_starts(add_months(last_month, 1 - spec.months), last_month)
    slugs, workbooks, values = [], [], 0
    new_delivery: Path | None = None
    for index in range(spec.clients):
        client = _XlsxClient(index, spec, months)
        slugs.append(client.slug)
        inbox = clients_dir / client.slug / "inbox"
        inbox.mkdir(parents=True)
        _write_config(clients_dir / client.slug, client.yaml_text())
        for year in sorted({month.year for month in months}):
            path = inbox / WORKBOOK_NAME[client.language].format(year=year)
            path.write_bytes(client.workbook(year))
            _set_delivered(path, _delivered_on(year, spec.as_of))
            workbooks.append(path)
        values += client.values
        if index == 0:
            year = months[-1].year
            new_delivery = (
                deliveries / client.slug / RESTATED_NAME[client.language].format(year=year)
            )
            new_delivery.parent.mkdir(parents=True)
            new_delivery.write_bytes(client.workbook(year, restated=True))
    csv_client = _CsvClient(spec)
    csv = csv_client.write(clients_dir / CSV_SLUG)
    slugs.append(CSV_SLUG)
    values += csv_client.rows
    assert new_delivery is not None
    return Portfolio(
        clients_dir=clients_dir,
        slugs=sorted(slugs),
        workbooks=workbooks,
        csv=csv,
        csv_rows=csv_client.rows,
        csv_weeks=len(csv_client.weeks),
        values=values,
        changed_slug=slugs[0],
        new_delivery=new_delivery,
        seconds=time.perf_counter() - started,
    )


def _write_config(client_dir: Path, text: str) -> None:
    path = client_dir / CONFIG_FILE_NAME
    path.write_text(text, encoding="utf-8")
    load_client_config(path)


def _delivered_on(year: int, as_of: dt.date) -> dt.datetime:
    """A year's workbook arrives on 5 January of the next year; the current year's (and any
    file sent after `as_of`) the evening before `as_of`."""
    day = min(dt.date(year + 1, 1, 5), as_of - dt.timedelta(days=1))
    return dt.datetime.combine(day, dt.time(18, 0), tzinfo=dt.UTC)


def _set_delivered(path: Path, when: dt.datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def _recipients(slug: str, rng: np.random.Generator, count: int) -> list[str]:
    people = []
    for _ in range(count):
        first = FIRST_NAMES[rng.integers(len(FIRST_NAMES))]
        last = LAST_NAMES[rng.integers(len(LAST_NAMES))]
        address = f"{_ascii(first)}.{_ascii(last)}@{slug}.example.fr".lower()
        people.append(f"{first} {last} <{address}>")
    return people


def _ascii(text: str) -> str:
    return text.translate(str.maketrans("éèÉ", "eeE"))


def _control(index: int, sites: int) -> bool:
    return sites >= CONTROL_EVERY and index % CONTROL_EVERY == CONTROL_EVERY - 1


class _XlsxClient:
    """One workbook client: its configuration and values, and its yearly workbooks."""

    def __init__(self, index: int, spec: PortfolioSpec, months: list[dt.date]) -> None:
        self.slug = f"pme-{index + 1:02d}"
        self.language = LANGUAGES[index % len(LANGUAGES)]
        rng = np.random.default_rng([spec.seed, 1, index])
        trade = TRADES[index % len(TRADES)]
        family = FAMILIES[(index // len(TRADES) + index) % len(FAMILIES)]
        self.name = f"{trade} {family}"
        towns = rng.choice(len(TOWNS), size=min(spec.sites, len(TOWNS)), replace=False)
        self.sites = [
            TOWNS[towns[i]] if i < len(towns) else f"Site {i + 1:02d}" for i in range(spec.sites)
        ]
        self.months = months
        self.go_live: dict[str, dt.date | None] = {}
        count = len(months)
        for number, site in enumerate(self.sites):
            if _control(number, spec.sites):
                self.go_live[site] = None
                continue
            spread = max(1, count // 8)
            position = count // 2 + int(rng.integers(-spread, spread + 1))
            self.go_live[site] = (
                months[min(max(position, 1), count - 1)] if count > 1 else months[0]
            )
        self.recipients = _recipients(self.slug, rng, 3)
        self.table = {
            site: _site_months(
                np.random.default_rng([spec.seed, 2, index, number]), months, self.go_live[site]
            )
            for number, site in enumerate(self.sites)
        }
        self.values = len(self.sites) * count * len(XLSX_KPIS)

    def yaml_text(self) -> str:
        """The client.yaml: sites and go-lives, the workbook source, review, recipients."""
        language = self.language
        headers = {kpi: [_label(kpi, language)] for kpi in XLSX_KPIS}
        sites = [
            {"name": site, "control": True}
            if go_live is None
            else {"name": site, "go_live": go_live.isoformat()}
            for site, go_live in self.go_live.items()
        ]
        config = {
            "name": self.name,
            "language": language,
            "timezone": "Europe/Paris",
            "cadence": "monthly",
            "sites": sites,
            "sources": [
                {
                    "name": "tableau-de-bord" if language == "fr" else "dashboard",
                    "pattern": WORKBOOK_PATTERN[language],
                    "format": "xlsx",
                    "layout": "sheet_per_site",
                    "period": [PERIOD_HEADER[language]],
                    "columns": headers,
                }
            ],
            "report": {
                "delivery": "review",
                "recipients": {"to": self.recipients[:2], "cc": self.recipients[2:]},
            },
        }
        comment = f"# {self.name}: benchmark client written by `benchmarks.portfolio_workspace`.\n"
        return comment + yaml.safe_dump(config, allow_unicode=True, sort_keys=False)

    def workbook(self, year: int, restated: bool = False) -> bytes:
        """The workbook of `year`: a sheet per site, a title row, the header, a row per month.

        Restated: the same, with the revenue of the latest month corrected (+1.5 %) on the first
        `RESTATED_VALUES` sites.
        """
        workbook = Workbook(write_only=True)
        header = [PERIOD_HEADER[self.language], *(_label(kpi, self.language) for kpi in XLSX_KPIS)]
        revenue = XLSX_KPIS.index("revenue_eur")
        rows = [(i, month) for i, month in enumerate(self.months) if month.year == year]
        for number, site in enumerate(self.sites):
            sheet = workbook.create_sheet(site[:31])
            title = TITLE[self.language].format(client=self.name, year=year, site=site)
            sheet.append([title])
            sheet.append(header)
            values = self.table[site]
            for position, (i, month) in enumerate(rows):
                row = [_cell(kpi, values[i, k]) for k, kpi in enumerate(XLSX_KPIS)]
                if restated and number < RESTATED_VALUES and position == len(rows) - 1:
                    row[revenue] = round(row[revenue] * 1.015)
                sheet.append([dt.datetime.combine(month, dt.time()), *row])
        saved = dt.datetime.combine(rows[-1][1], dt.time(17, 45)) + dt.timedelta(days=35)
        return xlsx_bytes(
            workbook,
            created=dt.datetime(year, 1, 3, 9, 0),
            saved=saved + (dt.timedelta(days=1) if restated else dt.timedelta()),
            author=self.recipients[0].split(" <")[0],
        )


def _label(kpi: str, language: str) -> str:
    entry = BASE_KPIS[kpi]
    return entry.label_fr if language == "fr" else entry.label_en


def _cell(kpi: str, value: float) -> float | int:
    """A value as the client's workbook holds it: counts and euros whole, FTE to a tenth, the
    service level as a fraction with four decimals."""
    if kpi == "service_level_pct":
        return round(float(value), 4)
    if kpi == "fte":
        return round(float(value), 1)
    return round(float(value))


def _site_months(
    rng: np.random.Generator, months: list[dt.date], go_live: dt.date | None
) -> np.ndarray:
    """A site's 12 KPIs for each month (rows: months, columns: `XLSX_KPIS`), consistent with
    each other: hours from FTE, units from hours and units per hour (up by `XLSX_EFFECT` after
    go-live), revenue from units, costs from revenue and hours, EBITDA what is left."""
    count = len(months)
    noise = rng.normal(0.0, 1.0, size=(count, 8))
    fte_base = rng.uniform(15.0, 120.0)
    productivity = rng.uniform(0.4, 3.0)
    revenue_per_hour = rng.uniform(90.0, 115.0)
    material_share = rng.uniform(0.30, 0.38)
    billable_share = rng.uniform(0.72, 0.85)
    temp_share = rng.uniform(0.04, 0.12)
    service = rng.uniform(0.90, 0.95)
    years = np.array([(month - months[0]).days / 365.25 for month in months])
    calendar = np.array([month.month - 1 for month in months])
    after = np.array([go_live is not None and month >= go_live for month in months])
    hours_season = np.take(HOURS_SEASON, calendar)
    fte = fte_base * (1 + 0.01 * years) * np.exp(0.02 * noise[:, 0])
    hours = fte * 140.0 * hours_season * np.exp(0.015 * noise[:, 1])
    rate = productivity * np.take(PRODUCTIVITY_SEASON, calendar) * np.exp(0.02 * noise[:, 2])
    units = hours * rate * np.where(after, 1 + XLSX_EFFECT, 1.0)
    price = revenue_per_hour / productivity * (1 + 0.02 * years)
    revenue = units * price * np.exp(0.01 * noise[:, 3])
    material = revenue * material_share * np.exp(0.02 * noise[:, 4])
    staff = hours * 33.0 * (1 + 0.025 * years) * np.exp(0.01 * noise[:, 5])
    operating = revenue * 0.08 + fte_base * 1500.0 * np.exp(0.03 * noise[:, 6])
    total = material + staff + operating
    columns = {
        "units_produced": units,
        "hours_worked": hours,
        "billable_hours": hours * billable_share * np.exp(0.02 * noise[:, 7]),
        "fte": fte,
        "temp_workers": np.maximum(1.0, fte * temp_share * hours_season),
        "revenue_eur": revenue,
        "material_cost_eur": material,
        "staff_cost_eur": staff,
        "operating_cost_eur": operating,
        "total_cost_eur": total,
        "ebitda_eur": revenue - total,
        "service_level_pct": np.minimum(
            0.995, service + np.where(after, 0.015, 0.0) + 0.008 * noise[:, 0]
        ),
    }
    return np.column_stack([columns[kpi] for kpi in XLSX_KPIS])


class _CsvClient:
    """The logistics client: `csv_sites` depots, 10 indicators, weekly, one long CSV."""

    def __init__(self, spec: PortfolioSpec) -> None:
        self.spec = spec
        per_week = spec.csv_sites * len(CSV_INDICATORS)
        weeks = max(1, round(spec.csv_rows / per_week))
        last = last_complete_week(spec.as_of)
        self.weeks = [last - dt.timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
        self.rows = weeks * per_week
        self.sites = [f"Dépôt {i + 1:03d}" for i in range(spec.csv_sites)]
        self.go_live = self.weeks[max(weeks - 52, weeks // 2)] if weeks > 1 else self.weeks[0]

    def yaml_text(self) -> str:
        """The client.yaml, as the demo's logistique-durand reads its WMS export."""
        sites = [
            {"name": site, "control": True} if _control(i, len(self.sites)) else {"name": site}
            for i, site in enumerate(self.sites)
        ]
        rng = np.random.default_rng([self.spec.seed, 3])
        config = {
            "name": "Messagerie Express",
            "language": "fr",
            "timezone": "Europe/Paris",
            "cadence": "weekly",
            "go_live": self.go_live.isoformat(),
            "sites": sites,
            "sources": [
                {
                    "name": "export-kpi",
                    "pattern": "Export_KPI_*.csv",
                    "format": "csv",
                    "layout": "long",
                    "encoding": CSV_ENCODING,
                    "delimiter": ";",
                    "locale": "fr",
                    "grain": "week",
                    "site": CSV_HEADER[0],
                    "period": CSV_HEADER[1],
                    "indicator": CSV_HEADER[2],
                    "value": CSV_HEADER[3],
                    "indicators": dict(CSV_INDICATORS),
                }
            ],
            "report": {
                "delivery": "review",
                "recipients": {"to": _recipients(CSV_SLUG, rng, 2)},
            },
        }
        comment = (
            "# Messagerie Express: benchmark client written by `benchmarks.portfolio_workspace`.\n"
        )
        return comment + yaml.safe_dump(config, allow_unicode=True, sort_keys=False)

    def write(self, client_dir: Path) -> Path:
        """Write client.yaml and the CSV (week, then depot, then indicator)."""
        inbox = client_dir / "inbox"
        inbox.mkdir(parents=True)
        _write_config(client_dir, self.yaml_text())
        values = self._values()
        codes = list(CSV_INDICATORS)
        lines = [";".join(CSV_HEADER)]
        for w, monday in enumerate(self.weeks):
            week = iso_week_label(monday)
            for s, site in enumerate(self.sites):
                prefix = f"{site};{week};"
                lines.extend(
                    prefix + code + ";" + _decimal_comma(values[w, s, k])
                    for k, code in enumerate(codes)
                )
        path = inbox / CSV_NAME
        path.write_bytes(("\r\n".join(lines) + "\r\n").encode(CSV_ENCODING))
        _set_delivered(path, dt.datetime.combine(self.spec.as_of, dt.time(5, 0), tzinfo=dt.UTC))
        return path

    def _values(self) -> np.ndarray:
        """Values by week, depot and indicator (in `CSV_INDICATORS` order)."""
        rng = np.random.default_rng([self.spec.seed, 4])
        weeks, sites = len(self.weeks), len(self.sites)
        noise = rng.normal(0.0, 1.0, size=(weeks, sites, 6))
        fte_base = rng.uniform(20.0, 150.0, size=sites)
        per_hour = rng.uniform(25.0, 45.0, size=sites)
        service = rng.uniform(94.0, 97.5, size=sites)
        week_numbers = np.array([monday.isocalendar()[1] for monday in self.weeks])
        season = np.ones(weeks)
        season[(week_numbers >= 47) & (week_numbers <= 51)] = 1.3
        season[(week_numbers >= 31) & (week_numbers <= 34)] = 0.85
        season = season[:, None]
        treated = np.array([not _control(i, sites) for i in range(sites)])
        after = np.array([monday >= self.go_live for monday in self.weeks])[:, None] & treated
        years = np.array([(monday - self.weeks[0]).days / 365.25 for monday in self.weeks])
        fte = fte_base * np.sqrt(season) * np.exp(0.02 * noise[..., 0])
        hours = fte * 35.0 * np.exp(0.015 * noise[..., 1])
        parcels = hours * per_hour * np.sqrt(season) * np.exp(0.03 * noise[..., 2])
        parcels = parcels * np.where(after, 1 + CSV_EFFECT, 1.0)
        revenue = parcels * 3.2 * (1 + 0.02 * years[:, None])
        staff = hours * 31.0 * (1 + 0.025 * years[:, None])
        operating = revenue * 0.45 + fte_base * 400.0 * np.exp(0.03 * noise[..., 3])
        total = staff + operating
        columns = {
            "parcels_shipped": np.round(parcels),
            "hours_worked": np.round(hours),
            "fte": np.round(fte, 1),
            "temp_workers": np.round(np.maximum(1.0, fte * 0.1 * season)),
            "revenue_eur": np.round(revenue, 2),
            "staff_cost_eur": np.round(staff, 2),
            "operating_cost_eur": np.round(operating, 2),
            "total_cost_eur": np.round(total, 2),
            "ebitda_eur": np.round(revenue - total, 2),
            "service_level_pct": np.round(
                np.minimum(99.8, service + np.where(after, 0.8, 0.0) + 0.6 * noise[..., 4]), 1
            ),
        }
        return np.stack([columns[kpi] for kpi in CSV_INDICATORS.values()], axis=-1)


def _decimal_comma(value: float) -> str:
    """`1234,5`: as a French export writes a number (no thousands separator)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def inbox_files(clients_dir: Path, suffixes: Iterable[str]) -> list[Path]:
    """Every inbox file under `clients_dir` with one of `suffixes` (`.xlsx`), sorted."""
    wanted = {suffix.lower() for suffix in suffixes}
    return sorted(path for path in clients_dir.glob("*/inbox/*") if path.suffix.lower() in wanted)


def describe(portfolio: Portfolio, spec: PortfolioSpec) -> list[str]:
    """What was generated, in a few lines for the results."""
    xlsx_mib = sum(path.stat().st_size for path in portfolio.workbooks) / (1 << 20)
    csv_mib = portfolio.csv.stat().st_size / (1 << 20)
    xlsx_values = math.prod((spec.clients, spec.sites, spec.months, len(XLSX_KPIS)))
    return [
        f"{spec.clients} workbook clients x {spec.sites} sites x {spec.months} months x "
        f"{len(XLSX_KPIS)} base KPIs = {xlsx_values:,} values, in {len(portfolio.workbooks)} "
        f"`sheet_per_site` workbooks (one a year, a sheet per site; {xlsx_mib:.1f} MiB), "
        f"language fr/en alternately, review mode; every {CONTROL_EVERY}th site a control "
        f"when a client has {CONTROL_EVERY} sites or more; units per hour "
        f"+{XLSX_EFFECT:.0%} from each treated site's go-live",
        f"1 CSV client (`{CSV_SLUG}`): one `long` CSV of {portfolio.csv_rows:,} rows = "
        f"{spec.csv_sites} depots x {portfolio.csv_weeks:,} weeks x {len(CSV_INDICATORS)} "
        f"indicators (cp1252, `;`, decimal commas, `2024-S01`; {csv_mib:.1f} MiB), weekly, "
        f"parcels per hour +{CSV_EFFECT:.0%} from the go-live on treated depots",
        f"{portfolio.values:,} values in all; data up to the last complete month (week) before "
        f"{spec.as_of.isoformat()}; seed {spec.seed}; generated in {portfolio.seconds:.1f} s",
    ]
