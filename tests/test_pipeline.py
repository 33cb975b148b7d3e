"""`cap run` over a demo workspace: the Dagster definitions end to end, as `make demo` runs them."""

import contextlib
import datetime as dt
import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import openpyxl
import pytest
from pypdf import PdfReader

from pipelines.demo import DEMO_EFFECTS, write_demo
from pipelines.demo.periods import last_complete_month, last_complete_week
from pipelines.run import run_clients
from pipelines.workspace import Workspace

AS_OF = dt.date(2026, 11, 26)
KPIS_SENT = {"menuiseries-rhone": 6, "logistique-durand": 5, "helios-services": 8}


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("cap")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CAP_HOME", str(home))
        env.setenv("DAGSTER_HOME", str(home / "dagster"))
        Workspace(home).ensure()
        write_demo(home, AS_OF)
        yield home


@pytest.fixture(scope="module")
def first_run(demo_home: Path) -> tuple[int, str]:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = run_clients(Workspace(demo_home))
    return code, output.getvalue()


def periods(slug: str) -> int:
    effect = DEMO_EFFECTS[slug]
    if effect.cadence == "weekly":
        return (last_complete_week(AS_OF) - effect.data_start).days // 7 + 1
    last = last_complete_month(AS_OF)
    start = effect.data_start
    return (last.year - start.year) * 12 + last.month - start.month + 1


def test_every_demo_client_is_stored_in_its_own_warehouse(
    demo_home: Path, first_run: tuple[int, str]
) -> None:
    code, output = first_run
    assert code == 0, output
    for slug, effect in DEMO_EFFECTS.items():
        with duckdb.connect(str(demo_home / "warehouse" / f"{slug}.duckdb"), read_only=True) as con:
            count, clients, sites = con.execute(
                "select count(*), list(distinct client), list(distinct site order by site) "
                "from kpi_values"
            ).fetchall()[0]
        assert clients == [slug]
        assert sites == sorted(effect.sites)
        assert count == len(effect.sites) * KPIS_SENT[slug] * periods(slug), slug


def test_summary_says_what_each_client_got(first_run: tuple[int, str]) -> None:
    _, output = first_run
    lines = {line.split()[0]: line.split() for line in output.splitlines() if line[:1].isalpha()}
    assert lines["menuiseries-rhone"][:5] == ["menuiseries-rhone", "ok", "4", "0", "1104"]
    assert lines["logistique-durand"][:5] == ["logistique-durand", "ok", "4", "0", "4060"]
    assert lines["helios-services"][:5] == ["helios-services", "ok", "3", "0", "816"]
    assert "ok     kpi_observations" in output
    assert "Warehouses:" in output
    month = f"{last_complete_month(AS_OF):%Y-%m}"
    assert f"menuiseries-rhone/{month}/rapport-menuiseries-rhone-{month}.pdf" in output
    assert {slug: lines[slug][6] for slug in DEMO_EFFECTS} == dict.fromkeys(DEMO_EFFECTS, "1")


def test_lineage_points_at_the_cell_the_value_came_from(
    demo_home: Path, first_run: tuple[int, str]
) -> None:
    """Open the archived workbook at each stored (sheet, row, column): the cell holds the value."""
    for slug in ("menuiseries-rhone", "helios-services"):
        with duckdb.connect(str(demo_home / "warehouse" / f"{slug}.duckdb"), read_only=True) as con:
            sample = con.execute(
                'select f.sha256, o.kpi, o.value, o.sheet, o."row", o."column" '
                "from kpi_observations o join files f on f.sha256 = o.file_sha256 "
                "where o.value is not null using sample reservoir(40 rows) repeatable (7)"
            ).fetchall()
        scale = {"revenue_eur": 1000.0} if slug == "menuiseries-rhone" else {}
        for digest, kpi, value, sheet, row, column in sample:
            book = openpyxl.load_workbook(demo_home / "archive" / slug / f"{digest}.xlsx")
            cell = book[sheet][f"{column}{row}"].value
            number = float(str(cell).replace(",", "")) if isinstance(cell, str) else cell
            factor = 100.0 if kpi == "gross_margin_pct" else scale.get(kpi, 1.0)
            assert number * factor == pytest.approx(value), (slug, sheet, row, column)


