"""Limits on spreadsheets that are zip containers (xlsx, xlsm, ods), checked before a parser
opens them, so that no workbook can take a run's memory with it.

A zip's directory declares each part's size, and can lie: every part is inflated here, in
blocks, and measured, stopping as soon as a limit is passed; a part that cannot be measured
(bzip2, lzma, a corrupt stream) is refused, since the parser would inflate it with no limit. On
the way, the cells of each sheet are counted and the rows and columns they span are bounded,
because python-calamine allocates a sheet's whole rectangle at once: two cells, at A1 and
XFD1048576, make a 1.5 KB file that asks for 550 GB. The cost (README, "Hostile and broken
inputs") is about 30 % of reading the benchmark's 100,000-row workbook.
"""

import functools
import re
import struct
import xml.parsers.expat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pipelines.config.settings import WorkbookLimits

MB = 1024 * 1024
SETTING = "in settings.yaml"
RATIO_FLOOR_BYTES = MB
"""A part (or a whole workbook) smaller than this inflated is never too compressed: small XML
parts full of repeated tags legitimately shrink more than 100 times."""
BLOCK_BYTES = 1 << 20


@dataclass
class _SheetShape:
    """What the XML of one part says about the rectangle of cells it fills."""

    rows: int = 0
    columns: int = 0
    table_cells: int = 0  # ods: cells of content.xml (see `_OdsCells`)
    tail: bytes = b""  # the end of the previous block, where a reference may have been cut
    in_cells: bool = False  # `sheetData` seen: the references that follow are cells and rows
    loose_rows: int = 0  # rows without a reference: each one a row further than the last
    loose_cells: int = 0  # the most cells without a reference in one row
    loose_run: int = 0  # cells without a reference so far in the current row

    def cells(self) -> int:
        """Cells of the rectangle from A1 to the last row and widest column seen, pushed
        further by the rows without a reference and by the most cells without one in a row
        (python-calamine places each one after the previous)."""
        rectangle = (self.rows + self.loose_rows) * (self.columns + self.loose_cells)
        return max(rectangle, self.table_cells)


_DIMENSION = re.compile(rb'<dimension ref="(?:[A-Z]{1,3}[0-9]{1,7}:)?([A-Z]{1,3})([0-9]{1,7})"')
# Any `r` attribute (of a row: digits; of a cell: letters and digits), however it is written.
# What precedes the `r` is not looked at: `header="0.3"` reads as row 0, and a reference
# counted once too often only makes the bound larger.
_REFERENCE_START = rb"""r\s*+=\s*+["']"""
_REFERENCE = re.compile(_REFERENCE_START + rb"([A-Za-z]*)([0-9]*)")
# A row or cell whose first attribute is not a plain `r="..."` (or that has none).
_UNPLAIN_TAG = re.compile(rb'<c(?:/?>|\s(?!r="))|<row(?:/?>|\s(?!r="))')
_LOOSE_TAG = re.compile(  # a row without `r`, any row, a cell without `r`
    rb"<(?:[A-Za-z_][\w.-]*:)?(?:(row)(?=[\s/>])(?![^>]*\sr\s*=)|(row)(?=[\s/>])"
    rb"|(c)(?=[\s/>])(?![^>]*\sr\s*=))"
)
_ROW_TAG = re.compile(rb'<row\b[^>]*?\sr="([0-9]{1,7})"')
_CELL_COLUMN = re.compile(rb' r="([A-Z]{1,3})[0-9]')
TAIL_BYTES = 64
_STRING_CELL = re.compile(rb't="s"[^>]*><v>([0-9]{1,9})</v>')
SHARED_STRINGS = "xl/sharedStrings.xml"  # where python-calamine reads them, whatever the links


@dataclass
class _SharedStrings:
    """The XML length of each shared string (an upper bound of its text), in order."""

    lengths: list[int] = field(default_factory=list)
    carry: int = -1  # length so far of a string cut by the end of a block; -1 before the first

    def add(self, block: bytes) -> None:
        """Measure the strings of the next block of `sharedStrings.xml`."""
        pieces = block.split(b"<si>")
        if self.carry >= 0:
            pieces[0] = b""
            self.carry += len(block) if len(pieces) == 1 else block.find(b"<si>")
        if len(pieces) == 1:
            return
        if self.carry >= 0:
            self.lengths.append(self.carry)
        self.lengths.extend(map(len, pieces[1:-1]))
        self.carry = len(pieces[-1])

    def finish(self) -> None:
        """Count the last string."""
        if self.carry >= 0:
            self.lengths.append(self.carry)
            self.carry = -1


