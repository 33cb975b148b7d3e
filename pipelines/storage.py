"""Whether a client's warehouse can be trusted before a run reads it: the file opens, every
block of every table reads back with its checksum, and it still holds every reception the
archive's manifest lists (a file cut short, overwritten or replaced by an older or empty copy
loses some). A problem is one line that names the file, the cause and `cap rebuild`."""

import json
import logging
import os
from pathlib import Path

import duckdb

from pipelines.ingest.manifest import lost_receptions, manifest_path, read_manifest
from pipelines.sql import execute_sql
from pipelines.warehouse import (
    WarehouseUnreadable,
    damage_cause,
    open_warehouse,
    unreadable_message,
)
from pipelines.workspace import Workspace

logger = logging.getLogger(__name__)


def warehouse_problem(
    workspace: Workspace, slug: str, lock_wait: float | None = None
) -> str | None:
    """Why the client's warehouse cannot be used (one line naming `cap rebuild`), or None when
    it is sound, or when it does not exist and the archive lists nothing (a new client). An
    unexpected error while checking is that client's problem (logged with its traceback),
    never its caller's: the night's other clients still run.

    A sound result is remembered in `warehouse/<slug>.checked` with the size and modification
    time of the warehouse, its write-ahead log and the manifest: while none of them changes,
    the deep check (every block of every table) is not made again. A warehouse locked by a run
    for longer than `lock_wait` seconds is not checked (None): the run checks it."""
    try:
        return _problem(workspace, slug, lock_wait)
    except Exception as exc:
        logger.exception("%s: the warehouse could not be checked", slug)
        return f"the warehouse of {slug} could not be checked ({type(exc).__name__}: {exc})"


def _problem(workspace: Workspace, slug: str, lock_wait: float | None) -> str | None:
    path = workspace.warehouse(slug)
    checked = path.with_suffix(CHECKED_SUFFIX)
    if path.exists() and _read_key(checked) == (key := _state(workspace, slug)):
        return None
    expected = read_manifest(workspace, slug)
    if not path.exists():
        if not expected:
            return None
        return unreadable_message(
            path, f"the file is missing; the archive's manifest lists {len(expected)} files"
        )
    try:
        with open_warehouse(path, read_only=True, lock_wait=lock_wait) as con:
            tables = [name for (name,) in execute_sql(con, "select_warehouse_tables").fetchall()]
            for table in tables:
                execute_sql(con, "select_table_checksum", identifiers={"table": table}).fetchall()
            rows = execute_sql(con, "select_file_keys").fetchall() if "files" in tables else []
    except WarehouseUnreadable as exc:
        return str(exc)
    except duckdb.Error as exc:
        if (cause := damage_cause(exc)) is not None:
            return unreadable_message(path, cause)
        # Not damage: a lock held by a run (which waits for it itself), or a warehouse from
        # before a column existed (the run migrates it).
        logger.info("%s: warehouse not checked: %s", slug, exc)
        return None
    held = {(sha, name): received_at for sha, name, received_at in rows}
    if (cause := lost_receptions(expected, held)) is not None:
        logger.warning("%s: %s", slug, cause)
        return unreadable_message(path, cause)
    if key == _state(workspace, slug):  # nothing wrote it while it was checked
        _write_key(checked, key)
    return None


CHECKED_SUFFIX = ".checked"
"""`warehouse/<slug>.checked`: the state of the files when the warehouse was last found sound."""


def _state(workspace: Workspace, slug: str) -> list[list[int] | None]:
    """Size and modification time (ns) of the warehouse, its write-ahead log and the manifest."""
    path = workspace.warehouse(slug)
    files = (path, path.with_name(path.name + ".wal"), manifest_path(workspace, slug))
    state: list[list[int] | None] = []
    for file in files:
        try:
            stat = file.stat()
        except FileNotFoundError:
            state.append(None)
        else:
            state.append([stat.st_size, stat.st_mtime_ns])
    return state


def _read_key(checked: Path) -> object:
    try:
        return json.loads(checked.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_key(checked: Path, key: list[list[int] | None]) -> None:
    try:
        temporary = checked.with_name(checked.name + ".tmp")
        temporary.write_text(json.dumps(key), encoding="utf-8")
        os.replace(temporary, checked)
    except OSError as exc:  # only a cache: the next check is made in full
        logger.info("%s not written: %s", checked, exc)


def ensure_sound(workspace: Workspace, slug: str) -> None:
    """Raise `WarehouseUnreadable` (an `OSError`) when `warehouse_problem` finds one."""
    if (problem := warehouse_problem(workspace, slug)) is not None:
        raise WarehouseUnreadable(problem)
