"""Formula cells saved without their value are found with their place and formula text."""

import zipfile
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from pipelines.ingest import formulas
from pipelines.ingest.formulas import UncachedFormula, formula_problems

FIXTURES = Path(__file__).parent / "fixtures"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def uncached_formulas(path: Path) -> dict[str, list[str]]:
    """Sheet name -> references (`B5`) of the formula cells reported, in report order."""
    found: dict[str, list[str]] = {}
    for problem in formula_problems(path):
        found.setdefault(problem.sheet, []).append(f"{problem.column}{problem.row}")
    return found


def openpyxl_workbook(path: Path) -> Path:
    """Two sheets with formulas, as openpyxl writes them: without any saved value."""
    book = openpyxl.Workbook()
    lyon = book.active
    lyon.title = "Lyon"
    lyon.append(["Mois", "Unités produites", "Heures travaillées"])
    for month, units, hours in [("janv. 2024", 2500, 1000), ("févr. 2024", 2600, 1100)]:
        lyon.append([month, units, hours])
    lyon.append(["Total", "=SUM(B2:B3)", "=SUM(C2:C3)"])
    lyon["D2"] = '=IF(B2>C2,"<&>","")'
    book.create_sheet("Notes").append(["Rien ici"])
    book.create_sheet("Vénissieux").append([1, 2, "=A1*B1"])
    book.save(path)
    return path


def package(path: Path, sheets: dict[str, str], prefix: str = "") -> Path:
    """A minimal workbook written by hand: sheet name -> the XML inside its <sheetData>.

    Sheet parts are numbered in reverse, so that workbook order and part order differ.
    """
    x = f"{prefix}:" if prefix else ""
    xmlns = f"xmlns:{prefix}" if prefix else "xmlns"
    entries = list(enumerate(sheets.items(), start=1))
    workbook = (
        f'<{x}workbook {xmlns}="{MAIN}" xmlns:r="{DOC_RELS}"><{x}sheets>'
        + "".join(
            f'<{x}sheet name="{name}" sheetId="{i}" r:id="rId{i}"/>' for i, (name, _) in entries
        )
        + f"</{x}sheets></{x}workbook>"
    )
    relations = (
        f'<Relationships xmlns="{RELS}">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="{DOC_RELS}/worksheet"'
            f' Target="worksheets/sheet{len(sheets) + 1 - i}.xml"/>'
            for i, _ in entries
        )
        + "</Relationships>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types(len(sheets)))
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{RELS}"><Relationship Id="rId1" '
            f'Type="{DOC_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", relations)
        for i, (_, data) in entries:
            archive.writestr(
                f"xl/worksheets/sheet{len(sheets) + 1 - i}.xml",
                f'<{x}worksheet {xmlns}="{MAIN}"><{x}sheetData>{data}</{x}sheetData>'
                f"</{x}worksheet>",
            )
    return path


def content_types(count: int) -> str:
    ns = "http://schemas.openxmlformats.org/package/2006/content-types"
    kind = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{kind}.worksheet+xml"/>'
        for i in range(1, count + 1)
    )
    return (
        f'<Types xmlns="{ns}">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{kind}.sheet.main+xml"/>'
        f"{sheets}</Types>"
    )