def workbook_limit_problem(path: Path, limits: WorkbookLimits) -> str | None:
    """Why the zip container at `path` is over a limit, or None when it is within them all.

    A file that is not a zip at all is None too: the parser then says the file is corrupt.
    A part that cannot be measured (compressed with bzip2 or lzma, corrupt, truncated) is a
    problem: python-calamine would inflate it with no limit.
    """
    entries = _declared_entries(path)
    if entries is not None and entries > limits.max_entries:
        return _too_many_entries(entries, limits)
    try:
        with zipfile.ZipFile(path) as archive, path.open("rb") as raw:
            infos = archive.infolist()
            if len(infos) > limits.max_entries:
                return _too_many_entries(len(infos), limits)
            return _measure(raw, infos, limits)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, struct.error):
        return None


def _too_many_entries(entries: int, limits: WorkbookLimits) -> str:
    return (
        f"the workbook is a zip of {entries:,} parts, over the limit of {limits.max_entries:,} "
        f"(limits.max_entries {SETTING})"
    )


def _measure(raw: BinaryIO, infos: list[zipfile.ZipInfo], limits: WorkbookLimits) -> str | None:
    """Inflate every part in blocks and stop at the first limit passed, or at the first part
    that cannot be measured (the parser would inflate it with no limit)."""
    total_in = total_out = cells = 0
    shared = _SharedStrings()
    sheet_parts: list[zipfile.ZipInfo] = []
    for info in infos:
        shape = _SheetShape()
        try:
            inflated, problem = _measure_part(raw, info, shape, shared, total_out, cells, limits)
        except _Unmeasurable as error:
            return (
                f"part {info.filename!r} cannot be checked: {error} (save it again from Excel "
                "or LibreOffice)"
            )
        if problem:
            return problem
        total_in += info.compress_size
        total_out += inflated
        cells += shape.cells()
        if shape.cells():
            sheet_parts.append(info)
        if cells > limits.max_cells:
            spans = (
                f"holds more than {shape.table_cells:,} cells, repeats included"
                if shape.table_cells
                else f"spans {shape.rows + shape.loose_rows:,} rows and "
                f"{shape.columns + shape.loose_cells:,} columns"
            )
            return (
                f"the workbook's sheets span more than {limits.max_cells:,} cells (part "
                f"{info.filename!r} {spans}), over the limit of {limits.max_cells:,} "
                f"(limits.max_cells {SETTING})"
            )
    if total_out > RATIO_FLOOR_BYTES and total_out > limits.max_compression_ratio * total_in:
        return (
            f"the workbook inflates from {_mb(total_in)} to {_mb(total_out)} (over "
            f"{limits.max_compression_ratio} times), over the limit of "
            f"{limits.max_compression_ratio} to 1 (limits.max_compression_ratio {SETTING})"
        )
    shared.finish()
    return _shared_text_problem(raw, sheet_parts, cells, shared.lengths, limits)


class _Unmeasurable(Exception):
    """A part whose inflated bytes cannot be read here: its reason."""


def _measure_part(
    raw: BinaryIO,
    info: zipfile.ZipInfo,
    shape: _SheetShape,
    shared: _SharedStrings,
    total_out: int,
    cells: int,
    limits: WorkbookLimits,
) -> tuple[int, str | None]:
    """Inflate one part, counting its cells into `shape`: its inflated size so far and the
    first limit it passes, or None; raise `_Unmeasurable` for a part that cannot be read."""
    inflated = 0
    ods = _OdsCells(shape, limits.max_cells - cells) if info.filename == ODS_CONTENT else None
    try:
        for block in _inflate(raw, info):
            inflated += len(block)
            if ods is not None:
                ods.feed(block)
            else:
                _count(block, shape)
            if info.filename == SHARED_STRINGS:
                shared.add(block)
            problem = _part_problem(info, inflated, total_out + inflated, limits)
            if problem:
                return inflated, problem
            if cells + shape.cells() > limits.max_cells:
                return inflated, None
        if ods is not None:
            ods.feed(b"", final=True)
    except _CellLimitPassed:
        return inflated, None
    except xml.parsers.expat.ExpatError as error:
        raise _Unmeasurable(f"its XML is malformed ({error})") from None
    except zlib.error as error:
        raise _Unmeasurable(f"its compressed bytes are corrupt ({error})") from None
    except (struct.error, EOFError) as error:
        raise _Unmeasurable(f"it is truncated ({error})") from None
    return inflated, None


