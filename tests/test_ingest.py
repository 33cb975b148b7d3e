"""Reading client files in each layout, and every way a file is rejected."""

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from pipelines.config.model import ClientConfig
from pipelines.ingest.load import parse_file

TODAY = dt.date(2026, 11, 26)


def client(**sources: dict) -> ClientConfig:
    return ClientConfig.model_validate(
        {
            "name": "Test",
            "language": "fr",
            "cadence": "monthly",
            "go_live": "2025-01-01",
            "sites": [
                {"name": "Lyon"},
                {"name": "Saint-Étienne", "aliases": ["St-Etienne"]},
                {"name": "Vénissieux"},
            ],
            "sources": [{"name": name, **body} for name, body in sources.items()],
        }
    )


SHEETS = {
    "pattern": "*.xlsx",
    "layout": "sheet_per_site",
    "skip_sheets": ["Notes"],
    "period": ["Mois"],
    "columns": {
        "units_produced": ["Unités produites"],
        "hours_worked": ["Heures travaillées", "Heures trav."],
        "revenue_eur": ["CA (k€)"],
    },
    "scale": {"revenue_eur": 1000},
}


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def values(parsed) -> dict[tuple, float | None]:
    return {(o.site, o.period_start, o.kpi): o.value for o in parsed.observations}


def test_sheet_per_site_reads_below_titles_and_skips_totals(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "tdb.xlsx",
        {
            "St-Etienne": [
                ["Tableau de bord 2024"],
                ["Site : Saint-Étienne"],
                [],
                ["Commentaire", "  heures TRAV. ", "Mois", "Unités produites", "CA (k€)"],
                ["", 1000, dt.datetime(2024, 1, 1), 2500, 120.5],
                ["Grève", "1 100,5", "févr. 2024", "NC", "130,25"],
                [None, None, "mars 2024", None, None],
                ["", 2100.5, "Total 2024", 2500, 250.75],
                ["* données provisoires"],
            ],
            "Notes": [["Rien ici"]],
        },
    )
    parsed = parse_file(path, "tdb.xlsx", "tdb", client(tdb=SHEETS), TODAY)
    assert parsed.rejections == []
    assert values(parsed) == {
        ("Saint-Étienne", dt.date(2024, 1, 1), "hours_worked"): 1000.0,
        ("Saint-Étienne", dt.date(2024, 1, 1), "units_produced"): 2500.0,
        ("Saint-Étienne", dt.date(2024, 1, 1), "revenue_eur"): 120500.0,
        ("Saint-Étienne", dt.date(2024, 2, 1), "hours_worked"): 1100.5,
        ("Saint-Étienne", dt.date(2024, 2, 1), "units_produced"): None,
        ("Saint-Étienne", dt.date(2024, 2, 1), "revenue_eur"): 130250.0,
    }
    first = parsed.observations[0]
    assert (first.sheet, first.row, first.column, first.unit) == ("St-Etienne", 5, "B", "hours")
    assert parsed.warnings == ["sheet 'Notes' skipped (listed in skip_sheets)"]


LONG = {
    "pattern": "*.csv",
    "layout": "long",
    "encoding": "cp1252",
    "grain": "week",
    "site": "Site",
    "period": "Semaine",
    "indicator": "Indicateur",
    "value": ["Valeur"],
    "indicators": {"COLIS_EXP": "parcels_shipped", "TX_SERVICE": "service_level_pct"},
}


