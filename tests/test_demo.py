"""The demo portfolio: deterministic files, valid configurations, periods and injected effects.

The readers here are deliberately small and independent of `pipelines.ingest`: they read the
files the way the configuration describes them, to check that files and configuration agree.
"""

import datetime as dt
import hashlib
import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from pipelines.config.loader import load_client_config
from pipelines.config.model import ClientConfig
from pipelines.demo import DEMO_EFFECTS, write_demo
from pipelines.demo.periods import (
    ENGLISH_MONTHS,
    FRENCH_MONTHS,
    last_complete_month,
    last_complete_week,
)
from pipelines.demo.series import durand_series, helios_series, menuiseries_series
from pipelines.workspace import Workspace

AS_OF = dt.date(2026, 11, 26)
LAST_MONTH = dt.date(2026, 10, 1)
LAST_WEEK = dt.date(2026, 11, 16)
MENUISERIES, DURAND, HELIOS = "menuiseries-rhone", "logistique-durand", "helios-services"

Row = dict[str, float | None]
Values = dict[tuple[str, dt.date], Row]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo")
    assert write_demo(path, AS_OF) == [MENUISERIES, DURAND, HELIOS]
    return path


@pytest.fixture(scope="module")
def configs(home: Path) -> dict[str, ClientConfig]:
    workspace = Workspace(home)
    return {slug: load_client_config(workspace.config_path(slug)) for slug in DEMO_EFFECTS}


def _digests(home: Path) -> dict[str, str]:
    return {
        str(path.relative_to(home)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(home.rglob("*"))
        if path.is_file()
    }


# --- files -----------------------------------------------------------------------------------


def test_same_as_of_gives_byte_identical_files(home: Path, tmp_path: Path) -> None:
    write_demo(tmp_path, AS_OF)
    assert _digests(tmp_path) == _digests(home)


def test_writing_twice_is_idempotent(tmp_path: Path) -> None:
    write_demo(tmp_path, AS_OF)
    before = _digests(tmp_path)
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    write_demo(tmp_path, AS_OF)
    assert _digests(tmp_path) == before
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == mtimes


def test_expected_files_exist(home: Path) -> None:
    workspace = Workspace(home)
    inboxes = {
        slug: sorted(p.name for p in workspace.inbox(slug).iterdir()) for slug in DEMO_EFFECTS
    }
    assert inboxes == {
        MENUISERIES: [f"Tableau de bord {year}.xlsx" for year in (2023, 2024, 2025, 2026)],
        DURAND: [
            "Export_KPI_2023.csv",
            "Export_KPI_2024.csv",
            "Export_KPI_2025 (1).csv",
            "Export_KPI_2025.csv",
            "Export_KPI_2026.csv",
        ],
        HELIOS: [
            "Finance pack FY2024.xlsx",
            "Finance pack FY2025.xlsx",
            "Finance pack FY2026 YTD.xlsx",
        ],
    }
    inbox = workspace.inbox(DURAND)
    assert (inbox / "Export_KPI_2025.csv").read_bytes() == (
        inbox / "Export_KPI_2025 (1).csv"
    ).read_bytes()


def test_configs_validate_and_match_effects(configs: dict[str, ClientConfig], home: Path) -> None:
    for slug, config in configs.items():
        effect = DEMO_EFFECTS[slug]
        assert config.name == effect.name
        assert config.cadence == effect.cadence
        assert {site.name for site in config.sites} == set(effect.sites)
        for site in effect.treated:
            assert config.go_live_of(site) == effect.go_live[site]
        for site in effect.controls:
            assert config.go_live_of(site) is None
        # The weekly client's report goes out by itself; the others wait for approval.
        assert config.report.delivery == ("auto" if config.cadence == "weekly" else "review")
        assert config.report.recipients.to
        text = Workspace(home).config_path(slug).read_text(encoding="utf-8")
        assert text.startswith("# yaml-language-server: $schema=../../client.schema.json\n")


def test_weekly_csv_is_cp1252_not_utf8(home: Path) -> None:
    for path in sorted(Workspace(home).inbox(DURAND).glob("*.csv")):
        data = path.read_bytes()
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        text = data.decode("cp1252")
        assert text.startswith("Site;Semaine;Indicateur;Valeur;Unité\r\n")
        assert "Hénin-Beaumont" in text


def test_too_early_as_of_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="as_of"):
        write_demo(tmp_path, dt.date(2023, 6, 1))