def _shared_text_problem(
    raw: BinaryIO,
    parts: list[zipfile.ZipInfo],
    cells: int,
    lengths: list[int],
    limits: WorkbookLimits,
) -> str | None:
    """A shared string is stored once but copied into every cell that shows it when the sheet
    is read: 100,000 cells showing one 10 KB string make a 200 KB file that takes 1.9 GB.
    Their text may not exceed `max_uncompressed_mb`: bounded first by every cell showing the
    longest string, then, only when that bound is over, summed exactly cell by cell (the
    sheets are inflated a second time)."""
    budget = limits.max_uncompressed_mb * MB
    if not lengths or cells * max(lengths) <= budget:
        return None
    text = string_cells = 0
    for info in parts:
        for block in _inflate(raw, info):
            indexes = _STRING_CELL.findall(block)
            string_cells += len(indexes)
            for index in indexes:
                number = int(index)
                text += lengths[number] if number < len(lengths) else 0
            if text > budget:
                return (
                    f"the text of the workbook's cells is more than "
                    f"{limits.max_uncompressed_mb} MB once each shared string is copied into "
                    f"the cells that show it ({string_cells:,} cells up to part "
                    f"{info.filename!r}), "
                    f"over the limit of {limits.max_uncompressed_mb} MB "
                    f"(limits.max_uncompressed_mb {SETTING})"
                )
    return None


def _part_problem(
    info: zipfile.ZipInfo, inflated: int, workbook_inflated: int, limits: WorkbookLimits
) -> str | None:
    """Why a part inflated to `inflated` bytes so far (the workbook to `workbook_inflated`)
    is over a limit, or None."""
    if workbook_inflated > limits.max_uncompressed_mb * MB:
        return (
            f"the workbook inflates to more than {limits.max_uncompressed_mb} MB (part "
            f"{info.filename!r}: {_mb(info.compress_size)} compressed, more than "
            f"{_mb(inflated)} inflated), over the limit of {limits.max_uncompressed_mb} MB "
            f"(limits.max_uncompressed_mb {SETTING})"
        )
    if inflated > max(RATIO_FLOOR_BYTES, limits.max_compression_ratio * info.compress_size):
        return (
            f"part {info.filename!r} inflates from {_mb(info.compress_size)} to more than "
            f"{_mb(inflated)} (over {limits.max_compression_ratio} times), over the limit of "
            f"{limits.max_compression_ratio} to 1 (limits.max_compression_ratio {SETTING})"
        )
    if inflated > info.file_size:
        return (
            f"part {info.filename!r} declares {info.file_size:,} bytes but inflates to more: "
            "the zip's directory is forged"
        )
    return None


def _count(block: bytes, shape: _SheetShape) -> None:
    """Widen `shape` to what `block` shows: a sheet's declared dimension, and the largest row
    and column of every `r="..."` reference of every row and cell (not only the last row's:
    `XFD1` in row 1 and `A6000` in row 6000 span 98 million cells), so that the rectangle is an
    upper bound of what python-calamine allocates.

    Rows and cells without a `r` are counted apart (`_SheetShape.cells`), as are those
    written with a namespace prefix (`<x:c>`).

    Cheap on an ordinary sheet (rows in order, `r` first in every row and cell): the last row
    of the block widens the shape first, then one search looks for any reference beyond it,
    and another for any row or cell without a plain reference, which find nothing; only a
    block with one is read tag by tag (cost: README, "Hostile and broken inputs").
    """
    if shape.rows == 0 and (dimension := _DIMENSION.search(block, 0, 4096)):
        shape.rows = int(dimension.group(2))
        shape.columns = _column_number(dimension.group(1))
    joint = shape.tail + block[:TAIL_BYTES]
    shape.tail = block[-TAIL_BYTES:]
    if not shape.in_cells:  # other parts (a theme's `dir="5400000"`) hold no cells
        if b"sheetData" not in joint and b"sheetData" not in block:
            return
        shape.in_cells = True
    _widen(joint, shape)  # a reference cut by the block's start
    _widen_to_last_row(block, shape)
    if _beyond(shape.rows, shape.columns).search(block):
        _widen(block, shape)
    if _UNPLAIN_TAG.search(block) or b":c" in block or b":row" in block:
        for loose_row, _row, loose_cell in _LOOSE_TAG.findall(block):
            if loose_cell:
                shape.loose_run += 1
                shape.loose_cells = max(shape.loose_cells, shape.loose_run)
            else:
                shape.loose_run = 0
                shape.loose_rows += 1 if loose_row else 0


