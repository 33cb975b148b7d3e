"""Hostile and mislabelled inputs: zip bombs and forged workbooks, links and special files in an
inbox, files that are not what their name says, and byte-order marks.

Each case builds its own input. Parses that could take memory run in a child process whose peak
RSS is measured (`ru_maxrss` of the children of a process that runs only that one).
"""

import contextlib
import datetime as dt
import errno
import hashlib
import io
import json
import os
import random
import string
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import dagster as dg
import duckdb
import openpyxl
import pytest
from client_folders import write_client

from pipelines.cli import main
from pipelines.config.loader import ConfigError
from pipelines.config.model import ClientConfig
from pipelines.config.settings import WorkbookLimits, load_settings
from pipelines.ingest import archive, containers, readers
from pipelines.ingest.archive import (
    archive_inbox,
    inbox_files,
    inbox_fingerprint,
    list_inbox,
    unarchived_files,
)
from pipelines.ingest.containers import workbook_limit_problem
from pipelines.ingest.load import load_received, parse_file
from pipelines.ingest.manifest import MANIFEST_NAME
from pipelines.run import run_clients
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

TODAY = dt.date(2026, 11, 26)
NOW = dt.datetime(2026, 11, 26, 8, 0)
ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024

SHEET_SOURCE = {
    "name": "production",
    "layout": "sheet_per_site",
    "pattern": "*.xlsx",
    "period": "Mois",
    "columns": {"units_produced": "Unités"},
}
LONG_SOURCE = {
    "name": "export",
    "layout": "long",
    "pattern": "export*.csv",
    "encoding": "cp1252",
    "site": "Site",
    "period": "Mois",
    "indicator": "Indicateur",
    "value": "Valeur",
    "indicators": {"HEURES": "hours_worked", "CA": "revenue_eur"},
}
WIDE_SOURCE = {
    "name": "finance",
    "layout": "wide",
    "pattern": "finance*.csv",
    "encoding": "cp1252",
    "site_from": "fixed",
    "site": "Saint-Étienne",
    "rows": {"revenue_eur": "Chiffre d'affaires", "hours_worked": "Heures travaillées"},
}


def config(*sources: dict) -> ClientConfig:
    return ClientConfig.model_validate(
        {
            "name": "Hostile",
            "language": "fr",
            "cadence": "monthly",
            "go_live": "2025-03-01",
            "sites": [{"name": "Lyon"}, {"name": "Saint-Étienne", "aliases": ["St-Etienne"]}],
            "sources": list(sources or (SHEET_SOURCE,)),
        }
    )


# --- workbooks written part by part ------------------------------------------------------------

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
    '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>'
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/'
    'workbook.xml"/></Relationships>'
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships"><sheets><sheet name="Lyon" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/'
    'sheet1.xml"/>{more}</Relationships>'
)
SHARED_STRINGS_REL = (
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/sharedStrings" Target="sharedStrings.xml"/>'
)
SHEET_START = (
    b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
    b'spreadsheetml/2006/main"><sheetData>'
)
SHEET_END = b"</sheetData></worksheet>"
HEADER_ROW = (
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>Mois</t></is></c>'
    b'<c r="B1" t="inlineStr"><is><t>Unit\xc3\xa9s</t></is></c></row>'
)


def write_workbook(
    path: Path,
    rows: bytes | list[bytes],
    repeat: int = 1,
    shared_strings: bytes | None = None,
    level: int = 6,
) -> Path:
    """A minimal valid xlsx with one sheet `Lyon`: `rows` (sheet XML), streamed `repeat` times
    into the sheet's part."""
    chunks = [rows] if isinstance(rows, bytes) else rows
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES)
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", WORKBOOK)
        more = SHARED_STRINGS_REL if shared_strings is not None else ""
        book.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.format(more=more))
        if shared_strings is not None:
            book.writestr("xl/sharedStrings.xml", shared_strings)
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(SHEET_START)
            for _ in range(repeat):
                for chunk in chunks:
                    sheet.write(chunk)
            sheet.write(SHEET_END)
    return path