def with_saved_values(source: Path, target: Path, values: dict[str, list[str]]) -> Path:
    """A copy of an openpyxl workbook with a value in each formula's empty `<v />`, as Excel
    saves it: part name -> the values, in the order of the formulas in that part."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as patched:
        for info in original.infolist():
            data = original.read(info)
            for value in values.get(info.filename, []):
                data = data.replace(b"<v />", f"<v>{value}</v>".encode(), 1)
            patched.writestr(info, data)
    return target


def test_formulas_written_by_openpyxl_are_reported_with_cell_and_text(tmp_path: Path) -> None:
    path = openpyxl_workbook(tmp_path / "tdb.xlsx")
    assert formula_problems(path) == [
        UncachedFormula("Lyon", 2, "D", '=IF(B2>C2,"<&>","")'),
        UncachedFormula("Lyon", 4, "B", "=SUM(B2:B3)"),
        UncachedFormula("Lyon", 4, "C", "=SUM(C2:C3)"),
        UncachedFormula("Vénissieux", 1, "C", "=A1*B1"),
    ]
    assert uncached_formulas(path) == {"Lyon": ["D2", "B4", "C4"], "Vénissieux": ["C1"]}


def test_the_message_says_what_to_do(tmp_path: Path) -> None:
    problem = formula_problems(openpyxl_workbook(tmp_path / "tdb.xlsx"))[1]
    assert problem.message == (
        "formula '=SUM(B2:B3)' has no saved value (the file was written by a tool that does "
        "not compute formulas): open it in Excel and save it again, or send values"
    )


def test_calamine_reads_an_uncached_formula_as_an_empty_cell(tmp_path: Path) -> None:
    """Why this module exists: the reader alone cannot tell such a cell from a blank one."""
    path = openpyxl_workbook(tmp_path / "tdb.xlsx")
    with CalamineWorkbook.from_path(path) as book:
        assert book.get_sheet_by_name("Lyon").to_python()[3][1] == ""


def test_formulas_with_saved_values_are_not_reported(tmp_path: Path) -> None:
    written = openpyxl_workbook(tmp_path / "written.xlsx")
    path = with_saved_values(
        written,
        tmp_path / "saved.xlsx",
        {"xl/worksheets/sheet1.xml": ["1", "5100", "2100"], "xl/worksheets/sheet3.xml": ["2"]},
    )
    assert formula_problems(path) == []
    assert uncached_formulas(path) == {}
    with CalamineWorkbook.from_path(path) as book:
        assert book.get_sheet_by_name("Lyon").to_python()[3][1] == 5100


def test_workbook_without_formulas_reports_nothing(tmp_path: Path) -> None:
    path = tmp_path / "plain.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["Mois", "Unités produites"])
    book.active.append(["janv. 2024", 2500])
    book.save(path)
    assert formula_problems(path) == []
    assert uncached_formulas(path) == {}


SHARED = (
    '<row r="1"><c r="A1"><v>1</v></c><c r="B1"><v>10</v></c>'
    '<c r="C1"><f t="shared" ref="C1:C3" si="0">A1*$B$1</f>{v1}</c></row>'
    '<row r="2"><c r="A2"><v>2</v></c><c r="C2"><f t="shared" si="0"/>{v2}</c></row>'
    '<row r="3"><c r="A3"><v>3</v></c><c r="C3"><f t="shared" si="0"/>{v3}</c></row>'
)


def test_shared_formulas_are_reported_translated_to_each_cell(tmp_path: Path) -> None:
    path = package(tmp_path / "shared.xlsx", {"Lyon": SHARED.format(v1="", v2="", v3="<v/>")})
    assert formula_problems(path) == [
        UncachedFormula("Lyon", 1, "C", "=A1*$B$1"),
        UncachedFormula("Lyon", 2, "C", "=A2*$B$1"),
        UncachedFormula("Lyon", 3, "C", "=A3*$B$1"),
    ]


def test_shared_formula_cells_without_value_are_reported_when_the_first_has_one(
    tmp_path: Path,
) -> None:
    data = SHARED.format(v1="<v>10</v>", v2="<v>20</v>", v3="")
    path = package(tmp_path / "shared.xlsx", {"Lyon": data})
    assert formula_problems(path) == [UncachedFormula("Lyon", 3, "C", "=A3*$B$1")]


def test_shared_formulas_with_saved_values_are_not_reported(tmp_path: Path) -> None:
    data = SHARED.format(v1="<v>10</v>", v2="<v>20</v>", v3="<v>30</v>")
    path = package(tmp_path / "shared.xlsx", {"Lyon": data})
    assert formula_problems(path) == []
    with CalamineWorkbook.from_path(path) as book:
        assert [row[2] for row in book.get_sheet_by_name("Lyon").to_python()] == [10, 20, 30]


def test_an_empty_text_result_is_a_saved_value(tmp_path: Path) -> None:
    """Excel saves a formula whose result is "" as `t="str"` with an empty `<v/>`; a number
    cell with an empty `<v/>`, or a text cell with none, has no value."""
    data = (
        '<row r="1"><c r="A1" t="str"><f>IF(1&gt;2,"x","")</f><v/></c>'
        '<c r="B1" t="str"><f>"a"&amp;"b"</f><v>ab</v></c>'
        '<c r="C1" t="str"><f>"a"&amp;"b"</f></c>'
        '<c r="D1"><f>1+1</f><v></v></c>'
        '<c r="E1" t="e"><f>1/0</f><v>#DIV/0!</v></c></row>'
    )
    path = package(tmp_path / "text.xlsx", {"Lyon": data})
    assert formula_problems(path) == [
        UncachedFormula("Lyon", 1, "C", '="a"&"b"'),
        UncachedFormula("Lyon", 1, "D", "=1+1"),
    ]


def test_sheets_come_in_workbook_order_whatever_their_part_names(tmp_path: Path) -> None:
    row = '<row r="2"><c r="B2"><f>1+1</f></c></row>'
    path = package(tmp_path / "order.xlsx", {"Lyon": row, "Notes": "", "Vénissieux": row})
    assert list(uncached_formulas(path)) == ["Lyon", "Vénissieux"]


def test_prefixed_elements_as_some_writers_emit_them(tmp_path: Path) -> None:
    data = (
        '<x:row r="7"><x:c r="AB7"><x:f>SUM(A1:A6)</x:f></x:c>'
        '<x:c r="AC7"><x:f>1</x:f><x:v>1</x:v></x:c></x:row>'
    )
    path = package(tmp_path / "prefixed.xlsx", {"Lyon": data}, prefix="x")
    assert formula_problems(path) == [UncachedFormula("Lyon", 7, "AB", "=SUM(A1:A6)")]


def test_cells_without_reference_are_counted(tmp_path: Path) -> None:
    """`r` is optional on rows and cells: the place is then counted from the previous one."""
    data = (
        '<row r="3"><c><v>1</v></c><c r="C3"><v>2</v></c><c><f>A3+C3</f></c></row>'
        "<row><c><f>1</f><v>1</v></c><c><f>D3*2</f><v/></c></row>"
    )
    path = package(tmp_path / "counted.xlsx", {"Lyon": data})
    assert formula_problems(path) == [
        UncachedFormula("Lyon", 3, "D", "=A3+C3"),
        UncachedFormula("Lyon", 4, "B", "=D3*2"),
    ]


def test_formulas_are_found_across_chunk_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = openpyxl_workbook(tmp_path / "tdb.xlsx")
    expected = formula_problems(path)
    for size in (7, 64, 333):
        monkeypatch.setattr(formulas, "_CHUNK", size)
        assert formula_problems(path) == expected


@pytest.mark.parametrize("name", ["sites.xls", "sites.ods", "sites.xlsm"])
def test_other_formats_and_files_report_nothing(name: str) -> None:
    assert formula_problems(FIXTURES / name) == []


def test_files_that_are_not_workbooks_report_nothing(tmp_path: Path) -> None:
    text = tmp_path / "export.csv"
    text.write_text("Site;Mois\nLyon;1\n")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04garbage")
    assert formula_problems(text) == []
    assert formula_problems(broken) == []