def test_runs_are_recorded_for_the_ui(demo_home: Path, first_run: tuple[int, str]) -> None:
    instance = dg.DagsterInstance.get()
    runs = instance.get_runs(filters=dg.RunsFilter(job_name="client_pipeline"))
    assert sorted(run.tags["dagster/partition"] for run in runs) == sorted(DEMO_EFFECTS)
    assert sorted(instance.get_dynamic_partitions("clients")) == sorted(DEMO_EFFECTS)


def test_a_second_run_stores_nothing_new(demo_home: Path, first_run: tuple[int, str]) -> None:
    """Unchanged inputs: the client is skipped; forced, it runs and stores nothing new."""
    for force, expected in ((False, "same"), (True, "ok")):
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            assert run_clients(Workspace(demo_home), only="helios-services", force=force) == 0
        line = next(line for line in output.getvalue().splitlines() if line.startswith("helios"))
        assert line.split()[:5] == ["helios-services", expected, "0", "0", "0"]
    assert "helios-services: unchanged since its last run, skipped" not in output.getvalue()


def test_a_broken_client_fails_alone(demo_home: Path, first_run: tuple[int, str]) -> None:
    broken = demo_home / "clients" / "zz-broken"
    shutil.copytree(demo_home / "clients" / "helios-services", broken)
    config = broken / "client.yaml"
    config.write_text(config.read_text().replace("cadence: monthly", "cadence: montly"))
    bad_file = demo_home / "clients" / "helios-services" / "inbox" / "Finance pack FY2027.xlsx"
    bad_file.write_text("not a workbook")
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            code = run_clients(Workspace(demo_home))
    finally:
        shutil.rmtree(broken)
        bad_file.unlink()
    text = output.getvalue()
    assert code == 1
    assert "cadence: expected one of 'monthly', 'weekly', got 'montly'" in text
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line[:1].isalpha()}
    assert rows["zz-broken"][1] == "FAILED"
    assert rows["helios-services"][1:5] == ["ok", "0", "1", "0"]
    assert rows["helios-services"][5] == "2"  # two warnings: a file rejected, an outlier
    assert "! check kpi_observations_all_files_accepted failed (WARN)" in text
    assert rows["menuiseries-rhone"][1] == "same"  # unchanged: skipped, not stopped
    with duckdb.connect(
        str(demo_home / "warehouse" / "helios-services.duckdb"), read_only=True
    ) as con:
        message = con.execute(
            "select message from files where original_name = 'Finance pack FY2027.xlsx'"
        ).fetchall()[0][0]
    assert message == (
        "whole file: the file is named .xlsx but its content is text (a CSV or TXT export?)"
    )


