"""Loading archived files into the warehouse: one transaction per file, all or nothing.

A file with any rejection is rejected whole: its rejections are stored, it is copied to the
quarantine with a machine-readable reason beside it, and none of its values are stored.
"""

import datetime as dt
import json
import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.config.model import ClientConfig, LongSource
from pipelines.config.settings import WorkbookLimits, load_settings
from pipelines.ingest.archive import archive_path
from pipelines.ingest.cells import RawCells
from pipelines.ingest.formulas import formula_problems
from pipelines.ingest.layouts import locate_cells
from pipelines.ingest.long_csv import locate_long_csv
from pipelines.ingest.normalize import normalize_cells
from pipelines.ingest.readers import (
    TEXT_FORMATS,
    FileProblem,
    Sheet,
    check_text_content,
    file_format,
    read_sheets,
)
from pipelines.ingest.results import ParsedFile
from pipelines.ingest.retry import config_sha256, requeue_after_config_change
from pipelines.ingest.text import normalize
from pipelines.sql import execute_sql
from pipelines.warehouse import damage_cause, transaction
from pipelines.workspace import Workspace

logger = logging.getLogger(__name__)

MAX_REASON_LINES = 5


@dataclass
class LoadSummary:
    """What one load pass did."""

    loaded: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    values_stored: int = 0
    messages: dict[str, str] = field(default_factory=dict)
    retried: list[str] = field(default_factory=list)
    """Files rejected under another `client.yaml`, read again in this pass."""


class WarehouseWriteError(OSError):
    """Storing a file failed (a full disk, a write error): nothing of it was stored."""


def load_received(
    workspace: Workspace,
    slug: str,
    config: ClientConfig,
    con: duckdb.DuckDBPyConnection,
    today: dt.date,
) -> LoadSummary:
    """Parse and store every file recorded as `received` (new, retried, or left by an
    interrupted run), after sending back to `received` the files a configuration rule rejected
    under another `client.yaml`.

    A failure to write (a full disk) rolls the file's transaction back and raises
    `WarehouseWriteError`: the warehouse holds what it held before, the file stays `received`
    and the next run loads it.
    """
    summary = LoadSummary()
    config_hash = config_sha256(config)
    summary.retried = requeue_after_config_change(con, config, config_hash)
    if summary.retried:
        logger.info("%s: client.yaml changed, read again: %s", slug, ", ".join(summary.retried))
    limits = load_settings(workspace.home).limits
    pending = execute_sql(con, "select_received_files").fetchall()
    for digest, name, source_name, delivered_at in pending:
        path = archive_path(workspace, slug, digest, name)
        parsed = parse_file(path, name, source_name, config, today, con, limits)
        try:
            with _storing(slug, name):
                if parsed.rejections:
                    _store_rejection(workspace, slug, con, digest, name, parsed, config_hash)
                else:
                    stored = _store_values(con, slug, digest, delivered_at, parsed)
        finally:
            parsed.release()
        if parsed.rejections:
            summary.rejected.append(name)
            summary.messages[name] = _reason(parsed)
        else:
            _release_from_quarantine(workspace, slug, digest, name)
            summary.loaded.append(name)
            summary.values_stored += stored
            if parsed.warnings:
                summary.messages[name] = "; ".join(parsed.warnings)
    return summary


@contextmanager
def _storing(slug: str, name: str) -> Iterator[None]:
    """A write failure while storing the file becomes `WarehouseWriteError`; only the store
    is wrapped, so that nothing after its commit is reported as unwritten."""
    try:
        yield
    except (duckdb.IOException, OSError) as exc:
        if damage_cause(exc) is not None:
            raise  # the file is damaged, not full: `open_warehouse` says so
        raise WarehouseWriteError(
            f"{slug}: {name!r} could not be stored ({_first_line(exc)}): nothing of it was "
            "written, the warehouse is as it was; free disk space, and the next run "
            "loads it"
        ) from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def parse_file(
    path: Path,
    name: str,
    source_name: str | None,
    config: ClientConfig,
    today: dt.date,
    con: duckdb.DuckDBPyConnection | None = None,
    limits: WorkbookLimits | None = None,
) -> ParsedFile:
    """Read one archived file with the source it matched; problems become rejections.

    The values land in the temp table `new_observations` of `con` (an in-memory DuckDB when
    none is given). A workbook that is a zip container is checked against `limits` (the
    workspace's `settings.yaml`; the defaults when None) before it is parsed.
    """
    source = next((s for s in config.sources if s.name == source_name), None)
    parsed = ParsedFile()
    if source is None:
        patterns = ", ".join(p for s in config.sources for p in s.pattern)
        parsed.reject(
            None,
            None,
            None,
            name,
            "no_source",
            f"no source in client.yaml matches the file name {name!r} (patterns: {patterns})",
        )
        return parsed
    if not path.exists():  # lost from the archive (a rebuild replays every reception)
        parsed.reject(None, None, None, None, "archive_missing", "the archived copy is missing")
        return parsed
    try:
        fmt = file_format(Path(name), source.format)
        _check_size(path, source.max_file_mb)
        if fmt in TEXT_FORMATS:
            check_text_content(path, fmt)
        if fmt in TEXT_FORMATS and isinstance(source, LongSource):
            con = con if con is not None else duckdb.connect()
            with tempfile.TemporaryDirectory() as work_dir:
                read_by_duckdb = locate_long_csv(con, path, source, Path(work_dir), parsed.warnings)
            if read_by_duckdb:
                parsed.con = con
                normalize_cells(con, config, source, today, parsed)
                parsed.rejections.sort(key=lambda r: (r.row or 0, r.column or ""))
                return parsed
        cells = RawCells()
        order: dict[str | None, int] = {}
        sheets = read_sheets(path, fmt, source.encoding, source.delimiter, limits, parsed.warnings)
        located = locate_cells(_numbered(sheets, order), source, cells, parsed.warnings)
    except FileProblem as problem:
        parsed.reject(None, problem.row, None, None, problem.rule, str(problem))
        return parsed
    if fmt in ("xlsx", "xlsm") and (cells.blank_cells or not located):
        _reject_uncached_formulas(path, source.skip_sheets, parsed)
    if not located:
        parsed.reject(
            None,
            None,
            None,
            None,
            "no_data",
            "no sheet has a recognisable header: "
            + "; ".join(parsed.warnings or ["the file holds no table"]),
        )
        return parsed
    parsed.con = con if con is not None else duckdb.connect()
    execute_sql(parsed.con, "drop_raw_cells")  # cells a caller did not release
    parsed.register("raw_cells", cells.frame())
    normalize_cells(parsed.con, config, source, today, parsed)
    parsed.rejections.sort(key=lambda r: (order.get(r.sheet, -1), r.row or 0, r.column or ""))
    return parsed