def write_bomb(path: Path, inflated_mb: int) -> Path:
    """The issue's zip bomb: a repeated row streamed into the first sheet, about
    `inflated_mb` MB inflated in a file of a few MB."""
    row = b'<row><c t="inlineStr"><is><t>' + b"A" * 4000 + b"</t></is></c></row>"
    block = row * (MB // len(row) + 1)
    return write_workbook(path, block, repeat=inflated_mb * MB // len(block) + 1, level=1)


def healthy_rows(months: int = 12) -> bytes:
    """A header and `months` rows of 2024: `janv. 2024` ... with units 100, 101, ..."""
    names = ["janv.", "févr.", "mars", "avr.", "mai", "juin"]
    names += ["juil.", "août", "sept.", "oct.", "nov.", "déc."]
    rows = [HEADER_ROW]
    for index in range(months):
        number = index + 2
        rows.append(
            f'<row r="{number}"><c r="A{number}" t="inlineStr"><is><t>{names[index]} 2024</t>'
            f'</is></c><c r="B{number}"><v>{100 + index}</v></c></row>'.encode()
        )
    return b"".join(rows)


PARSE_IN_CHILD = """
import datetime as dt, json, resource, subprocess, sys
child = '''
import datetime as dt, json, sys
from pathlib import Path
from pipelines.config.model import ClientConfig
from pipelines.ingest.load import parse_file
config = ClientConfig.model_validate(json.loads(sys.argv[2]))
parsed = parse_file(Path(sys.argv[1]), Path(sys.argv[1]).name, "production", config,
                    dt.date(2026, 11, 26))
print(json.dumps([[r.rule, r.message] for r in parsed.rejections]))
'''
done = subprocess.run([sys.executable, "-c", child, *sys.argv[1:]], capture_output=True,
                      text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"code": done.returncode, "out": done.stdout, "err": done.stderr[-2000:],
                  "peak": peak}))
"""


def parse_in_child(path: Path) -> tuple[list[list[str]], int]:
    """The rejections of `parse_file` run in a child process, and that child's peak RSS."""
    config_json = json.dumps(config().model_dump(mode="json", exclude_none=True))
    done = subprocess.run(
        [sys.executable, "-c", PARSE_IN_CHILD, str(path), config_json],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=True,
    )
    report = json.loads(done.stdout)
    assert report["code"] == 0, report["err"]
    return json.loads(report["out"]), report["peak"]


# --- 1. workbook limits ------------------------------------------------------------------------


def test_the_issues_zip_bomb_is_rejected_before_it_is_parsed_in_little_memory(
    tmp_path: Path,
) -> None:
    bomb = write_bomb(tmp_path / "Tableau de bord.xlsx", 1400)
    assert bomb.stat().st_size < 10 * MB  # 1.4 GB inflated
    rejections, peak = parse_in_child(bomb)
    assert rejections == [
        [
            "workbook_limits",
            "the file was not opened: the workbook inflates to more than 200 MB (part "
            f"'xl/worksheets/sheet1.xml': {bomb.stat().st_size / MB:.1f} MB compressed, more "
            "than 201.0 MB inflated), over the limit of 200 MB (limits.max_uncompressed_mb in "
            "settings.yaml)",
        ]
    ]
    assert peak < 300 * MB, f"peak RSS {peak / MB:.0f} MB"


def test_a_bomb_is_stored_as_a_rejection_and_nothing_else(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    workspace.ensure()
    inbox = workspace.inbox("hostile")
    inbox.mkdir(parents=True)
    write_bomb(inbox / "Tableau de bord.xlsx", 300)
    with open_warehouse(workspace.warehouse("hostile")) as con:
        archive_inbox(workspace, "hostile", config(), con, NOW)
        summary = load_received(workspace, "hostile", config(), con, TODAY)
        ((values,),) = con.execute("select count(*) from kpi_observations").fetchall()
        ((status, message),) = con.execute("select status, message from files").fetchall()
        rules = con.execute("select rule from rejections").fetchall()
    assert summary.rejected == ["Tableau de bord.xlsx"]
    assert (values, status, rules) == (0, "rejected", [("workbook_limits",)])
    assert message.startswith(
        "whole file: the file was not opened: part 'xl/worksheets/sheet1.xml' inflates from "
    )
    assert message.endswith(
        "over the limit of 100 to 1 (limits.max_compression_ratio in settings.yaml)"
    )
    assert sorted(path.suffix for path in workspace.quarantine("hostile").iterdir()) == [
        ".json",
        ".xlsx",
    ]


def test_a_part_compressed_over_the_ratio_is_named_with_its_sizes(tmp_path: Path) -> None:
    row = b'<row><c t="inlineStr"><is><t>' + b"B" * 2000 + b"</t></is></c></row>"
    path = write_workbook(tmp_path / "ratio.xlsx", row, repeat=2000)  # 4 MB inflated
    parsed = parse_file(path, "ratio.xlsx", "production", config(), TODAY)
    ((rule, message),) = [(r.rule, r.message) for r in parsed.rejections]
    assert rule == "workbook_limits"
    assert message.startswith(
        "the file was not opened: part 'xl/worksheets/sheet1.xml' inflates from 0.0 MB to more "
        "than "
    )
    assert message.endswith(
        "(over 100 times), over the limit of 100 to 1 (limits.max_compression_ratio in "
        "settings.yaml)"
    )


def test_a_zip_directory_that_lies_about_sizes_is_caught_by_measuring(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "forged.xlsx", healthy_rows(), level=0)
    data = bytearray(path.read_bytes())
    # The central directory record of the sheet (the last one): declare 100 bytes only.
    record = data.rfind(b"PK\x01\x02")
    assert data[record + 46 : record + 70] == b"xl/worksheets/sheet1.xml"
    data[record + 24 : record + 28] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    parsed = parse_file(path, "forged.xlsx", "production", config(), TODAY)
    assert [(r.rule, r.message) for r in parsed.rejections] == [
        (
            "workbook_limits",
            "the file was not opened: part 'xl/worksheets/sheet1.xml' declares 100 bytes but "
            "inflates to more: the zip's directory is forged",
        )
    ]


def test_two_far_apart_cells_do_not_make_calamine_allocate_the_sheet_between(
    tmp_path: Path,
) -> None:
    """Without the check, this 1.5 KB file aborts the process: python-calamine asks for 550 GB."""
    path = write_workbook(
        tmp_path / "sparse.xlsx",
        b'<row r="1"><c r="A1"><v>1</v></c></row>'
        b'<row r="1048576"><c r="XFD1048576"><v>2</v></c></row>',
    )
    rejections, peak = parse_in_child(path)
    assert rejections == [
        [
            "workbook_limits",
            "the file was not opened: the workbook's sheets span more than 2,000,000 cells "
            "(part 'xl/worksheets/sheet1.xml' spans 1,048,576 rows and 16,384 columns), over "
            "the limit of 2,000,000 (limits.max_cells in settings.yaml)",
        ]
    ]
    assert peak < 300 * MB


def test_rows_out_of_order_are_caught_before_the_sheet_is_read(tmp_path: Path) -> None:
    """The XML's last row says 1 row; the cells span 300 rows of 16,384 columns: every
    reference counts, not only the last row's."""
    path = write_workbook(
        tmp_path / "shuffled.xlsx",
        b'<row r="300"><c r="A300"><v>1</v></c></row><row r="1"><c r="XFD1"><v>2</v></c></row>',
    )
    rejections, peak = parse_in_child(path)
    assert rejections == [
        [
            "workbook_limits",
            "the file was not opened: the workbook's sheets span more than 2,000,000 cells "
            "(part 'xl/worksheets/sheet1.xml' spans 300 rows and 16,384 columns), over the "
            "limit of 2,000,000 (limits.max_cells in settings.yaml)",
        ]
    ]
    assert peak < 300 * MB
    # The second line, after python-calamine has read the sheet, still holds on its own.
    with pytest.raises(readers.FileProblem) as raised:
        list(readers._read_workbook(path, "xlsx", WorkbookLimits()))
    assert (raised.value.rule, str(raised.value)) == (
        "workbook_limits",
        "sheet 'Lyon' spans 300 rows and 16,384 columns, 4,915,200 cells, over the limit of "
        "2,000,000 (limits.max_cells in settings.yaml)",
    )


def test_rows_and_cells_without_a_reference_count_one_after_the_other(tmp_path: Path) -> None:
    """17,000 cells without `r` in row 300: python-calamine places them side by side, 5.1
    million cells, from a 2 KB file."""
    path = write_workbook(
        tmp_path / "loose.xlsx",
        [
            b'<row r="1"><c r="A1"><v>1</v></c></row><row r="300">',
            b"<c><v>1</v></c>" * 17_000,
            b"</row>",
        ],
    )
    assert limit_problem(path) == (
        "the workbook's sheets span more than 2,000,000 cells (part 'xl/worksheets/sheet1.xml' "
        "spans 300 rows and 17,001 columns), over the limit of 2,000,000 (limits.max_cells in "
        "settings.yaml)"
    )


def test_a_shared_string_copied_into_every_cell_is_counted_as_often(tmp_path: Path) -> None:
    """100,000 cells showing one 10 KB string: 200 KB on disk, 1.9 GB once read."""
    shared = (
        b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
        b'main" count="1" uniqueCount="1"><si><t>' + b"x" * 10_000 + b"</t></si></sst>"
    )
    rows = [
        f'<row r="{r}">'.encode()
        + b"".join(f'<c r="{c}{r}" t="s"><v>0</v></c>'.encode() for c in "ABCDEFGHIJ")
        + b"</row>"
        for r in range(1, 10_001)
    ]
    path = write_workbook(tmp_path / "shared.xlsx", rows, shared_strings=shared)
    assert path.stat().st_size < 300_000
    rejections, peak = parse_in_child(path)
    ((rule, message),) = rejections
    assert rule == "workbook_limits"
    assert message.startswith(
        "the file was not opened: the text of the workbook's cells is more than 200 MB once "
        "each shared string is copied into the cells that show it ("
    )
    assert message.endswith(
        "over the limit of 200 MB (limits.max_uncompressed_mb in settings.yaml)"
    )
    assert peak < 300 * MB


def test_a_healthy_workbook_passes_the_limits_and_loads(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "ok.xlsx", healthy_rows())
    parsed = parse_file(path, "ok.xlsx", "production", config(), TODAY)
    assert parsed.rejections == []
    assert [(o.period_start.month, o.value) for o in parsed.observations] == [
        (month, 99.0 + month) for month in range(1, 13)
    ]


def test_limits_are_workspace_settings_and_checked(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    assert load_settings(workspace.home).limits == WorkbookLimits()
    (tmp_path / "settings.yaml").write_text("limits:\n  max_entries: 4\n", encoding="utf-8")
    assert load_settings(workspace.home).limits.max_entries == 4
    inbox = workspace.inbox("hostile")
    inbox.mkdir(parents=True)
    write_workbook(inbox / "ok.xlsx", healthy_rows())  # five parts
    with open_warehouse(workspace.warehouse("hostile")) as con:
        archive_inbox(workspace, "hostile", config(), con, NOW)
        summary = load_received(workspace, "hostile", config(), con, TODAY)
    assert summary.messages == {
        "ok.xlsx": "whole file: the file was not opened: the workbook is a zip of 5 parts, over "
        "the limit of 4 (limits.max_entries in settings.yaml)"
    }
    (tmp_path / "settings.yaml").write_text(
        "limits:\n  max_cels: 10\n  max_compression_ratio: 0\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(workspace.home)
    assert str(raised.value).splitlines() == [
        f"{tmp_path / 'settings.yaml'}: 2 problems",
        "  limits.max_compression_ratio: Input should be greater than 0, got 0",
        "  limits.max_cels: unknown key 'max_cels'; expected one of: max_uncompressed_mb, "
        "max_compression_ratio, max_entries, max_cells",
    ]


# --- 2. only regular files ----------------------------------------------------------------------


@pytest.fixture
def hostile_inbox(tmp_path: Path) -> tuple[Workspace, Path]:
    """An inbox with a good workbook, a link to a secret file outside it, a link to a folder,
    a FIFO and a sub-folder."""
    workspace = Workspace(tmp_path / "home")
    workspace.ensure()
    inbox = workspace.inbox("hostile")
    inbox.mkdir(parents=True)
    secret = tmp_path / "secret.xlsx"
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    write_workbook(inbox / "Tableau de bord.xlsx", healthy_rows())
    (inbox / "passwd.xlsx").symlink_to(secret)
    (inbox / "etc.xlsx").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(inbox / "pipe.xlsx")
    (inbox / "Archives 2023").mkdir()
    (inbox / "Archives 2023" / "old.xlsx").write_bytes(secret.read_bytes())
    return workspace, secret


def run_with_timeout(function, seconds: float = 30):
    """`function()` in a thread; fails (instead of hanging the suite) after `seconds`."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(function()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked: an inbox entry was opened as if it were a file"
    return result[0]


def test_links_fifos_and_folders_are_refused_unread_and_listed(
    hostile_inbox: tuple[Workspace, Path],
) -> None:
    workspace, secret = hostile_inbox
    with open_warehouse(workspace.warehouse("hostile")) as con:
        summary = run_with_timeout(lambda: archive_inbox(workspace, "hostile", config(), con, NOW))
        load_received(workspace, "hostile", config(), con, TODAY)
        names = con.execute("select original_name, status from files").fetchall()
    assert names == [("Tableau de bord.xlsx", "loaded")]
    assert [(e.name, e.kind, e.message) for e in summary.refused] == [
        (
            "Archives 2023",
            "folder",
            "'Archives 2023' is a folder, not a file: not read; only files directly in the inbox "
            "are read: move its files into the inbox",
        ),
        (
            "etc.xlsx",
            "symbolic link",
            "'etc.xlsx' is a symbolic link, not a file: not read; links are never followed: "
            "copy the file itself into the inbox",
        ),
        (
            "passwd.xlsx",
            "symbolic link",
            "'passwd.xlsx' is a symbolic link, not a file: not read; links are never followed: "
            "copy the file itself into the inbox",
        ),
        (
            "pipe.xlsx",
            "named pipe (FIFO)",
            "'pipe.xlsx' is a named pipe (FIFO), not a file: not read; only regular files are read",
        ),
    ]
    assert summary.in_inbox == 1 and summary.received == ["Tableau de bord.xlsx"]
    secret_bytes = secret.read_bytes()
    kept = [
        path
        for folder in (workspace.archive("hostile"), workspace.quarantine("hostile"))
        if folder.exists()
        for path in folder.iterdir()
        if path.name != MANIFEST_NAME  # the archive's list of receptions, names as data
    ]
    assert len(kept) == 1 and all(path.read_bytes() != secret_bytes for path in kept)
    manifest = (workspace.archive("hostile") / MANIFEST_NAME).read_text(encoding="utf-8")
    assert "passwd" not in manifest and "pipe.xlsx" not in manifest
    assert [path.name for path in inbox_files(workspace, "hostile")] == ["Tableau de bord.xlsx"]
    assert run_with_timeout(lambda: unarchived_files(workspace, "hostile")) == []


def test_the_inbox_fingerprint_never_follows_a_link(
    hostile_inbox: tuple[Workspace, Path],
) -> None:
    workspace, secret = hostile_inbox
    before = inbox_fingerprint(workspace, "hostile")
    secret.write_bytes(b"changed, and longer than before\n")  # what the link points to
    assert inbox_fingerprint(workspace, "hostile") == before
    (workspace.inbox("hostile") / "new link.xlsx").symlink_to(secret)
    assert inbox_fingerprint(workspace, "hostile") != before  # a new entry is news


def test_a_file_swapped_for_a_link_after_the_listing_is_caught_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = Workspace(tmp_path / "home")
    workspace.ensure()
    inbox = workspace.inbox("hostile")
    inbox.mkdir(parents=True)
    secret = tmp_path / "secret.xlsx"
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    victim = write_workbook(inbox / "Tableau de bord.xlsx", healthy_rows())
    real_listing = archive.list_inbox

    def listing_then_swap(*args: object) -> archive.InboxListing:
        listing = real_listing(*args)
        victim.unlink()
        victim.symlink_to(secret)
        return listing

    monkeypatch.setattr(archive, "list_inbox", listing_then_swap)
    with open_warehouse(workspace.warehouse("hostile")) as con:
        summary = archive_inbox(workspace, "hostile", config(), con, NOW)
        ((files,),) = con.execute("select count(*) from files").fetchall()
    assert [(e.kind, e.message) for e in summary.refused] == [
        (
            "symbolic link",
            "'Tableau de bord.xlsx' is a symbolic link (it became one between listing and "
            "reading), not a file: not read; links are never followed: copy the file itself "
            "into the inbox",
        )
    ]
    assert files == 0 and list(workspace.archive("hostile").iterdir()) == []


def test_listing_judges_entries_by_lstat(hostile_inbox: tuple[Workspace, Path]) -> None:
    workspace, _ = hostile_inbox
    listing = list_inbox(workspace, "hostile")
    assert [path.name for path in listing.files] == ["Tableau de bord.xlsx"]
    assert [entry.kind for entry in listing.refused] == [
        "folder",
        "symbolic link",
        "symbolic link",
        "named pipe (FIFO)",
    ]


# --- 3. what a file really is -------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
CONTENTS = {
    "png": (PNG, "a PNG image"),
    "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n", "a PDF document"),
    "jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01", "a JPEG image"),
    "gif": (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!", "a GIF image"),
    "html": (
        b"\r\n<html xmlns:o='urn:schemas-microsoft-com:office:office'>\n<head><meta charset="
        b"'windows-1252'></head><body><table><tr><td>Mois</td><td>Unit\xe9s</td></tr></table>",
        "an HTML page (a web export: open it in Excel and save it as .xlsx)",
    ),
    "xml": (
        b'<?xml version="1.0"?>\r\n<?mso-application progid="Excel.Sheet"?>\r\n<Workbook '
        b'xmlns="urn:schemas-microsoft-com:office:spreadsheet">',
        "an XML Spreadsheet 2003 (open it in Excel and save it as .xlsx)",
    ),
}


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Tableau de bord.xlsx", "png"),
        ("Tableau de bord.xlsx", "pdf"),
        ("Tableau de bord.xlsx", "html"),
        ("Tableau de bord.xls", "html"),
        ("Tableau de bord.xls", "jpeg"),
        ("Tableau de bord.xlsm", "gif"),
        ("Tableau de bord.ods", "png"),
        ("Tableau de bord.xls", "xml"),
    ],
)
def test_a_file_that_is_not_what_its_name_says_is_named_for_what_it_is(
    tmp_path: Path, name: str, kind: str
) -> None:
    content, said = CONTENTS[kind]
    path = tmp_path / name
    path.write_bytes(content)
    source = {**SHEET_SOURCE, "pattern": "*"}
    parsed = parse_file(path, name, "production", config(source), TODAY)
    suffix = name.rsplit(".", 1)[1]
    assert [(r.rule, r.message) for r in parsed.rejections] == [
        ("content_mismatch", f"the file is named .{suffix} but its content is {said}")
    ]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (PNG, "a PNG image"),
        (b"\x00\x01\x02\x03binary\x00\x00\xff", "binary data, neither a spreadsheet nor text"),
        (CONTENTS["pdf"][0], "a PDF document"),
    ],
)
def test_a_binary_file_named_csv_is_not_read_as_text(
    tmp_path: Path, content: bytes, said: str
) -> None:
    for source in (LONG_SOURCE, WIDE_SOURCE):
        name = source["pattern"].replace("*", "_2024-11")
        path = tmp_path / name
        path.write_bytes(content)
        parsed = parse_file(path, name, source["name"], config(source), TODAY)
        assert [(r.rule, r.message) for r in parsed.rejections] == [
            ("content_mismatch", f"the file is named .csv but its content is {said}")
        ]


def test_an_xlsx_named_csv_says_it_is_a_workbook(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "export_2024-11.csv", healthy_rows())
    parsed = parse_file(path, path.name, "export", config(LONG_SOURCE), TODAY)
    assert [r.message for r in parsed.rejections] == [
        "the file is named .csv but its content is an Excel workbook (.xlsx)"
    ]


# --- 4. a byte-order mark decides the encoding --------------------------------------------------

LONG_TEXT = (
    "Site;Mois;Indicateur;Valeur\n"
    "Saint-Étienne;janv. 2024;HEURES;1 234,5\n"
    "Saint-Étienne;févr. 2024;HEURES;1 310,25\n"
    "St-Etienne;déc. 2024;CA;98 765,43\n"
)
LONG_VALUES = [
    ("Saint-Étienne", dt.date(2024, 1, 1), "hours_worked", 1234.5),
    ("Saint-Étienne", dt.date(2024, 2, 1), "hours_worked", 1310.25),
    ("Saint-Étienne", dt.date(2024, 12, 1), "revenue_eur", 98765.43),
]
WIDE_TEXT = (
    "Pack financier 2024 (k€ non, en €)\n"
    "Indicateur;janv. 2024;févr. 2024;août 2024\n"
    "Chiffre d'affaires;12 500,50;13 000;14 250,75\n"
    "Heures travaillées;1 200;1 180,5;950\n"
)
WIDE_VALUES = [
    ("Saint-Étienne", dt.date(2024, 1, 1), "hours_worked", 1200.0),
    ("Saint-Étienne", dt.date(2024, 1, 1), "revenue_eur", 12500.5),
    ("Saint-Étienne", dt.date(2024, 2, 1), "hours_worked", 1180.5),
    ("Saint-Étienne", dt.date(2024, 2, 1), "revenue_eur", 13000.0),
    ("Saint-Étienne", dt.date(2024, 8, 1), "hours_worked", 950.0),
    ("Saint-Étienne", dt.date(2024, 8, 1), "revenue_eur", 14250.75),
]
ENCODED = {
    "UTF-8": lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),
    "UTF-16 LE": lambda text: b"\xff\xfe" + text.encode("utf-16-le"),
    "UTF-16 BE": lambda text: b"\xfe\xff" + text.encode("utf-16-be"),
}


def values_of(parsed) -> list[tuple]:
    return sorted((o.site, o.period_start, o.kpi, o.value) for o in parsed.observations)


@pytest.mark.parametrize("mark", ["UTF-8", "UTF-16 LE", "UTF-16 BE"])
def test_a_long_csv_with_a_byte_order_mark_loads_exactly_with_a_note(
    tmp_path: Path, mark: str
) -> None:
    path = tmp_path / "export_2024-12.csv"
    path.write_bytes(ENCODED[mark](LONG_TEXT))
    with duckdb.connect() as con:
        parsed = parse_file(path, path.name, "export", config(LONG_SOURCE), TODAY, con)
        assert parsed.rejections == []
        assert values_of(parsed) == LONG_VALUES
        assert parsed.warnings == [
            f"the file begins with a {mark} byte-order mark: read as {mark} (not cp1252 as "
            "configured), as the mark says"
        ]


@pytest.mark.parametrize("mark", ["UTF-8", "UTF-16 LE", "UTF-16 BE"])
def test_the_duckdb_reader_of_long_csvs_is_the_one_that_read_the_bom_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mark: str
) -> None:
    """The long CSVs above are read by DuckDB, not by the line-by-line fallback."""
    from pipelines.ingest import load

    def no_fallback(*args: object, **kwargs: object) -> None:
        raise AssertionError("the line-by-line reader was used")

    monkeypatch.setattr(load, "read_sheets", no_fallback)
    path = tmp_path / "export_2024-12.csv"
    path.write_bytes(ENCODED[mark](LONG_TEXT))
    parsed = parse_file(path, path.name, "export", config(LONG_SOURCE), TODAY)
    assert values_of(parsed) == LONG_VALUES
    assert parsed.warnings == [
        f"the file begins with a {mark} byte-order mark: read as {mark} (not cp1252 as "
        "configured), as the mark says"
    ]


@pytest.mark.parametrize("mark", ["UTF-8", "UTF-16 LE", "UTF-16 BE"])
def test_a_wide_csv_with_a_byte_order_mark_loads_exactly_with_a_note(
    tmp_path: Path, mark: str
) -> None:
    path = tmp_path / "finance_2024.csv"
    path.write_bytes(ENCODED[mark](WIDE_TEXT))
    parsed = parse_file(path, path.name, "finance", config(WIDE_SOURCE), TODAY)
    assert parsed.rejections == []
    assert values_of(parsed) == WIDE_VALUES
    assert parsed.warnings == [
        f"the file begins with a {mark} byte-order mark: read as {mark} (not cp1252 as "
        "configured), as the mark says"
    ]


def test_without_a_mark_the_configured_encoding_still_decides(tmp_path: Path) -> None:
    path = tmp_path / "finance_2024.csv"
    path.write_bytes(WIDE_TEXT.encode("utf-8"))  # UTF-8, no mark, for a cp1252 source
    parsed = parse_file(path, path.name, "finance", config(WIDE_SOURCE), TODAY)
    assert [r.rule for r in parsed.rejections] == ["encoding_mismatch"]
    path.write_bytes(WIDE_TEXT.encode("cp1252"))
    parsed = parse_file(path, path.name, "finance", config(WIDE_SOURCE), TODAY)
    assert values_of(parsed) == WIDE_VALUES and parsed.warnings == []


def test_a_utf8_mark_on_a_utf8_source_needs_no_note(tmp_path: Path) -> None:
    path = tmp_path / "finance_2024.csv"
    path.write_bytes(ENCODED["UTF-8"](WIDE_TEXT))
    source = {**WIDE_SOURCE, "encoding": "utf-8"}
    parsed = parse_file(path, path.name, "finance", config(source), TODAY)
    assert values_of(parsed) == WIDE_VALUES and parsed.warnings == []


def test_a_file_that_breaks_its_own_mark_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "finance_2024.csv"
    path.write_bytes(b"\xef\xbb\xbf" + WIDE_TEXT.encode("utf-8") + b"Effectif;\xe9\n")
    parsed = parse_file(path, path.name, "finance", config(WIDE_SOURCE), TODAY)
    assert [(r.rule, r.row) for r in parsed.rejections] == [("encoding_mismatch", 5)]
    assert parsed.rejections[0].message.startswith("line 5 is not valid UTF-8 (byte 0xe9)")


# --- 5. what a review found: limits that cannot be fooled, unreadable files, one read -----------


def limit_problem(path: Path) -> str | None:
    return workbook_limit_problem(path, WorkbookLimits())


WIDE_THEN_LONG = b'<row r="1"><c r="XFD1"><v>1</v></c></row>' + b"".join(
    f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>'.encode() for r in range(2, 6001)
)


def test_the_widest_cell_in_an_earlier_row_is_counted_before_calamine_reads_it(
    tmp_path: Path,
) -> None:
    """XFD1 in row 1, A6000 in row 6000, no `<dimension>`: 98 million cells for calamine (3 GB
    measured), though the last row of each block is one column wide."""
    path = write_workbook(tmp_path / "wide.xlsx", WIDE_THEN_LONG)
    assert path.stat().st_size < 60_000
    rejections, peak = parse_in_child(path)
    assert rejections == [
        [
            "workbook_limits",
            "the file was not opened: the workbook's sheets span more than 2,000,000 cells "
            "(part 'xl/worksheets/sheet1.xml' spans 6,000 rows and 16,384 columns), over "
            "the limit of 2,000,000 (limits.max_cells in settings.yaml)",
        ]
    ]
    assert peak < 300 * MB


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (b'<row r="1"><c r="A1"><v>1</v></c></row>', b'<row r="1048576"><c r="XFD1"/></row>'),
        (b"<row r='1'><c r = 'XFD1'><v>1</v></c></row>", b'<row r="200"><c r="A200"/></row>'),
        (b'<row\nr="1"><c\tr="xfd1"><v>1</v></c></row>', b'<row r="200"><c r="A200"/></row>'),
        (b'<row r="1"><c r="A1048576"><v>1</v></c></row>', b'<row r="2"><c r="XFD2"/></row>'),
    ],
)
def test_every_reference_counts_however_it_is_written_and_wherever_it_is(
    tmp_path: Path, first: bytes, last: bytes
) -> None:
    """Single quotes, spaces around `=`, a tab before `r`, lower case, a row number larger
    than the row it is written in: all read as python-calamine reads them."""
    path = write_workbook(tmp_path / "refs.xlsx", [first, last])
    problem = limit_problem(path)
    assert problem is not None
    assert "16,384 columns" in problem
    assert "over the limit of 2,000,000 (limits.max_cells in settings.yaml)" in problem


def test_a_reference_cut_by_the_end_of_a_block_is_read_whole(tmp_path: Path) -> None:
    """The part is measured in 1 MiB blocks: `r="XFD1"` is cut between X and FD1 (column 24 on
    its own), in a row of text filling the first block."""
    start = SHEET_START + b'<row r="1"><c r="A1" t="inlineStr"><is><t>'
    cell = b'</t></is></c><c r="X'
    letters = random.Random(20261207).choices(string.ascii_letters, k=containers.BLOCK_BYTES)
    text = "".join(letters)[: containers.BLOCK_BYTES - len(start) - len(cell)].encode()
    rows = [
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>' + text + cell + b'FD1"><v>1</v></c></row>',
        b"".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>'.encode() for r in range(2, 201)),
    ]
    path = write_workbook(tmp_path / "cut.xlsx", rows)
    with zipfile.ZipFile(path) as book:
        part = book.read("xl/worksheets/sheet1.xml")
    assert part[containers.BLOCK_BYTES - 1 : containers.BLOCK_BYTES + 3] == b"XFD1"
    assert limit_problem(path) == (
        "the workbook's sheets span more than 2,000,000 cells (part 'xl/worksheets/sheet1.xml' "
        "spans 200 rows and 16,384 columns), over the limit of 2,000,000 (limits.max_cells in "
        "settings.yaml)"
    )


def test_the_measure_of_an_ordinary_workbook_stays_within_its_rows(tmp_path: Path) -> None:
    """Every row of a 2,000-row workbook is read for its references, not over-counted: the
    same workbook passes at 2,000 x 3 cells and is refused one cell under."""
    rows = [HEADER_ROW] + [
        f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}"><v>1</v></c>'
        f'<c r="C{r}"><v>2</v></c></row>'.encode()
        for r in range(2, 2001)
    ]
    path = write_workbook(tmp_path / "ordinary.xlsx", rows)
    assert workbook_limit_problem(path, WorkbookLimits(max_cells=6000)) is None
    assert "spans 2,000 rows and 3 columns" in (
        workbook_limit_problem(path, WorkbookLimits(max_cells=5999)) or ""
    )


ODS_CONTENT = (
    '<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:'
    'names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:'
    'xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Lyon">'
    "{rows}</table:table></office:spreadsheet></office:body></office:document-content>"
)
ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:'
    'tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" '
    'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-'
    'entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
)


def ods_cell(text: str, value: str | None = None, repeat: int = 1) -> str:
    """A cell with content (a float when `value` is given), `repeat` times over."""
    repeated = f' table:number-columns-repeated="{repeat}"' if repeat > 1 else ""
    kind = (
        f'office:value-type="float" office:value="{value}"'
        if value
        else ('office:value-type="string"')
    )
    return f"<table:table-cell{repeated} {kind}><text:p>{text}</text:p></table:table-cell>"


def write_ods(path: Path, rows: str) -> Path:
    """A minimal ods whose sheet `Lyon` holds `rows` (table:table-row elements)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        book.writestr("content.xml", ODS_CONTENT.format(rows=rows))
        book.writestr("META-INF/manifest.xml", ODS_MANIFEST)
    return path


def test_an_ods_cell_repeated_a_thousand_by_twenty_thousand_times_is_refused(
    tmp_path: Path,
) -> None:
    """A 780-byte file that python-calamine makes 20 million cells of (1.25 GB measured)."""
    path = write_ods(
        tmp_path / "Tableau de bord.ods",
        '<table:table-row table:number-rows-repeated="1000">'
        + ods_cell("1", "1", repeat=20_000)
        + "</table:table-row>",
    )
    assert path.stat().st_size < 1000
    rejections, peak = parse_in_child(path)
    assert rejections == [
        [
            "workbook_limits",
            "the file was not opened: the workbook's sheets span more than 2,000,000 cells (part "
            "'content.xml' holds more than 20,000,000 cells, repeats included), over the limit "
            "of 2,000,000 (limits.max_cells in settings.yaml)",
        ]
    ]
    assert peak < 300 * MB


def test_repeated_ods_rows_count_each_copy_across_rows_and_sheets(tmp_path: Path) -> None:
    """700,000 copies of a 3-cell row: 2.1 million cells, though each row is small."""
    row = ods_cell("janv. 2024") + ods_cell("1", "1") + ods_cell("2", "2")
    path = write_ods(
        tmp_path / "rows.ods",
        f'<table:table-row table:number-rows-repeated="700000">{row}</table:table-row>',
    )
    assert "holds more than 2,100,000 cells, repeats included" in (limit_problem(path) or "")
    path = write_ods(
        tmp_path / "rows.ods",
        f'<table:table-row table:number-rows-repeated="600000">{row}</table:table-row>',
    )
    assert limit_problem(path) is None


def test_libreoffice_empty_repeats_to_the_sheets_end_are_not_counted(tmp_path: Path) -> None:
    """LibreOffice writes an empty cell repeated to the last column and an empty row repeated
    to the last row: python-calamine keeps no cell for them (10 MB measured), so neither does
    the count; the test fixtures saved by LibreOffice pass too."""
    header = ods_cell("Mois") + ods_cell("Unités")
    data = ods_cell("janv. 2024") + ods_cell("100", "100")
    empty_tail = '<table:table-cell table:style-name="ce1" table:number-columns-repeated="16382"/>'
    path = write_ods(
        tmp_path / "Tableau de bord.ods",
        f"<table:table-row>{header}{empty_tail}</table:table-row>"
        f"<table:table-row>{data}{empty_tail}</table:table-row>"
        '<table:table-row table:number-rows-repeated="1048574"><table:table-cell '
        'table:number-columns-repeated="16384"/></table:table-row>',
    )
    assert limit_problem(path) is None
    assert workbook_limit_problem(path, WorkbookLimits(max_cells=4)) is None
    rejections, peak = parse_in_child(path)
    assert rejections == []
    assert peak < 300 * MB
    for fixture in sorted((ROOT / "tests" / "fixtures").glob("*.ods")):
        assert limit_problem(fixture) is None, fixture


def write_parts(path: Path, sheet: bytes, compression: int) -> Path:
    """A workbook whose sheet part is compressed with `compression` (bzip2, lzma)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES)
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", WORKBOOK)
        book.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.format(more=""))
        book.writestr("xl/worksheets/sheet1.xml", sheet, compress_type=compression)
    return path


@pytest.mark.parametrize(
    ("compression", "said"),
    [(zipfile.ZIP_BZIP2, "compression 12 (bzip2)"), (zipfile.ZIP_LZMA, "compression 14 (lzma)")],
)
def test_a_part_compressed_otherwise_than_deflate_is_refused_unopened(
    tmp_path: Path, compression: int, said: str
) -> None:
    """A bzip2 bomb: 150 MB of one repeated row in 1 KB, which nothing here can measure."""
    row = b'<row><c t="inlineStr"><is><t>' + b"A" * 4000 + b"</t></is></c></row>"
    path = write_parts(
        tmp_path / "Tableau de bord.xlsx",
        SHEET_START + row * 40_000 + SHEET_END,
        compression,
    )
    assert path.stat().st_size < 100_000
    parsed = parse_file(path, path.name, "production", config(), TODAY)
    assert [(r.rule, r.message) for r in parsed.rejections] == [
        (
            "workbook_limits",
            f"the file was not opened: part 'xl/worksheets/sheet1.xml' cannot be checked: {said}, "
            "where only stored and deflate are read (save it again from Excel or LibreOffice)",
        )
    ]


def test_a_corrupt_deflate_stream_is_refused_unopened(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "Tableau de bord.xlsx", healthy_rows(12) * 50)
    with zipfile.ZipFile(path) as book:
        info = book.getinfo("xl/worksheets/sheet1.xml")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode())
    with path.open("rb") as raw:
        raw.seek(info.header_offset + 28)
        start += int.from_bytes(raw.read(2), "little")
    data[start : start + 64] = b"\xff" * 64  # a reserved block type
    path.write_bytes(bytes(data))
    problem = limit_problem(path)
    assert problem == (
        "part 'xl/worksheets/sheet1.xml' cannot be checked: its compressed bytes are corrupt "
        "(Error -3 while decompressing data: invalid block type) (save it again from Excel or "
        "LibreOffice)"
    )


def test_a_file_that_is_not_a_zip_at_all_is_left_to_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "Tableau de bord.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    assert limit_problem(path) is None
    parsed = parse_file(path, path.name, "production", config(), TODAY)
    assert [r.rule for r in parsed.rejections] != ["workbook_limits"]


@pytest.mark.parametrize("failure", ["open", "read"])
def test_an_unreadable_inbox_file_is_refused_and_listed_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """EACCES on open, EIO on read: that file is listed as refused; the other one is
    archived, and the inbox sensor goes on."""
    workspace = Workspace(tmp_path / "home")
    workspace.ensure()
    inbox = workspace.inbox("hostile")
    inbox.mkdir(parents=True)
    write_workbook(inbox / "Tableau de bord.xlsx", healthy_rows())
    broken = inbox / "Production mars.xlsx"
    write_workbook(broken, healthy_rows(3))
    real_open, real_read = os.open, os.read
    broken_fds: set[int] = set()

    def failing_open(path, flags, *args, **kwargs):
        if Path(path) == broken and failure == "open":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        fd = real_open(path, flags, *args, **kwargs)
        if Path(path) == broken:
            broken_fds.add(fd)
        return fd

    def failing_read(fd, size):
        if fd in broken_fds:
            raise OSError(errno.EIO, "Input/output error")
        return real_read(fd, size)

    monkeypatch.setattr(archive.os, "open", failing_open)
    monkeypatch.setattr(archive.os, "read", failing_read)
    reason = "Permission denied" if failure == "open" else "Input/output error"
    assert unarchived_files(workspace, "hostile") == [inbox / "Tableau de bord.xlsx"]
    with open_warehouse(workspace.warehouse("hostile")) as con:
        summary = archive_inbox(workspace, "hostile", config(), con, NOW)
    assert summary.received == ["Tableau de bord.xlsx"]
    assert summary.refused == [
        archive.RefusedEntry(
            "Production mars.xlsx",
            "unreadable file",
            f"'Production mars.xlsx' cannot be read: {reason}; not archived (check its "
            "permissions, or copy it into the inbox again)",
        )
    ]
    assert [p.suffix for p in workspace.archive("hostile").iterdir()] == [".xlsx", ".jsonl"] or (
        sorted(p.suffix for p in workspace.archive("hostile").iterdir()) == [".jsonl", ".xlsx"]
    )


def test_a_file_still_being_written_is_archived_under_the_digest_of_its_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's sync tool appends to the file while it is archived: what the archive
    holds is named by the SHA-256 of those very bytes (one read, hashed while copied)."""
    workspace = Workspace(tmp_path / "home")
    workspace.ensure()
    inbox = workspace.inbox("hostile")
    inbox.mkdir(parents=True)
    growing = inbox / "export_2024-12.csv"
    growing.write_bytes(b"Site;Mois;Indicateur;Valeur\r\nLyon;janv. 2024;CA;1000\r\n")
    real_read = os.read
    appended: list[bool] = []

    def read_then_grow(fd, size):
        block = real_read(fd, size)
        if not block and not appended:  # the end of the first read: the writer goes on
            appended.append(True)
            with growing.open("ab") as out:
                out.write("Lyon;févr. 2024;CA;1100\r\n".encode("cp1252"))
        return block

    monkeypatch.setattr(archive.os, "read", read_then_grow)
    with open_warehouse(workspace.warehouse("hostile")) as con:
        summary = archive_inbox(workspace, "hostile", config(LONG_SOURCE), con, NOW)
        (size,) = con.execute("select size_bytes from files").fetchone()
    assert summary.received == ["export_2024-12.csv"]
    (stored,) = [p for p in workspace.archive("hostile").iterdir() if p.suffix == ".csv"]
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == stored.stem
    assert stored.stat().st_size == size
    assert [p.name for p in workspace.archive("hostile").iterdir() if "partial" in p.name] == []


@pytest.mark.parametrize("mark", ["UTF-16 LE", "UTF-16 BE"])
def test_a_web_page_saved_as_utf16_is_named_for_what_it_is(tmp_path: Path, mark: str) -> None:
    """Its mark says big- or little-endian: read as such, the page is an HTML page."""
    path = tmp_path / "Tableau de bord.xls"
    path.write_bytes(ENCODED[mark](CONTENTS["html"][0].decode("cp1252")))
    parsed = parse_file(
        path, path.name, "production", config({**SHEET_SOURCE, "pattern": "*"}), TODAY
    )
    assert [(r.rule, r.message) for r in parsed.rejections] == [
        ("content_mismatch", f"the file is named .xls but its content is {CONTENTS['html'][1]}")
    ]


def test_check_config_names_the_settings_file_and_key_of_a_typo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    write_client(tmp_path, "helios")
    settings = tmp_path / "settings.yaml"
    settings.write_text("limits:\n  max_cells: 3000000\n", encoding="utf-8")
    assert main(["check-config", "--home", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "ok   settings.yaml: workbooks up to 200 MB inflated, 3,000,000 cells, 10,000 parts, "
        "100 to 1"
    )
    settings.write_text("limits:\n  max_cels: 3000000\n", encoding="utf-8")
    assert main(["check-config", "--home", str(tmp_path)]) == 1
    output = capsys.readouterr().out
    assert f"FAIL {settings}: 1 problem" in output
    assert (
        "  limits.max_cels: unknown key 'max_cels'; expected one of: max_uncompressed_mb, "
        "max_compression_ratio, max_entries, max_cells"
    ) in output
    assert "ok   helios:" in output


def test_the_workspace_module_depends_on_no_ingest_stage() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pipelines.workspace; "
            "print(sorted(m for m in sys.modules if m.startswith('pipelines.ingest')))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert done.stdout.strip() == "[]"


# --- the whole pipeline, a hostile client beside a healthy one ----------------------------------

HOSTILE_YAML = """\
name: Hostile
cadence: monthly
go_live: 2025-03-01
sites:
  - name: Lyon
  - name: Saint-Étienne
    aliases: [St-Etienne]
sources:
  - name: production
    layout: sheet_per_site
    pattern: "*.xlsx"
    period: Mois
    columns:
      units_produced: Unités
  - name: export
    layout: long
    pattern: "export*.csv"
    encoding: cp1252
    site: Site
    period: Mois
    indicator: Indicateur
    value: Valeur
    indicators:
      HEURES: hours_worked
      CA: revenue_eur
"""


def healthy_workbook(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Lyon"
    sheet.append(["Production 2024 : Lyon"])
    sheet.append([])
    sheet.append(["Mois", "Unités"])
    for month in range(1, 13):
        sheet.append([dt.datetime(2024, month, 1), 1000 + 10 * month])
    sheet.append(["Total", sum(1000 + 10 * month for month in range(1, 13))])
    book.save(path)


HEALTHY_VALUES = [
    ("Lyon", dt.date(2024, m, 1), "units_produced", 1000.0 + 10 * m) for m in range(1, 13)
]


@pytest.mark.filterwarnings("ignore::dagster.PreviewWarning")
def test_a_hostile_client_costs_nothing_to_a_healthy_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CAP_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    workspace = Workspace(home)
    workspace.ensure()
    write_client(home, "healthy")
    workspace.inbox("healthy").mkdir()
    healthy_workbook(workspace.inbox("healthy") / "Production 2024.xlsx")
    write_client(home, "hostile", text=HOSTILE_YAML)
    inbox = workspace.inbox("hostile")
    inbox.mkdir()
    secret = tmp_path / "passwd"
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    (inbox / "passwd.xlsx").symlink_to(secret)
    (inbox / "etc").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(inbox / "pipe.csv")
    (inbox / "old").mkdir()
    write_bomb(inbox / "Tableau de bord bombe.xlsx", 600)
    (inbox / "Tableau de bord photo.xlsx").write_bytes(PNG)
    (inbox / "export_2024.csv").write_bytes(ENCODED["UTF-8"](LONG_TEXT))
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = run_with_timeout(lambda: run_clients(workspace, workers=1), 600)
    text = output.getvalue()
    assert code == 0, text
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line[:1].isalpha()}
    assert rows["healthy"][1:5] == ["ok", "1", "0", "12"]
    assert rows["hostile"][1:5] == ["ok", "1", "2", "3"], text
    assert "! check raw_files_are_regular_files failed (WARN)" in text
    refused_line = text.split("Inboxes:\n")[1].splitlines()[0]
    assert refused_line.startswith("  hostile ") and refused_line.endswith(
        "4 inbox entries refused unread, not regular files: 'etc' (symbolic link), 'old' "
        "(folder), 'passwd.xlsx' (symbolic link) and 1 more"
    ), text
    with duckdb.connect(str(workspace.warehouse("healthy")), read_only=True) as con:
        healthy = con.execute(
            "select site, period_start, kpi, value from kpi_values order by all"
        ).fetchall()
    assert healthy == HEALTHY_VALUES
    with duckdb.connect(str(workspace.warehouse("hostile")), read_only=True) as con:
        files = dict(con.execute("select original_name, message from files").fetchall())
        hostile = con.execute(
            "select site, period_start, kpi, value from kpi_values order by all"
        ).fetchall()
    assert sorted(files) == [
        "Tableau de bord bombe.xlsx",
        "Tableau de bord photo.xlsx",
        "export_2024.csv",
    ]
    assert files["Tableau de bord photo.xlsx"] == (
        "whole file: the file is named .xlsx but its content is a PNG image"
    )
    assert files["Tableau de bord bombe.xlsx"].startswith(
        "whole file: the file was not opened: the workbook inflates to more than 200 MB"
    )
    assert files["export_2024.csv"] == (
        "the file begins with a UTF-8 byte-order mark: read as UTF-8 (not cp1252 as "
        "configured), as the mark says"
    )
    assert sorted(hostile) == sorted(LONG_VALUES)
    from pipelines.definitions import defs

    digest = defs.resolve_job_def("consultant_digest_job").execute_in_process(
        instance=dg.DagsterInstance.get()
    )
    assert digest.success
    (materialization,) = digest.asset_materializations_for_node("consultant_digest")
    digest_text = Path(materialization.metadata["digest"].value).read_text(encoding="utf-8")
    (line,) = [line for line in digest_text.splitlines() if "raw_files_are_regular_files" in line]
    assert line.startswith("  - Hostile (hostile): raw_files_are_regular_files on raw_files, ")
    assert line.endswith(
        ": 4 inbox entries refused unread, not regular files: 'etc' (symbolic link), 'old' "
        "(folder), 'passwd.xlsx' (symbolic link) and 1 more"
    )
    secret_bytes = secret.read_bytes()
    for folder in (home / "archive", home / "quarantine", home / "reports"):
        for path in folder.rglob("*"):
            assert not path.is_symlink()
            assert not (path.is_file() and path.read_bytes() == secret_bytes), path
