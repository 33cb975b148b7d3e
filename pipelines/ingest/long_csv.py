"""Long-format CSV exports read by DuckDB, in bounded memory, however many lines they have.

The bytes are checked (and turned into UTF-8 when they are not) in blocks, so a 200 MB export
never sits whole in Python. The header is found in the first lines with the same rules as for
spreadsheets; DuckDB's `read_csv` then reads the rest straight into a table, whose rows are the
cells (`raw_cells`) with their line numbers.
When line numbers could be wrong (blank lines, a quoted value spanning lines), or DuckDB cannot
read the file, `locate_long_csv` returns False and the caller reads the file line by line in
Python instead, which is slower but exact.
"""

import codecs
import csv
import dataclasses
import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.config.model import LongSource
from pipelines.ingest.matching import HEADER_SEARCH_ROWS, find_header
from pipelines.ingest.readers import BOMS, FileProblem, bom_note, sniff_delimiter
from pipelines.ingest.text import column_letter
from pipelines.sql import execute_sql

BLOCK_BYTES = 4 << 20
_DELIMITERS = {";": ";", ",": ",", "tab": "\t"}


@dataclass(frozen=True)
class CheckedText:
    """A text file whose bytes fit their encoding, as DuckDB can read it (`path` in
    `encoding`), with what its bytes say about its lines."""

    path: Path
    encoding: str
    head: str
    lines: int
    has_blank_lines: bool
    note: str | None = None


def locate_long_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source: LongSource,
    work_dir: Path,
    notes: list[str] | None = None,
) -> bool:
    """Fill the temp view `raw_cells` from a long CSV; False when the slower, exact reader
    must be used instead. Raises `FileProblem` for bytes that are not in their encoding.
    When the file is read here and a byte-order mark decided its encoding against the
    configuration, the note saying so is appended to `notes`."""
    text = checked_text(path, source.encoding, work_dir)
    if text.has_blank_lines or '"' in text.head:
        return False
    delimiter = _DELIMITERS.get(source.delimiter) or sniff_delimiter(text.head)
    head_rows = list(csv.reader(io.StringIO(text.head), delimiter=delimiter))
    wanted = {
        "site": source.site,
        "period": source.period,
        "indicator": source.indicator,
        "value": source.value,
    }
    header = find_header(head_rows[:HEADER_SEARCH_ROWS], wanted, list(wanted))
    if header is None:
        return False
    header_index, columns = header
    width = len(head_rows[header_index])
    try:
        execute_sql(
            con,
            "create_csv_lines",
            {
                "path": str(text.path),
                "encoding": text.encoding,
                "delimiter": delimiter,
                "skip": header_index + 1,
                "names": [f"c{index}" for index in range(width)],
                "first_line": header_index + 2,
                "site_column": column_letter(columns["site"]),
                "period_column": column_letter(columns["period"]),
                "value_column": column_letter(columns["value"]),
            },
        )
    except duckdb.Error:
        return False
    execute_sql(
        con,
        "create_raw_cells_from_csv",
        identifiers={key: f"c{index}" for key, index in columns.items()},
    )
    ((records,),) = execute_sql(con, "count_raw_cells").fetchall()
    if records != text.lines - header_index - 1:
        execute_sql(con, "drop_raw_cells")
        return False
    if text.note and notes is not None:
        notes.append(text.note)
    return True


def checked_text(path: Path, encoding: str, work_dir: Path) -> CheckedText:
    """Check a text file's bytes block by block; a byte that does not fit names its line.

    UTF-8, and cp1252 without any of the bytes where it differs from latin-1 (0x80-0x9F: `€`,
    `’`, `œ`), are read by DuckDB as they are; other cp1252 files are copied as UTF-8 into
    `work_dir`, block by block. A byte-order mark decides the encoding whatever `encoding`
    says (UTF-16 is copied as UTF-8), with a note when it overrides the configuration.
    """
    with path.open("rb") as stream:
        start = stream.read(3)
    for mark, codec, name in BOMS:
        if start.startswith(mark):
            if codec.startswith("utf-16"):
                try:  # the "utf-16" codec reads the mark and drops it
                    path = _utf8_copy(path, "utf-16", work_dir)
                except UnicodeDecodeError as error:
                    raise FileProblem(
                        "encoding_mismatch",
                        f"the file is not valid {name} after its byte-order mark: {error.reason}",
                    ) from None
            checked = _check(path, "utf-8", work_dir, declared=True)
            return dataclasses.replace(checked, note=bom_note(name, encoding))
    if encoding != "auto":
        return _check(path, encoding, work_dir, declared=True)
    try:
        return _check(path, "utf-8", work_dir, declared=False)
    except FileProblem:
        return _check(path, "cp1252", work_dir, declared=False)


