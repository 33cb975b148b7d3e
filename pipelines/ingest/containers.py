"""Limits on spreadsheets that are zip containers (xlsx, xlsm, ods), checked before a parser
opens them, so that no workbook can take a run's memory with it.

A zip's directory declares each part's size, and can lie: every part is inflated here, in
blocks, and measured, stopping as soon as a limit is passed (about 0.13 s for the benchmark's
100,000-row workbook, 51 MB inflated, 3-4 % of its load). On the way, the cells of each sheet
are counted and the rows and columns they span are found, because python-calamine allocates a
sheet's whole rectangle at once: two cells, at A1 and XFD1048576, make a 1.5 KB file that asks
for 550 GB.
"""

import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict, Field

MB = 1024 * 1024
SETTING = "in settings.yaml"
RATIO_FLOOR_BYTES = MB
"""A part (or a whole workbook) smaller than this inflated is never too compressed: small XML
parts full of repeated tags legitimately shrink more than 100 times."""
BLOCK_BYTES = 1 << 20


class ArchiveLimits(BaseModel):
    """The `limits:` section of the workspace's `settings.yaml`, for xlsx, xlsm and ods files.

    The defaults keep the parse of any workbook that passes under about 1.1 GB of memory
    (measured: README, "Hostile and broken inputs").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_uncompressed_mb: int = Field(
        200, gt=0, description="all parts inflated, and the text of the cells, in MB"
    )
    max_compression_ratio: int = Field(
        100, gt=0, description="inflated to compressed size, per part and overall"
    )
    max_entries: int = Field(10_000, gt=0, description="parts (files) in the zip container")
    max_cells: int = Field(
        2_000_000, gt=0, description="cells of all sheets, counting the rectangle each spans"
    )


@dataclass
class _SheetShape:
    """What the XML of one part says about the rectangle of cells it fills."""

    rows: int = 0
    columns: int = 0
    table_cells: int = 0  # ods: cells of content.xml

    def cells(self) -> int:
        """Cells of the rectangle from A1 to the last row and widest column seen."""
        return max(self.rows * self.columns, self.table_cells)


_DIMENSION = re.compile(rb'<dimension ref="(?:[A-Z]{1,3}[0-9]{1,7}:)?([A-Z]{1,3})([0-9]{1,7})"')
_ROW_TAG = re.compile(rb'<row\b[^>]*?\sr="([0-9]{1,7})"')
_CELL_COLUMN = re.compile(rb' r="([A-Z]{1,3})[0-9]')
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


def archive_problem(path: Path, limits: ArchiveLimits) -> str | None:
    """Why the zip container at `path` is over a limit, or None when it is within them all.

    A zip that cannot be read is None too: the parser then says the file is corrupt.
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


def _too_many_entries(entries: int, limits: ArchiveLimits) -> str:
    return (
        f"the workbook is a zip of {entries:,} parts, over the limit of {limits.max_entries:,} "
        f"(limits.max_entries {SETTING})"
    )


def _measure(raw: BinaryIO, infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> str | None:
    """Inflate every part in blocks and stop at the first limit passed."""
    total_in = total_out = cells = 0
    shared = _SharedStrings()
    sheet_parts: list[zipfile.ZipInfo] = []
    for info in infos:
        shape = _SheetShape()
        inflated = 0
        problem = None
        for block in _inflate(raw, info):
            inflated += len(block)
            _count(block, shape)
            if info.filename == SHARED_STRINGS:
                shared.add(block)
            problem = _part_problem(info, inflated, total_out + inflated, limits)
            if problem or cells + shape.cells() > limits.max_cells:
                break
        if problem:
            return problem
        total_in += info.compress_size
        total_out += inflated
        cells += shape.cells()
        if shape.cells():
            sheet_parts.append(info)
        if cells > limits.max_cells:
            return (
                f"the workbook's sheets span more than {limits.max_cells:,} cells (part "
                f"{info.filename!r} spans {shape.rows:,} rows and {shape.columns:,} columns), "
                f"over the limit of {limits.max_cells:,} (limits.max_cells {SETTING})"
            )
    if total_out > RATIO_FLOOR_BYTES and total_out > limits.max_compression_ratio * total_in:
        return (
            f"the workbook inflates from {_mb(total_in)} to {_mb(total_out)} (over "
            f"{limits.max_compression_ratio} times), over the limit of "
            f"{limits.max_compression_ratio} to 1 (limits.max_compression_ratio {SETTING})"
        )
    shared.finish()
    return _shared_text_problem(raw, sheet_parts, cells, shared.lengths, limits)


def _shared_text_problem(
    raw: BinaryIO,
    parts: list[zipfile.ZipInfo],
    cells: int,
    lengths: list[int],
    limits: ArchiveLimits,
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
    info: zipfile.ZipInfo, inflated: int, workbook_inflated: int, limits: ArchiveLimits
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
    """Widen `shape` to what `block` shows: a sheet's declared dimension, and the number and
    width of the last whole row of the block (rows follow each other in a sheet's XML).

    Cheap by design (a search from the end of each block, no copy): the exact rectangle of a
    sheet is checked again after python-calamine reads it, before any Python object is made.
    """
    if shape.rows == 0 and (dimension := _DIMENSION.search(block, 0, 4096)):
        shape.rows = int(dimension.group(2))
        shape.columns = _column_number(dimension.group(1))
    last = block.rfind(b"<row")
    row = _ROW_TAG.match(block, last) if last >= 0 else None
    if row is None and last > 0:  # the last tag is cut in two: take the row before it
        last = block.rfind(b"<row", 0, last)
        row = _ROW_TAG.match(block, last) if last >= 0 else None
    if row is not None:
        shape.rows = max(shape.rows, int(row.group(1)))
        closing = block.find(b"</row>", last)
        letters = _CELL_COLUMN.findall(block, last, closing if closing >= 0 else len(block))
        if letters:
            shape.columns = max(shape.columns, *map(_column_number, letters))
    if b"<table:table-cell" in block:
        shape.table_cells += block.count(b"<table:table-cell")


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _inflate(raw: BinaryIO, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The inflated bytes of one part, in blocks, read straight from the file: the stored CRC
    is not checked (the parser does), which makes this a third faster than `ZipFile.open`."""
    raw.seek(info.header_offset)
    header = raw.read(zipfile.sizeFileHeader)
    fields = struct.unpack(zipfile.structFileHeader, header)
    if fields[0] != zipfile.stringFileHeader:
        raise zipfile.BadZipFile(f"bad local header for {info.filename!r}")
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
        # Not something Excel or LibreOffice writes: the parser will refuse it.
        raise zipfile.BadZipFile(f"{info.filename!r} uses compression {info.compress_type}")
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