def _numbered(sheets: Iterable[Sheet], order: dict[str | None, int]) -> Iterator[Sheet]:
    """The sheets, noting each one's place in the workbook in `order` as it goes by."""
    for sheet in sheets:
        order.setdefault(sheet.name, len(order))
        yield sheet


def _check_size(path: Path, limit_mb: int) -> None:
    size = path.stat().st_size
    if size > limit_mb * 1024 * 1024:
        raise FileProblem(
            "file_too_large",
            f"the file is {size / 1024 / 1024:.1f} MB, over this source's limit of {limit_mb} MB "
            "(max_file_mb in client.yaml)",
        )


def _reject_uncached_formulas(path: Path, skipped: list[str], parsed: ParsedFile) -> None:
    """A formula saved without its value would read as a blank: the file is rejected instead."""
    ignored = {normalize(name) for name in skipped}
    for problem in formula_problems(path):
        if normalize(problem.sheet) not in ignored:
            parsed.reject(
                problem.sheet,
                problem.row,
                problem.column,
                problem.formula,
                "uncached_formula",
                problem.message,
            )


def _store_values(
    con: duckdb.DuckDBPyConnection,
    slug: str,
    digest: str,
    delivered_at: dt.datetime,
    parsed: ParsedFile,
) -> int:
    message = "; ".join(parsed.warnings) or None
    with transaction(con):
        execute_sql(con, "delete_file_observations", {"sha256": digest})
        execute_sql(con, "delete_file_rejections", {"sha256": digest})  # a file read again
        ((count,),) = execute_sql(
            con,
            "insert_kpi_observations",
            {"client": slug, "sha256": digest, "delivered_at": delivered_at},
        ).fetchall()
        execute_sql(
            con,
            "mark_file_loaded",
            {"sha256": digest, "message": message, "values_stored": count},
        )
    logger.info("%s: stored %d values from %s", slug, count, digest[:12])
    return count


def _store_rejection(
    workspace: Workspace,
    slug: str,
    con: duckdb.DuckDBPyConnection,
    digest: str,
    name: str,
    parsed: ParsedFile,
    config_hash: str,
) -> None:
    quarantine = workspace.quarantine(slug)
    quarantine.mkdir(parents=True, exist_ok=True)
    archived = archive_path(workspace, slug, digest, name)
    kept = quarantine / archived.name
    if not kept.exists() and archived.exists():  # a lost archived copy has nothing to keep
        shutil.copy2(archived, kept)
    reason = {
        "file": name,
        "sha256": digest,
        "warnings": parsed.warnings,
        "rejections": [rejection._asdict() for rejection in parsed.rejections],
    }
    (quarantine / f"{digest}.reason.json").write_text(
        json.dumps(reason, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    frame = parsed.rejections_frame()
    frame.insert(0, "file_sha256", digest)
    with transaction(con):
        execute_sql(con, "delete_file_rejections", {"sha256": digest})
        con.register("new_rejections", frame)
        execute_sql(con, "insert_rejections")
        con.unregister("new_rejections")
        execute_sql(con, "mark_file_rejected", {"sha256": digest, "message": _reason(parsed)})
        execute_sql(
            con, "insert_rejection_config", {"sha256": digest, "config_sha256": config_hash}
        )
    logger.warning("%s: rejected %s: %s", slug, name, _reason(parsed))


def _release_from_quarantine(workspace: Workspace, slug: str, digest: str, name: str) -> None:
    """A file loaded after a rejection (read again) leaves the quarantine, copy and reason."""
    folder = workspace.quarantine(slug)
    for path in (
        folder / archive_path(workspace, slug, digest, name).name,
        folder / f"{digest}.reason.json",
    ):
        if not path.exists():
            continue
        try:
            path.unlink()
        except OSError as exc:  # the values are stored: only a leftover copy remains
            logger.warning("%s: %s stays in the quarantine folder: %s", slug, path.name, exc)
        else:
            logger.info("%s: %s left the quarantine", slug, path.name)


def _reason(parsed: ParsedFile) -> str:
    """A readable message: the first rejections with their place, and how many more."""
    lines = [
        f"{rejection.location()}: {rejection.message}"
        for rejection in parsed.rejections[:MAX_REASON_LINES]
    ]
    more = len(parsed.rejections) - MAX_REASON_LINES
    if more > 0:
        lines.append(f"and {more} more problem{'s' if more > 1 else ''}")
    return "; ".join(lines)
