"""The same sheet_per_site workbook as .xlsm, .ods and .xls reads the same; broken ones are
rejected. The fixtures and how they were made: tests/fixtures/README.md."""

import datetime as dt
import shutil
from pathlib import Path

import pytest

from pipelines.config.model import ClientConfig
from pipelines.ingest.load import parse_file

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = dt.date(2026, 11, 26)
SOURCE = {
    "pattern": "sites.*",
    "layout": "sheet_per_site",
    "skip_sheets": ["Notes"],
    "period": "Mois",
    "columns": {
        "units_produced": ["Unités produites"],
        "hours_worked": ["Heures travaillées"],
    },
}
EXPECTED = [
    ("Lyon", dt.date(2024, 1, 1), "units_produced", 2500.0, "Lyon", 5, "B"),
    ("Lyon", dt.date(2024, 1, 1), "hours_worked", 1000.0, "Lyon", 5, "C"),
    ("Lyon", dt.date(2024, 2, 1), "units_produced", 2600.0, "Lyon", 6, "B"),
    ("Lyon", dt.date(2024, 2, 1), "hours_worked", 1100.5, "Lyon", 6, "C"),
    ("Lyon", dt.date(2024, 3, 1), "units_produced", None, "Lyon", 7, "B"),
    ("Lyon", dt.date(2024, 3, 1), "hours_worked", 1200.0, "Lyon", 7, "C"),
]


def client() -> ClientConfig:
    return ClientConfig.model_validate(
        {
            "name": "Test",
            "language": "fr",
            "cadence": "monthly",
            "go_live": "2025-01-01",
            "sites": [{"name": "Lyon"}, {"name": "Vénissieux"}],
            "sources": [{"name": "sites", **SOURCE}],
        }
    )


def read(path: Path, name: str):
    return parse_file(path, name, "sites", client(), TODAY)


@pytest.mark.parametrize("name", ["sites.xlsm", "sites.ods", "sites.xls"])
def test_every_format_gives_the_same_values_with_their_cells(name: str) -> None:
    parsed = read(FIXTURES / name, name)
    assert parsed.rejections == []
    observed = sorted(
        (
            (o.site, o.period_start, o.kpi, o.value, o.sheet, o.row, o.column)
            for o in parsed.observations
        ),
        key=lambda o: (o[5], o[6]),
    )
    assert observed == EXPECTED
    assert {(o.grain, o.unit) for o in parsed.observations} == {
        ("month", "units"),
        ("month", "hours"),
    }
    assert parsed.warnings == ["sheet 'Notes' skipped (listed in skip_sheets)"]


@pytest.mark.parametrize(("name", "keep"), [("sites.ods", 700), ("sites.xls", 3000)])
def test_truncated_workbook_is_rejected(tmp_path: Path, name: str, keep: int) -> None:
    path = tmp_path / name
    path.write_bytes((FIXTURES / name).read_bytes()[:keep])
    parsed = read(path, name)
    assert [r.rule for r in parsed.rejections] == ["corrupt_workbook"]
    fmt = name.split(".")[1]
    assert parsed.rejections[0].message.startswith(
        f"the .{fmt} workbook cannot be read (truncated or corrupt)"
    )
    assert parsed.observations == []


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("sites.xls", "sites.xlsm", "an Excel workbook (.xlsx)"),
        ("sites.xlsx", "sites.ods", "a LibreOffice/OpenDocument spreadsheet (.ods)"),
        ("sites.ods", "sites.xlsm", "an Excel workbook (.xlsx)"),
        ("sites.xlsx", "sites.xls", "an old binary Excel workbook (.xls)"),
    ],
)
def test_workbook_of_another_format_is_rejected_never_guessed(
    tmp_path: Path, name: str, content: str, said: str
) -> None:
    path = tmp_path / name
    shutil.copy(FIXTURES / content, path)
    parsed = read(path, name)
    assert [r.rule for r in parsed.rejections] == ["content_mismatch"]
    suffix = name.split(".")[1]
    assert parsed.rejections[0].message == f"the file is named .{suffix} but its content is {said}"
    assert parsed.observations == []