def test_complete_periods() -> None:
    assert last_complete_month(AS_OF) == LAST_MONTH
    assert last_complete_month(dt.date(2026, 12, 1)) == dt.date(2026, 11, 1)
    assert last_complete_week(AS_OF) == LAST_WEEK
    assert last_complete_week(dt.date(2026, 11, 23)) == LAST_WEEK  # a Monday
    assert last_complete_week(dt.date(2026, 11, 22)) == dt.date(2026, 11, 9)  # a Sunday


def test_history_does_not_depend_on_as_of() -> None:
    early, late = dt.date(2025, 6, 1), LAST_MONTH
    for generate in (menuiseries_series, helios_series):
        short, long = generate(early), generate(late)
        for site, rows in short.items():
            assert rows == {month: long[site][month] for month in rows}
    short, long = durand_series(dt.date(2025, 6, 2)), durand_series(LAST_WEEK)
    for site, rows in short.items():
        assert rows == {week: long[site][week] for week in rows}


# --- readers, as the configuration describes the files ---------------------------------------


def _number(cell: object, *, decimal: str) -> float | None:
    if isinstance(cell, int | float):
        return float(cell)
    text = str(cell).strip()
    if text in ("", "NC"):
        return None
    thousands = "," if decimal == "." else " \u00a0"
    for separator in thousands:
        text = text.replace(separator, "")
    return float(text.replace(decimal, "."))


def _site_of(config: ClientConfig, name: str) -> str:
    for site in config.sites:
        if name in (site.name, *site.aliases):
            return site.name
    raise KeyError(name)


def _french_month(cell: object) -> dt.date | None:
    if isinstance(cell, dt.date):
        return dt.date(cell.year, cell.month, 1)
    label, _, year = str(cell).partition(" ")
    if label in FRENCH_MONTHS and year.isdigit():
        return dt.date(int(year), FRENCH_MONTHS.index(label) + 1, 1)
    return None


@pytest.fixture(scope="module")
def menuiseries(home: Path, configs: dict[str, ClientConfig]) -> tuple[Values, dict]:
    """Values by (site, month), and what the reader saw (headers, empty months, totals)."""
    config = configs[MENUISERIES]
    source = config.sources[0]
    values: Values = {}
    seen: dict = defaultdict(set)
    for path in sorted(Workspace(home).inbox(MENUISERIES).glob(source.pattern[0])):
        workbook = CalamineWorkbook.from_path(path)
        for sheet_name in workbook.sheet_names:
            if sheet_name in source.skip_sheets:
                continue
            site = _site_of(config, sheet_name)
            rows = workbook.get_sheet_by_name(sheet_name).to_python()
            header_row = next(i for i, row in enumerate(rows) if row[0] in source.period)
            headers = rows[header_row]
            seen["header_rows"].add((path.name, header_row + 1))
            seen["headers"].update(headers)
            columns = {
                kpi: next(i for i, h in enumerate(headers) if h in names)
                for kpi, names in source.columns.items()
            }
            for row in rows[header_row + 1 :]:
                month = _french_month(row[0])
                if month is None:
                    seen["skipped"].add(str(row[0]))
                    continue
                seen["month_cells"].add(type(row[0]).__name__)
                cells = {kpi: row[i] for kpi, i in columns.items()}
                if all(cell == "" for cell in cells.values()):
                    seen["empty_months"].add(month)
                    continue
                assert (site, month) not in values
                values[site, month] = {
                    kpi: (
                        None
                        if (n := _number(cell, decimal=",")) is None
                        else n * source.scale.get(kpi, 1)
                    )
                    for kpi, cell in cells.items()
                }
    return values, seen