_C1_BYTES = bytes(range(0x80, 0xA0))
"""Where cp1252 and latin-1 differ (`€`, `’`, `œ`): DuckDB reads latin-1 only."""
_CP1252_UNDEFINED = bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D])
HEAD_CHARACTERS = 65536


def _check(path: Path, encoding: str, work_dir: Path, declared: bool) -> CheckedText:
    decoder = codecs.getincrementaldecoder("utf-8-sig" if encoding == "utf-8" else encoding)()
    utf8_check = codecs.getincrementaldecoder("utf-8")()
    head, lines, blank, previous, cp1252_only = "", 0, False, b"", False
    # A file declared cp1252 (or latin-1) whose bytes are UTF-8 would be stored mis-decoded.
    maybe_utf8, first_non_ascii = declared and encoding != "utf-8", 0
    with path.open("rb") as stream:
        while block := stream.read(BLOCK_BYTES):
            # Only UTF-8 needs decoding to be checked: a single-byte encoding is checked by the
            # bytes it lacks (none for latin-1), and only the head is decoded.
            has_c1 = not block.isascii() and len(block.translate(None, _C1_BYTES)) != len(block)
            cp1252_only = cp1252_only or has_c1
            bad = _first_undecodable(block, encoding, decoder, has_c1)
            if bad is not None:
                line = lines + block.count(b"\n", 0, bad) + 1
                raise FileProblem(
                    "encoding_mismatch",
                    f"line {line} is not valid {encoding} (byte 0x{block[bad]:02x})",
                    row=line,
                )
            if maybe_utf8 and not block.isascii():
                if not first_non_ascii:
                    position = re.search(rb"[\x80-\xff]", block).start()
                    first_non_ascii = lines + block.count(b"\n", 0, position) + 1
                try:
                    utf8_check.decode(block)
                except UnicodeDecodeError:
                    maybe_utf8 = False
            if len(head) < HEAD_CHARACTERS:
                text = block[: HEAD_CHARACTERS * 4].decode(
                    "utf-8-sig" if encoding == "utf-8" and not head else encoding, "ignore"
                )
                head += text[: HEAD_CHARACTERS - len(head)]
            if not blank:
                marks = (b"\n\n", b"\n\r\n") if b"\r" in block else (b"\n\n",)
                blank = any(
                    mark in part for part in (block, previous + block[:2]) for mark in marks
                )
            lines += block.count(b"\n")
            previous = block[-2:]
    if maybe_utf8 and first_non_ascii:
        raise FileProblem(
            "encoding_mismatch",
            f"the file is UTF-8, not {encoding} as configured (line {first_non_ascii}): set "
            "`encoding: utf-8` or `auto` for this source",
            row=first_non_ascii,
        )
    if previous and not previous.endswith(b"\n"):
        lines += 1
    if encoding == "utf-8" or not cp1252_only:
        return CheckedText(path, "utf-8" if encoding == "utf-8" else "latin-1", head, lines, blank)
    return CheckedText(_utf8_copy(path, encoding, work_dir), "utf-8", head, lines, blank)


def _first_undecodable(
    block: bytes, encoding: str, decoder: codecs.IncrementalDecoder, has_c1: bool
) -> int | None:
    """The offset of the first byte of `block` that `encoding` cannot decode, or None.

    `has_c1`: the block holds bytes 0x80-0x9F, among which are the five cp1252 leaves undefined.
    """
    if encoding == "latin-1":
        return None
    if encoding == "cp1252":
        found = [i for i in map(block.find, _CP1252_UNDEFINED) if i >= 0] if has_c1 else []
        return min(found) if found else None
    try:
        decoder.decode(block)
    except UnicodeDecodeError as error:
        return error.start
    return None


def _utf8_copy(path: Path, encoding: str, work_dir: Path) -> Path:
    """The file re-encoded as UTF-8 in `work_dir`, block by block (bounded memory)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    target = Path(tempfile.mkstemp(suffix=".csv", dir=work_dir)[1])
    with path.open("rb") as stream, target.open("wb") as out:
        while block := stream.read(BLOCK_BYTES):
            out.write(decoder.decode(block).encode("utf-8"))
        out.write(decoder.decode(b"", final=True).encode("utf-8"))
    return target