def _widen(text: bytes, shape: _SheetShape) -> None:
    """Widen `shape` to every reference of `text`."""
    found = _REFERENCE.findall(text)
    letters = {letters for letters, _ in found if letters}
    digits = {digits for _, digits in found if digits}
    if letters:
        shape.columns = max(shape.columns, *map(_column_number, letters))
    if digits:
        shape.rows = max(shape.rows, *map(int, digits))


def _widen_to_last_row(block: bytes, shape: _SheetShape) -> None:
    """Widen `shape` to the last whole row of `block` (rows follow each other in order)."""
    last = block.rfind(b"<row")
    row = _ROW_TAG.match(block, last) if last >= 0 else None
    if row is None and last > 0:  # the last tag is cut in two: take the row before it
        last = block.rfind(b"<row", 0, last)
        row = _ROW_TAG.match(block, last) if last >= 0 else None
    if row is not None:
        closing = block.find(b"</row>", last)
        _widen(block[last : closing if closing >= 0 else len(block)], shape)


@functools.lru_cache(maxsize=64)
def _beyond(rows: int, columns: int) -> re.Pattern[bytes]:
    """A search for a reference past row `rows` or column `columns`."""
    return re.compile(
        _REFERENCE_START
        + rb"(?:[A-Za-z]*+(?:"
        + _greater_number(rows)
        + rb")(?![0-9])|(?:"
        + _greater_letters(columns)
        + rb")[0-9])"
    )


def _greater_number(number: int) -> bytes:
    """A pattern for the numbers greater than `number` (any with more digits included)."""
    text = str(number)
    options = [b"[0-9]{%d,}" % (len(text) + 1)]
    for index, digit in enumerate(text):
        if digit != "9":
            options.append(
                text[:index].encode() + b"[%d-9][0-9]{%d}" % (int(digit) + 1, len(text) - index - 1)
            )
    return b"|".join(options)


def _greater_letters(column: int) -> bytes:
    """A pattern for the column letters past column `column` (either case)."""
    if column == 0:
        return b"[A-Za-z]+"
    letters = _column_letters(column)
    options = [b"[A-Za-z]{%d,}" % (len(letters) + 1)]
    for index, letter in enumerate(letters):
        if letter != "Z":
            upper = chr(ord(letter) + 1)
            prefix = b"".join(b"[%s%s]" % (c.encode(), c.lower().encode()) for c in letters[:index])
            options.append(
                prefix
                + b"[%s-Z%s-z][A-Za-z]{%d}"
                % (upper.encode(), upper.lower().encode(), len(letters) - index - 1)
            )
    return b"|".join(options)


def _column_letters(column: int) -> str:
    """`A` for 1, `Z` for 26, `AA` for 27 ..."""
    letters = ""
    while column > 0:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0 "
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0 "
_CELL_TAGS = frozenset({_TABLE + "table-cell", _TABLE + "covered-table-cell"})
ODS_CONTENT = "content.xml"


class _CellLimitPassed(Exception):
    """Stops the XML parser of an ods as soon as its cells pass the limit."""