@pytest.fixture(scope="module")
def durand(home: Path, configs: dict[str, ClientConfig]) -> Values:
    config = configs[DURAND]
    source = config.sources[0]
    values: Values = {}
    digests = set()
    for path in sorted(Workspace(home).inbox(DURAND).glob(source.pattern[0])):
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() in digests:
            continue
        digests.add(hashlib.sha256(data).hexdigest())
        lines = data.decode(source.encoding).splitlines()
        header = lines[0].split(source.delimiter)
        at = {
            name: header.index(names[0])
            for name, names in (
                ("site", source.site),
                ("period", source.period),
                ("indicator", source.indicator),
                ("value", source.value),
            )
        }
        for line in lines[1:]:
            fields = line.split(source.delimiter)
            year, _, week = fields[at["period"]].partition("-S")
            monday = dt.date.fromisocalendar(int(year), int(week), 1)
            key = (_site_of(config, fields[at["site"]]), monday)
            kpi = source.indicators[fields[at["indicator"]]]
            assert kpi not in values.get(key, {})
            values.setdefault(key, {})[kpi] = _number(fields[at["value"]], decimal=",")
    return values


@pytest.fixture(scope="module")
def helios(home: Path, configs: dict[str, ClientConfig]) -> tuple[Values, int]:
    """Values by (site, month), and the number of numbers written as text."""
    config = configs[HELIOS]
    source = config.sources[0]
    values: Values = {}
    text_numbers = 0
    for path in sorted(Workspace(home).inbox(HELIOS).glob(source.pattern[0])):
        workbook = CalamineWorkbook.from_path(path)
        for sheet_name in workbook.sheet_names:
            if sheet_name in source.skip_sheets:
                continue
            site = _site_of(config, sheet_name)
            sheet = workbook.get_sheet_by_name(sheet_name)
            rows = sheet.to_python()
            header_row = next(i for i, row in enumerate(rows) if "Jan" in row)
            (top, left), _ = sheet.merged_cell_ranges[0]
            assert top == header_row - 1
            year = int(str(rows[top][left]).removeprefix("FY"))
            months = {
                i: dt.date(year, ENGLISH_MONTHS.index(h) + 1, 1)
                for i, h in enumerate(rows[header_row])
                if h in ENGLISH_MONTHS
            }
            for row in rows[header_row + 1 :]:
                kpi = next((k for k, names in source.rows.items() if row[0] in names), None)
                if kpi is None:
                    assert all(cell == "" for cell in row[1:])  # section titles, blank rows
                    continue
                for i, month in months.items():
                    text_numbers += isinstance(row[i], str) and row[i] != ""
                    number = _number(row[i], decimal=".")
                    if number is not None:
                        number *= source.scale.get(kpi, 1)
                    values.setdefault((site, month), {})[kpi] = number
    return values, text_numbers


# --- periods ---------------------------------------------------------------------------------


def test_menuiseries_months_and_layout(menuiseries: tuple[Values, dict]) -> None:
    values, seen = menuiseries
    months = {month for _, month in values}
    assert min(months) == dt.date(2023, 1, 1)
    assert max(months) == LAST_MONTH
    assert len(values) == 4 * 46
    assert seen["empty_months"] == {dt.date(2026, 11, 1), dt.date(2026, 12, 1)}
    assert {"Heures trav.", "Heures travaillées", "ETP", "ETP ", "Etp", "CA (k€)"} <= seen[
        "headers"
    ]
    assert seen["month_cells"] == {"date", "str"}
    assert {"Total 2023", "Total 2024", "Total 2025", "Total 2026"} <= seen["skipped"]
    missing = [(k, kpi) for k, row in values.items() for kpi, v in row.items() if v is None]
    assert len(missing) == 4


def test_durand_weeks(durand: Values) -> None:
    weeks = {week for _, week in durand}
    assert min(weeks) == dt.date(2023, 1, 2)
    assert max(weeks) == LAST_WEEK
    assert max(weeks) + dt.timedelta(days=6) < AS_OF
    assert len(durand) == 4 * len(weeks)
    missing = [(k, kpi) for k, row in durand.items() for kpi, v in row.items() if v is None]
    assert len(missing) == 5
    assert all(len(row) == 5 for row in durand.values())


def test_helios_months_and_layout(helios: tuple[Values, int]) -> None:
    values, text_numbers = helios
    with_values = {
        month for (_, month), row in values.items() if any(v is not None for v in row.values())
    }
    assert min(with_values) == dt.date(2024, 1, 1)
    assert max(with_values) == LAST_MONTH
    empty = {month for (_, month), row in values.items() if all(v is None for v in row.values())}
    assert empty == {dt.date(2026, 11, 1), dt.date(2026, 12, 1)}
    assert text_numbers == 3
    for row in values.values():
        if row["revenue_eur"] is None:
            continue
        assert row["revenue_eur"] - row["staff_cost_eur"] - row[
            "operating_cost_eur"
        ] == pytest.approx(row["ebitda_eur"])
        assert 0.20 < row["gross_margin_pct"] < 0.70  # a fraction (percent_cells: fraction)
        assert row["operating_cost_eur"] > 0


