"""Long-format CSV exports read by DuckDB, in bounded memory, however many lines they have.

The bytes are checked (and turned into UTF-8 when they are not) in blocks, so a 200 MB export
never sits whole in Python. The header is found in the first lines with the same rules as for
spreadsheets; DuckDB's `read_csv` then reads the rest straight into `raw_cells`, numbering lines.
When line numbers could be wrong (blank lines, a quoted value spanning lines), or DuckDB cannot
read the file, `locate_long_csv` returns False and the caller reads the file line by line in
Python instead, which is slower but exact.
"""

import codecs
import csv
import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.config.model import LongSource
from pipelines.ingest.matching import HEADER_SEARCH_ROWS, find_header
from pipelines.ingest.readers import FileProblem, sniff_delimiter
from pipelines.ingest.text import column_letter
from pipelines.sql import execute_sql

BLOCK_BYTES = 4 << 20
_DELIMITERS = {";": ";", ",": ",", "tab": "\t"}


@dataclass(frozen=True)
class Utf8Text:
    """A text file as UTF-8 on disk, with what its bytes say about its lines."""

    path: Path
    head: str
    lines: int
    has_blank_lines: bool


def locate_long_csv(
    con: duckdb.DuckDBPyConnection, path: Path, source: LongSource, work_dir: Path
) -> bool:
    """Fill the temp table `raw_cells` from a long CSV; False when the slower, exact reader
    must be used instead. Raises `FileProblem` for bytes that are not in their encoding."""
    text = to_utf8(path, source.encoding, work_dir)
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
            "create_raw_cells_from_csv",
            {
                "path": str(text.path),
                "delimiter": delimiter,
                "skip": header_index + 1,
                "names": [f"c{index}" for index in range(width)],
                "first_line": header_index + 2,
                "site_column": column_letter(columns["site"]),
                "period_column": column_letter(columns["period"]),
                "value_column": column_letter(columns["value"]),
            },
            identifiers={key: f"c{index}" for key, index in columns.items()},
        )
    except duckdb.Error:
        return False
    ((records,),) = execute_sql(con, "count_raw_cells").fetchall()
    if records != text.lines - header_index - 1:
        execute_sql(con, "drop_raw_cells")
        return False
    return True


def to_utf8(path: Path, encoding: str, work_dir: Path) -> Utf8Text:
    """Check a text file's bytes block by block and give it as UTF-8 (a copy in `work_dir`
    when it is not UTF-8 already). A byte that does not fit names its line."""
    if encoding != "auto":
        return _convert(path, encoding, work_dir, declared=True)
    try:
        return _convert(path, "utf-8", work_dir, declared=False)
    except FileProblem:
        return _convert(path, "cp1252", work_dir, declared=False)


def _convert(path: Path, encoding: str, work_dir: Path, declared: bool) -> Utf8Text:
    decoder = codecs.getincrementaldecoder("utf-8-sig" if encoding == "utf-8" else encoding)()
    utf8_check = codecs.getincrementaldecoder("utf-8")()
    must_copy = encoding != "utf-8"
    target = Path(tempfile.mkstemp(suffix=".csv", dir=work_dir)[1]) if must_copy else path
    head, lines, blank, previous = "", 0, False, b""
    # A file declared cp1252 (or latin-1) whose bytes are UTF-8 would be stored mis-decoded.
    maybe_utf8, first_non_ascii = declared and encoding != "utf-8", 0
    with path.open("rb") as stream, target.open("wb") if must_copy else io.BytesIO() as out:
        while block := stream.read(BLOCK_BYTES):
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as error:
                line = lines + block.count(b"\n", 0, error.start) + 1
                raise FileProblem(
                    "encoding_mismatch",
                    f"line {line} is not valid {encoding} (byte 0x{block[error.start]:02x})",
                    row=line,
                ) from None
            if maybe_utf8 and not block.isascii():
                if not first_non_ascii:
                    position = re.search(rb"[\x80-\xff]", block).start()
                    first_non_ascii = lines + block.count(b"\n", 0, position) + 1
                try:
                    utf8_check.decode(block)
                except UnicodeDecodeError:
                    maybe_utf8 = False
            if len(head) < 65536:
                head += text[: 65536 - len(head)]
            blank = blank or re.search(rb"\n\r?\n", previous + block) is not None
            lines += block.count(b"\n")
            previous = block[-2:]
            if must_copy:
                out.write(text.encode("utf-8"))
        if must_copy:
            out.write(decoder.decode(b"", final=True).encode("utf-8"))
    if maybe_utf8 and first_non_ascii:
        raise FileProblem(
            "encoding_mismatch",
            f"the file is UTF-8, not {encoding} as configured (line {first_non_ascii}): set "
            "`encoding: utf-8` or `auto` for this source",
            row=first_non_ascii,
        )
    if previous and not previous.endswith(b"\n"):
        lines += 1
    return Utf8Text(target, head, lines, blank)
