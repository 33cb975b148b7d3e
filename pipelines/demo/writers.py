"""Deterministic file writing: the same content always gives the same bytes on disk.

openpyxl stamps the save time into `docProps/core.xml` and every zip entry; `xlsx_bytes`
replaces both with a given "last saved" time. Files are written atomically (a hidden `.part`
file renamed into place) and only when their bytes change, so an inbox watcher never sees a
half-written file and an unchanged file keeps its modification time.
"""

import datetime as dt
import io
import logging
import os
import re
import zipfile
from pathlib import Path

from openpyxl import Workbook

logger = logging.getLogger(__name__)

_CORE_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
_CORE_CREATED = re.compile(rb"(<dcterms:created[^>]*>)[^<]*(</dcterms:created>)")


def xlsx_bytes(
    workbook: Workbook, *, created: dt.datetime, saved: dt.datetime, author: str
) -> bytes:
    """The workbook as xlsx bytes that depend only on its content and the given times."""
    workbook.properties.creator = author
    workbook.properties.lastModifiedBy = author
    workbook.properties.created = created
    workbook.properties.modified = saved
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _normalise_zip(buffer.getvalue(), created=created, saved=saved)


def _normalise_zip(data: bytes, *, created: dt.datetime, saved: dt.datetime) -> bytes:
    """Rewrite a zip with fixed entry times and attributes, and fixed document dates."""
    stamp = {"created": _w3cdtf(created), "modified": _w3cdtf(saved)}
    output = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            payload = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                payload = _CORE_CREATED.sub(rb"\g<1>" + stamp["created"] + rb"\g<2>", payload)
                payload = _CORE_MODIFIED.sub(rb"\g<1>" + stamp["modified"] + rb"\g<2>", payload)
            entry = zipfile.ZipInfo(info.filename, date_time=saved.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 0
            entry.external_attr = 0
            target.writestr(entry, payload, compresslevel=6)
    return output.getvalue()


def _w3cdtf(moment: dt.datetime) -> bytes:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ").encode("ascii")


def csv_bytes(rows: list[list[str]], *, delimiter: str, encoding: str) -> bytes:
    """Rows joined with `delimiter` and CRLF line ends, encoded strictly (no field quoting)."""
    for row in rows:
        for field in row:
            if delimiter in field or '"' in field or "\n" in field:
                raise ValueError(f"field needs quoting: {field!r}")
    text = "".join(delimiter.join(row) + "\r\n" for row in rows)
    return text.encode(encoding)


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` atomically unless it already holds exactly these bytes."""
    if path.is_file() and path.read_bytes() == data:
        logger.debug("unchanged: %s", path)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(data)
    os.replace(partial, path)
    logger.debug("wrote %s (%d bytes)", path, len(data))
    return True