# --- injected effects --------------------------------------------------------------------------


def _same_month_effect(
    values: Values,
    slug: str,
    site: str,
    ratio: Callable[[Row], float | None],
    *,
    points: bool = False,
) -> float:
    """Mean over after-months of (after − mean of before in the same calendar month), in logs
    for a relative effect (returned as a ratio) or in points."""
    effect = DEMO_EFFECTS[slug]
    before: dict[int, list[float]] = defaultdict(list)
    after: list[tuple[int, float]] = []
    for (row_site, month), row in sorted(values.items()):
        value = ratio(row)
        if row_site != site or value is None:
            continue
        value = value if points else math.log(value)
        if effect.is_after(site, month):
            after.append((month.month, value))
        else:
            before[month.month].append(value)
    diffs = [value - statistics.mean(before[m]) for m, value in after if before[m]]
    mean = statistics.mean(diffs)
    return mean if points else math.exp(mean)


def _ratio(numerator: str, denominator: str, factor: float = 1.0) -> Callable[[Row], float | None]:
    def compute(row: Row) -> float | None:
        top, bottom = row.get(numerator), row.get(denominator)
        return None if top is None or not bottom else factor * top / bottom

    return compute


def test_menuiseries_units_per_hour_up_12_percent(menuiseries: tuple[Values, dict]) -> None:
    values, _ = menuiseries
    effect = DEMO_EFFECTS[MENUISERIES].primary
    assert effect.expected_ratio == pytest.approx(1.12)
    ratio = _ratio(effect.numerator, effect.denominator)
    for site in DEMO_EFFECTS[MENUISERIES].treated:
        measured = _same_month_effect(values, MENUISERIES, site, ratio)
        assert measured == pytest.approx(1.12, abs=0.03), site


def test_durand_did_recovers_15_percent_and_naive_overstates(durand: Values) -> None:
    client = DEMO_EFFECTS[DURAND]
    effect = client.primary
    by_week: dict[dt.date, dict[str, float]] = defaultdict(dict)
    for (site, week), row in durand.items():
        value = _ratio(effect.numerator, effect.denominator)(row)
        if value is not None:
            by_week[week][site] = math.log(value)
    go_live = client.go_live[client.treated[0]]

    def mean_gap(after: bool) -> float:
        gaps = [
            statistics.mean(sites[s] for s in client.treated)
            - statistics.mean(sites[s] for s in client.controls if s in sites)
            for week, sites in by_week.items()
            if (week >= go_live) == after and all(s in sites for s in client.treated)
        ]
        return statistics.mean(gaps)

    did = math.exp(mean_gap(True) - mean_gap(False))
    assert did == pytest.approx(1 + effect.change, abs=0.03)
    for site in client.treated:
        before = [s[site] for w, s in by_week.items() if w < go_live and site in s]
        after = [s[site] for w, s in by_week.items() if w >= go_live and site in s]
        naive = math.exp(statistics.mean(after) - statistics.mean(before))
        assert naive > 1 + effect.change + 0.04, site
    for site in client.controls:
        assert not client.is_after(site, LAST_WEEK)


def test_helios_billable_hours_per_fte_and_ebitda_margin(helios: tuple[Values, int]) -> None:
    values, _ = helios
    client = DEMO_EFFECTS[HELIOS]
    billable = client.effect("billable_hours_per_fte")
    margin = client.effect("ebitda_margin_pct")
    assert (billable.change, billable.change_type) == (0.08, "relative")
    assert (margin.change, margin.change_type, margin.factor) == (3.0, "points", 100.0)
    for site in client.treated:
        measured = _same_month_effect(
            values, HELIOS, site, _ratio(billable.numerator, billable.denominator)
        )
        assert measured == pytest.approx(1.08, abs=0.03), site
        points = _same_month_effect(
            values,
            HELIOS,
            site,
            _ratio(margin.numerator, margin.denominator, margin.factor),
            points=True,
        )
        assert points == pytest.approx(3.0, abs=1.0), site