def test_long_csv_in_cp1252_with_iso_weeks(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(
        "Export KPI du 06/01/2025\n"
        "Site;Semaine;Indicateur;Valeur;Unité\n"
        "Vénissieux;2024-S01;COLIS_EXP;12\u00a0345;colis\n"
        "Vénissieux;2024-S01;TX_SERVICE;97,5;%\n"
        "Lyon;2024-S02;COLIS_EXP;NC;colis\n"
        "Lyon;2024-S02;NB_CAMIONS;4;u\n".encode("cp1252")
    )
    parsed = parse_file(path, "export.csv", "wms", client(wms=LONG), TODAY)
    assert parsed.rejections == []
    assert values(parsed) == {
        ("Vénissieux", dt.date(2024, 1, 1), "parcels_shipped"): 12345.0,
        ("Vénissieux", dt.date(2024, 1, 1), "service_level_pct"): 97.5,
        ("Lyon", dt.date(2024, 1, 8), "parcels_shipped"): None,
    }
    first = parsed.observations[0]
    assert (first.sheet, first.row, first.column) == (None, 3, "D")
    assert parsed.warnings == ["indicators not in client.yaml, ignored: 'NB_CAMIONS' (1 rows)"]


WIDE = {
    "pattern": "*.xlsx",
    "layout": "wide",
    "locale": "en",
    "skip_sheets": "Summary",
    "rows": {
        "revenue_eur": ["Revenue", "Net sales"],
        "gross_margin_pct": "Gross margin %",
        "billable_hours": "Billable hours",
    },
}


def test_wide_pack_under_a_merged_year_header(tmp_path: Path) -> None:
    path = tmp_path / "pack.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Lyon"
    sheet.append(["Monthly finance pack"])
    sheet.append([None, "FY2025"])
    sheet.merge_cells("B2:D2")
    sheet.append(["", "Jan", "Feb", "Mar", "FY total"])
    sheet.append(["Profit & loss"])
    sheet.append(["Revenue", 1000, "4,176", None, 5176])
    sheet.append(["Gross margin %", 0.359, 0.4, None, 0.38])
    sheet.append(["Depreciation", 5, 5, None, 10])
    sheet.append(["Billable hours", 100, None, None, 100])
    book.create_sheet("Summary").append(["Total", 1])
    book.save(path)
    parsed = parse_file(path, "pack.xlsx", "pack", client(pack=WIDE), TODAY)
    assert parsed.rejections == []
    assert values(parsed) == {
        ("Lyon", dt.date(2025, 1, 1), "revenue_eur"): 1000.0,
        ("Lyon", dt.date(2025, 2, 1), "revenue_eur"): 4176.0,
        ("Lyon", dt.date(2025, 1, 1), "gross_margin_pct"): pytest.approx(35.9),
        ("Lyon", dt.date(2025, 2, 1), "gross_margin_pct"): pytest.approx(40.0),
        ("Lyon", dt.date(2025, 1, 1), "billable_hours"): 100.0,
    }


def rejection_messages(parsed) -> list[str]:
    return [f"{r.location()}: {r.message}" for r in parsed.rejections]


def test_unknown_site_future_period_and_duplicate_are_named(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "tdb.xlsx",
        {
            "Lyonn": [["Mois", "Unités produites"], ["janv. 2024", 5]],
            "Lyon": [
                ["Mois", "Unités produites"],
                ["janv. 2024", 5],
                ["janv. 2024", 6],
                ["janv. 2027", 7],
            ],
        },
    )
    parsed = parse_file(path, "tdb.xlsx", "tdb", client(tdb=SHEETS), TODAY)
    assert rejection_messages(parsed) == [
        "sheet 'Lyonn': unknown site 'Lyonn' (did you mean 'Lyon'?); client.yaml knows: "
        "Lyon, Saint-Étienne, Vénissieux. Add it, or add this spelling to a site's aliases",
        "sheet 'Lyon', row 3, column B: units_produced for Lyon, 2024-01-01 is given twice with "
        "different values: 5 at sheet 'Lyon' row 2 column B and 6 at sheet 'Lyon' row 3 column B",
        "sheet 'Lyon', row 4, column A: period 2027-01-01 is after today (2026-11-26)",
    ]
    assert [r.rule for r in parsed.rejections] == [
        "unknown_site",
        "duplicate_value",
        "future_period",
    ]


def test_mixed_decimal_conventions_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "Site;Semaine;Indicateur;Valeur\nLyon;2024-S01;COLIS_EXP;12,5\nLyon;2024-S02;COLIS_EXP;12.5\n",
        encoding="cp1252",
    )
    parsed = parse_file(path, "export.csv", "wms", client(wms=LONG), TODAY)
    assert rejection_messages(parsed) == [
        "line 3, column D: parcels_shipped: '12.5' uses a decimal point where this source "
        "writes decimal commas (fr)"
    ]