class _OdsCells:
    """The cells python-calamine makes of an ods's `content.xml`, counted as its XML streams
    by, repeats included: `table:number-rows-repeated` times `table:number-columns-repeated`.

    Measured (README): python-calamine keeps only cells with content, so an empty cell or row
    repeated to the sheet's end (what LibreOffice writes in every file) costs nothing and is
    not counted; a repeated cell with content costs each of its copies. A sheet counts the
    larger of its copies and of its rectangle, from A1 to the last row and column with content.
    """

    def __init__(self, shape: _SheetShape, max_cells: int) -> None:
        self.shape = shape
        self.max_cells = max_cells
        self.done = 0  # cells of the sheets already closed
        self.row = self.row_repeat = self.column = self.row_end = self.row_copies = 0
        self.last_row = self.columns = self.copies = 0
        self.cell_repeat = self.depth = 0
        self.cell_full = False
        self.parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end

    def feed(self, block: bytes, final: bool = False) -> None:
        """Count the cells of the next block of `content.xml`; raise `_CellLimitPassed` as
        soon as they pass `max_cells`, `xml.parsers.expat.ExpatError` if it is not XML."""
        self.parser.Parse(block, final)

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        if self.depth:  # inside a cell: any element (a paragraph) is content
            self.depth += 1
            self.cell_full = True
        elif name in _CELL_TAGS:
            self.depth = 1
            self.cell_repeat = _repeat(attributes.get(_TABLE + "number-columns-repeated"))
            self.cell_full = (_OFFICE + "value-type") in attributes
        elif name == _TABLE + "table-row":
            self.row_repeat = _repeat(attributes.get(_TABLE + "number-rows-repeated"))
            self.column = self.row_end = self.row_copies = 0
        elif name == _TABLE + "table":
            self.row = self.last_row = self.columns = self.copies = 0

    def _end(self, name: str) -> None:
        if self.depth > 1:
            self.depth -= 1
            return
        if self.depth == 1:
            self.depth = 0
            self.column += self.cell_repeat
            if self.cell_full:
                self.row_end = self.column
                self.row_copies += self.cell_repeat
        elif name == _TABLE + "table-row":
            self.row += self.row_repeat
            if self.row_end:
                self.last_row = self.row
                self.columns = max(self.columns, self.row_end)
                self.copies += self.row_copies * self.row_repeat
            self._check()
        elif name == _TABLE + "table":
            self.done += self._sheet_cells()
            self.row = self.last_row = self.columns = self.copies = 0

    def _sheet_cells(self) -> int:
        return max(self.last_row * self.columns, self.copies)

    def _check(self) -> None:
        self.shape.rows = max(self.shape.rows, self.last_row)
        self.shape.columns = max(self.shape.columns, self.columns)
        self.shape.table_cells = self.done + self._sheet_cells()
        if self.shape.table_cells > self.max_cells:
            raise _CellLimitPassed


def _repeat(value: str | None) -> int:
    """A `number-*-repeated` attribute: at least 1 (a value that is not a number counts 1)."""
    try:
        return max(1, int(value)) if value else 1
    except ValueError:
        return 1


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - 64
    return number


_COMPRESSIONS = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma", 9: "deflate64"}


def _inflate(raw: BinaryIO, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The inflated bytes of one part, in blocks, read straight from the file: the stored CRC
    is not checked (the parser does), which makes this a third faster than `ZipFile.open`."""
    raw.seek(info.header_offset)
    header = raw.read(zipfile.sizeFileHeader)
    fields = struct.unpack(zipfile.structFileHeader, header)
    if fields[0] != zipfile.stringFileHeader:
        raise _Unmeasurable("its local header is corrupt")
    raw.seek(info.header_offset + zipfile.sizeFileHeader + fields[10] + fields[11])
    left = info.compress_size
    if info.compress_type == zipfile.ZIP_STORED:
        while left > 0:
            block = raw.read(min(left, BLOCK_BYTES))
            if not block:
                return
            left -= len(block)
            yield block
        return
    if info.compress_type != zipfile.ZIP_DEFLATED:
        # Not something Excel or LibreOffice writes, and what python-calamine would inflate
        # with no limit (bzip2, lzma...).
        name = _COMPRESSIONS.get(info.compress_type, "unknown")
        raise _Unmeasurable(
            f"compression {info.compress_type} ({name}), where only stored and deflate are read"
        )
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    while left > 0 and not inflater.eof:
        block = raw.read(min(left, BLOCK_BYTES))
        if not block:
            return
        left -= len(block)
        data = inflater.decompress(block, BLOCK_BYTES)
        while True:
            if data:
                yield data
            if not inflater.unconsumed_tail:
                break
            data = inflater.decompress(inflater.unconsumed_tail, BLOCK_BYTES)
    if not inflater.eof:
        raise _Unmeasurable("its compressed bytes are corrupt (the deflate stream is cut short)")


def _declared_entries(path: Path) -> int | None:
    """The number of parts the zip's end record declares, read before `zipfile` builds an
    object per part (a directory of millions of parts would take gigabytes)."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 65557))
        tail = handle.read()
        end = tail.rfind(b"PK\x05\x06")
        if end < 0 or len(tail) < end + 22:
            return None
        entries = int.from_bytes(tail[end + 10 : end + 12], "little")
        if entries != 0xFFFF or end < 20 or tail[end - 20 : end - 16] != b"PK\x06\x07":
            return entries
        offset = int.from_bytes(tail[end - 12 : end - 4], "little")
        handle.seek(offset)
        record = handle.read(56)
        if record[:4] != b"PK\x06\x06" or len(record) < 40:
            return entries
        return int.from_bytes(record[32:40], "little")


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"