def test_a_delivery_failing_a_blocking_check_stops_that_client_only(
    demo_home: Path, first_run: tuple[int, str]
) -> None:
    """A restated finance pack with a 250 % gross margin: quarantined, values unchanged."""
    warehouse = demo_home / "warehouse" / "helios-services.duckdb"
    query = "select value from kpi_values where site = 'Paris' and kpi = 'gross_margin_pct' "
    query += "and period_start = '2026-01-01'"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        before = con.execute(query).fetchall()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Paris"
    sheet.append([None, "FY2026"])
    sheet.append([None, "Jan", "Feb"])
    sheet.append(["Gross margin %", 2.5, 0.5])
    path = demo_home / "clients" / "helios-services" / "inbox" / "Finance pack FY2026 restated.xlsx"
    book.save(path)
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            code = run_clients(Workspace(demo_home), force=True)  # every client runs
    finally:
        path.unlink()
    text = output.getvalue()
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line[:1].isalpha()}
    assert code == 1, text  # the client's run failed: the consultant is told (run failure)
    assert rows["helios-services"][1:4] == ["FAILED", "1", "0"]
    assert (
        "error: blocking check kpi_observations_pass_delivery_rules failed; "
        "quarantined: Finance pack FY2026 restated.xlsx" in text
    )
    assert rows["menuiseries-rhone"][1] == "ok"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        after = con.execute(query).fetchall()
        status = con.execute(
            "select status, message from files "
            "where original_name = 'Finance pack FY2026 restated.xlsx'"
        ).fetchall()
    assert after == before
    assert status[0][0] == "quarantined"
    assert "gross_margin_pct between -100 and 100 (1 values)" in status[0][1]
    instance = dg.DagsterInstance.get()
    helios_runs = instance.get_runs(
        filters=dg.RunsFilter(tags={"dagster/partition": "helios-services"}), limit=1
    )
    materialized = instance.get_records_for_run(
        helios_runs[0].run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    assert sorted(record.event_log_entry.step_key for record in materialized) == [
        "kpi_observations",
        "raw_files",
    ]  # kpi_values, downstream of the blocking check, waited, and kpi_series and impact too
    other = instance.get_runs(
        filters=dg.RunsFilter(tags={"dagster/partition": "menuiseries-rhone"}), limit=1
    )
    materialized = instance.get_records_for_run(
        other[0].run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    assert {"kpi_values", "kpi_series", "impact"} <= {
        record.event_log_entry.step_key for record in materialized
    }  # the other client's values and impact were produced in the same run
    # The next night has nothing new: the report is rebuilt and says what is pending.
    with contextlib.redirect_stdout(io.StringIO()):
        assert run_clients(Workspace(demo_home), "helios-services") == 0
    folder = report_folder(demo_home, "helios-services")
    assert (
        "Data awaiting correction: Finance pack FY2026 restated.xlsx. Figures remain those of "
        "the last validated delivery." in (folder / "email.txt").read_text(encoding="utf-8")
    )


def impact_rows(demo_home: Path, slug: str, kpi: str) -> dict[tuple[str, str], dict]:
    """The demo client's impact results for a KPI, by (site, method)."""
    with duckdb.connect(str(demo_home / "warehouse" / f"{slug}.duckdb"), read_only=True) as con:
        frame = con.execute("select * from impact where kpi = ?", [kpi]).df()
    return {(row["site"], row["method"]): row for row in frame.to_dict("records")}


# The method meant for each demo client's injected effect, and how far its headline may stray
# from it (a guard against gross bias: the interval must contain the truth in any case):
# (KPI, method, tolerance per site, tolerance on the client total). Helios has only 17 months
# before go-live and strong seasons, so a single site's +8 % is not always provable at 95 %;
# its client total is.
RECOVERY = {
    "menuiseries-rhone": [("units_per_hour", "seasonal", 4.0, 2.0)],
    "logistique-durand": [("parcels_per_hour", "did", 2.0, 1.5)],
    "helios-services": [
        ("billable_hours_per_fte", "seasonal", 3.0, 2.0),
        ("ebitda_margin_pct", "seasonal", 1.0, 1.0),
    ],
}


@pytest.mark.parametrize(
    ("slug", "kpi", "method", "per_site", "total"),
    [(slug, *case) for slug, cases in RECOVERY.items() for case in cases],
)
def test_the_demo_effects_are_recovered_by_the_method_meant_for_them(
    demo_home: Path,
    first_run: tuple[int, str],
    slug: str,
    kpi: str,
    method: str,
    per_site: float,
    total: float,
) -> None:
    effect = DEMO_EFFECTS[slug].effect(kpi)
    truth = 100 * effect.change if effect.change_type == "relative" else effect.change
    rows = impact_rows(demo_home, slug, kpi)
    for site in DEMO_EFFECTS[slug].treated:
        row = rows[(site, method)]
        assert row["preferred"], (site, row)
        assert row["verdict"] in ("improved", "no_significant_change"), site
        change = row["rel_change_pct"] if row["basis"] == "relative" else row["abs_change"]
        assert change == pytest.approx(truth, abs=per_site), site
        assert row["ci_low"] < truth < row["ci_high"], site
    row = rows[("__client_total__", method)]
    change = row["rel_change_pct"] if row["basis"] == "relative" else row["abs_change"]
    assert change == pytest.approx(truth, abs=total)
    assert row["ci_low"] < truth < row["ci_high"]
    assert row["preferred"] and row["verdict"] == "improved"


def test_the_naive_comparison_is_biased_where_it_should_be(
    demo_home: Path, first_run: tuple[int, str]
) -> None:
    """A shared trend inflates Durand's naive change (+15 % injected); Helios' seasons hide
    most of its +3 points of EBITDA margin from a naive comparison."""
    durand = impact_rows(demo_home, "logistique-durand", "parcels_per_hour")
    naive = durand[("__client_total__", "before_after")]
    assert naive["rel_change_pct"] - 15 > 5  # measured +23.4 %
    helios = impact_rows(demo_home, "helios-services", "ebitda_margin_pct")
    naive = helios[("__client_total__", "before_after")]
    assert 3 - naive["abs_change"] > 1  # measured +1.15 points
    assert naive["verdict"] == "no_significant_change"


def test_impact_sentences_are_written_in_both_languages(
    demo_home: Path, first_run: tuple[int, str]
) -> None:
    row = impact_rows(demo_home, "menuiseries-rhone", "units_per_hour")[
        ("__client_total__", "seasonal")
    ]
    # French typography: no-break spaces before « : » and « % », decimal commas
    change = f"{row['rel_change_pct']:+.1f}"
    french_change = change.replace(".", ",")
    assert row["sentence_fr"].startswith(
        f"Productivité (unités par heure)\u00a0: {french_change}\u00a0% (IC 95\u00a0%\u00a0: +"
    )
    assert row["sentence_fr"].endswith(
        "amélioration significative (corrigé de la saisonnalité et de la tendance)"
    )
    assert row["sentence_en"].startswith(f"Productivity (units per hour): {change}% (95% CI: +")
    assert row["sentence_en"].endswith("significant improvement (adjusted for season and trend)")


def report_folder(demo_home: Path, slug: str) -> Path:
    """The demo client's report folder for its latest period."""
    (folder,) = [p for p in (demo_home / "reports" / slug).iterdir() if p.is_dir()]
    return folder


def pdf_text(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


def test_the_french_report_is_a_pdf_with_its_pages_and_french_numbers(
    demo_home: Path, first_run: tuple[int, str]
) -> None:
    folder = report_folder(demo_home, "menuiseries-rhone")
    assert folder.name == f"{last_complete_month(AS_OF):%Y-%m}"
    pages = pdf_text(folder / f"rapport-menuiseries-rhone-{folder.name}.pdf")
    assert "Menuiseries du Rhône" in pages[0] and "Résultats de la transformation" in pages[0]
    assert "Synthèse" in pages[1]
    total = impact_rows(demo_home, "menuiseries-rhone", "units_per_hour")[
        ("__client_total__", "seasonal")
    ]
    assert " ".join(total["sentence_fr"].split()) in " ".join(pages[1].split())
    assert any("Indicateurs clés" in page for page in pages)
    assert any("Annexe – qualité des données" in page for page in pages)
    assert "Note de méthode" in pages[-2]
    # the calibration study's table closes the report: the method checked, family by family
    assert pages[-1].startswith("La méthode vérifiée sur des données simulées")
    assert "Sites transformés et sites témoins" in pages[-1] and "Ensemble" in pages[-1]
    text = " ".join(" ".join(pages).split())
    assert "IC 95 % : +" in text  # French: decimal comma and a space before %
    assert "amélioration significative" in text
    charts = sorted(p.name for p in (folder / "charts").glob("*.png"))
    assert "summary.png" in charts and "units_per_hour__total.png" in charts
    # the four sites' series on one page, and the before/after comparison across them
    assert "units_per_hour__site-series.png" in charts
    assert "units_per_hour__sites.png" in charts
    series_page = next(page for page in pages if "unités par heure) – évolution par site" in page)
    assert all(
        site in series_page for site in ("Lyon", "Saint-Étienne", "Vénissieux", "Villefranche")
    )
    # every chart is a page, and the rest are the cover and the text pages
    titles = (
        "Menuiseries du Rhône", "Synthèse", "Indicateurs clés", "Annexe", "Note de méthode",
        "La méthode vérifiée",
    )  # fmt: skip
    text_pages = [page for page in pages if page.startswith(titles)]
    assert len(pages) == len(charts) + len(text_pages)
    assert 5 <= len(text_pages) <= 10


def test_the_english_report_and_its_email_body(demo_home: Path, first_run: tuple[int, str]) -> None:
    folder = report_folder(demo_home, "helios-services")
    text = " ".join(
        " ".join(pdf_text(folder / f"report-helios-services-{folder.name}.pdf")).split()
    )
    rows = impact_rows(demo_home, "helios-services", "billable_hours_per_fte")
    sentence = rows[("__client_total__", "seasonal")]["sentence_en"]
    assert sentence.startswith("Billable hours per FTE: +") and "(95% CI: +" in sentence
    assert " ".join(sentence.split()) in text
    margin = impact_rows(demo_home, "helios-services", "ebitda_margin_pct")
    points = margin[("__client_total__", "seasonal")]["sentence_en"].split(" (95% CI")[0]
    assert points.startswith("EBITDA margin: +") and points.endswith("\u00a0pts")
    assert " ".join(points.split()) in text
    html = (folder / "email.html").read_text(encoding="utf-8")
    assert 'src="cid:summary"' in html and 'src="cid:billable_hours_per_fte__total"' in html
    assert "Helios Services" in html and "Billable hours per FTE" in html
    body = (folder / "email.txt").read_text(encoding="utf-8")
    assert body.startswith("Hello,")
    assert sentence.split(" (95% CI")[0] in body
    # The key table adds up: the change is the observed after level against the level
    # without the transformation, both in the table, with their units.
    assert "Before and after: observed means on each side of go-live." in body
    assert "Without the transformation: the level the method expected" in html
    french = (report_folder(demo_home, "menuiseries-rhone") / "email.txt").read_text("utf-8")
    line = re.search(
        r"- Productivité \(unités par heure\)\u00a0: avant ([\d,]+)\u00a0unités/h, "
        r"après ([\d,]+)\u00a0unités/h, sans la transformation ([\d,]+)\u00a0unités/h\u00a0; "
        r"([+-][\d,]+)\u00a0% \(IC 95\u00a0%\u00a0: ",
        french,
    )
    assert line is not None, french
    _before, after, expected, change = (float(g.replace(",", ".")) for g in line.groups())
    # levels to 2 decimals: 0.005 on each side of a ratio near 0.6 is up to 1.7 points
    assert 100 * (after / expected - 1) == pytest.approx(change, abs=2.0)
    preview = (folder / "report.html").read_text(encoding="utf-8")
    assert 'src="charts/summary.png"' in preview


def test_the_control_client_has_its_treated_against_controls_chart(
    demo_home: Path, first_run: tuple[int, str]
) -> None:
    folder = report_folder(demo_home, "logistique-durand")
    assert folder.name.startswith("2026-W")
    assert (folder / "charts" / "parcels_per_hour__controls.png").is_file()


def test_the_same_inputs_give_the_same_report(demo_home: Path, first_run: tuple[int, str]) -> None:
    folder = report_folder(demo_home, "menuiseries-rhone")
    pdf = next(folder.glob("*.pdf"))
    before = {p: p.read_bytes() for p in [pdf, *sorted((folder / "charts").iterdir())]}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert run_clients(Workspace(demo_home), "menuiseries-rhone") == 0, output.getvalue()
    after = {p: p.read_bytes() for p in before}
    assert [p.name for p in before if before[p] != after[p]] == []