@pytest.mark.parametrize(
    ("name", "content", "source", "rule", "fragment"),
    [
        ("fake.xlsx", b"Site;Mois\nLyon;1\n", "tdb", "content_mismatch", "content is text"),
        ("empty.csv", b"", "wms", "empty_file", "the file is empty"),
        ("broken.xlsx", b"PK\x03\x04garbage", "tdb", "corrupt_workbook", "truncated or corrupt"),
        (
            "utf8.csv",
            "Site;Semaine;Indicateur;Valeur\nVénissieux;2024-S01;COLIS_EXP;1\n".encode(),
            "wms",
            "encoding_mismatch",
            "the file is UTF-8, not cp1252 as configured (line 2)",
        ),
        (
            "latin.csv",
            b"Site;Semaine;Indicateur;Valeur\nV\xe9nissieux;2024-S01;COLIS_EXP;1\n",
            "utf8",
            "encoding_mismatch",
            "line 2 is not valid utf-8 (byte 0xe9)",
        ),
        (
            "undefined.csv",
            b"Site;Semaine;Indicateur;Valeur\nLyon;2024-S01;COLIS_EXP;1\nLyon\x8d;2024-S02;X;1\n",
            "wms",
            "encoding_mismatch",
            "line 3 is not valid cp1252 (byte 0x8d)",
        ),
        ("notes.pdf", b"%PDF-1.4", None, "no_source", "no source in client.yaml matches"),
    ],
)
def test_unreadable_files_are_rejected_with_the_reason(
    tmp_path: Path, name: str, content: bytes, source: str | None, rule: str, fragment: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    config = client(tdb=SHEETS, wms=LONG, utf8={**LONG, "encoding": "utf-8", "pattern": "u*"})
    parsed = parse_file(path, name, source, config, TODAY)
    assert [r.rule for r in parsed.rejections] == [rule]
    assert fragment in parsed.rejections[0].message
    assert parsed.observations == []


def test_misdecoded_site_name_is_never_stored(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Site;Semaine;Indicateur;Valeur\nVÃ©nissieux;2024-S01;COLIS_EXP;1\n")
    parsed = parse_file(path, "export.csv", "wms", client(wms={**LONG, "encoding": "auto"}), TODAY)
    assert [r.rule for r in parsed.rejections] == ["misdecoded_text"]
    assert parsed.observations == []


RECORDS = {
    "pattern": "*.csv",
    "layout": "records",
    "site": "Entrepôt",
    "date": ["Date commande", "Date"],
    "measures": {
        "units_produced": {"column": "Quantité"},
        "revenue_eur": {"column": "Montant HT", "agg": "sum"},
        "service_level_pct": {"column": "Taux", "agg": "mean"},
        "parcels_shipped": {"agg": "count"},
    },
}


def test_records_are_aggregated_per_site_and_period(tmp_path: Path) -> None:
    path = tmp_path / "commandes.csv"
    path.write_text(
        "Extraction ERP\n"
        "Date commande;Entrepôt;Quantité;Montant HT;Taux;Commentaire\n"
        "02/01/2025;Lyon;10;1 000,50;90;\n"
        "31/01/2025;Lyon;5;NC;100;urgent\n"
        "01/02/2025;Lyon;7;700;95;\n"
        "15/01/2025;Vénissieux;3;300;80;\n",
        encoding="utf-8",
    )
    parsed = parse_file(path, "commandes.csv", "erp", client(erp=RECORDS), TODAY)
    assert parsed.rejections == []
    assert values(parsed) == {
        ("Lyon", dt.date(2025, 1, 1), "units_produced"): 15.0,
        ("Lyon", dt.date(2025, 1, 1), "revenue_eur"): 1000.5,
        ("Lyon", dt.date(2025, 1, 1), "service_level_pct"): 95.0,
        ("Lyon", dt.date(2025, 1, 1), "parcels_shipped"): 2.0,
        ("Lyon", dt.date(2025, 2, 1), "units_produced"): 7.0,
        ("Lyon", dt.date(2025, 2, 1), "revenue_eur"): 700.0,
        ("Lyon", dt.date(2025, 2, 1), "service_level_pct"): 95.0,
        ("Lyon", dt.date(2025, 2, 1), "parcels_shipped"): 1.0,
        ("Vénissieux", dt.date(2025, 1, 1), "units_produced"): 3.0,
        ("Vénissieux", dt.date(2025, 1, 1), "revenue_eur"): 300.0,
        ("Vénissieux", dt.date(2025, 1, 1), "service_level_pct"): 80.0,
        ("Vénissieux", dt.date(2025, 1, 1), "parcels_shipped"): 1.0,
    }
    first = parsed.observations[0]
    assert (first.kpi, first.row, first.column) == ("units_produced", 3, "C")


def test_records_dates_are_read_as_configured_never_month_first(tmp_path: Path) -> None:
    path = tmp_path / "commandes.csv"
    path.write_text("Date;Entrepôt;Quantité\n2025-01-31;Lyon;1\n01/31/2025;Lyon;2\n")
    parsed = parse_file(path, "commandes.csv", "erp", client(erp=RECORDS), TODAY)
    assert rejection_messages(parsed) == [
        "line 2, column A: expected a date written like 31/01/2025, got '2025-01-31'",
        "line 3, column A: '01/31/2025' is not a valid date (read day first)",
    ]


def test_files_of_different_layouts_parse_one_after_another_on_one_connection(
    tmp_path: Path,
) -> None:
    import duckdb

    records = tmp_path / "commandes.csv"
    records.write_text("Date;Entrepôt;Quantité\n02/01/2025;Lyon;10\n")
    export = tmp_path / "export.csv"
    export.write_text("Site;Semaine;Indicateur;Valeur\nLyon;2025-S01;COLIS_EXP;7\n")
    config = client(erp=RECORDS, wms={**LONG, "encoding": "auto"})
    con = duckdb.connect()
    counts = []
    for path, source in ((records, "erp"), (export, "wms"), (records, "erp")):
        parsed = parse_file(path, path.name, source, config, TODAY, con)
        assert parsed.rejections == []
        counts.append(len(parsed.observations))
    assert counts == [2, 1, 2]


def test_a_problem_repeated_on_many_lines_is_told_once_with_its_count(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "Site;Semaine;Indicateur;Valeur\n"
        + "".join(f"Paris;2024-S0{week};COLIS_EXP;{week}\n" for week in (1, 2, 3))
        + "Lyon;2024-S01;COLIS_EXP;4\n"
    )
    parsed = parse_file(path, path.name, "wms", client(wms={**LONG, "encoding": "auto"}), TODAY)
    assert len(parsed.rejections) == 1
    assert parsed.rejections[0].location() == "line 2, column A"
    assert parsed.rejections[0].message.endswith("(3 lines, the first shown)")


def test_a_formula_saved_without_its_value_rejects_the_file(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "tdb.xlsx",
        {
            "Lyon": [
                ["Mois", "Unités produites", "Heures travaillées"],
                ["janv. 2024", 10, 100],
                ["févr. 2024", "=B2*2", 110],  # openpyxl saves the formula, not its value
            ],
            "Notes": [["=1+1"]],
        },
    )
    parsed = parse_file(path, "tdb.xlsx", "tdb", client(tdb=SHEETS), TODAY)
    assert rejection_messages(parsed) == [
        "sheet 'Lyon', row 3, column B: formula '=B2*2' has no saved value (the file was "
        "written by a tool that does not compute formulas): open it in Excel and save it again, "
        "or send values"
    ]
    assert [r.rule for r in parsed.rejections] == ["uncached_formula"]


def test_problems_of_a_csv_are_listed_in_line_order(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "Site;Semaine;Indicateur;Valeur\n"
        "Lyon;2024-S01;COLIS_EXP;beaucoup\n"
        "Lyon;2031-S01;COLIS_EXP;1\n"
        "Paris;2024-S02;COLIS_EXP;1\n"
    )
    parsed = parse_file(path, path.name, "wms", client(wms={**LONG, "encoding": "auto"}), TODAY)
    assert [(r.row, r.rule) for r in parsed.rejections] == [
        (2, "not_a_number"),
        (3, "future_period"),
        (4, "unknown_site"),
    ]
