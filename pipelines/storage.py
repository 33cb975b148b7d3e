"""Whether a client's warehouse can be trusted before a run reads it: the file opens, every
block of every table reads back with its checksum, and it still holds every reception the
archive's manifest lists (a file cut short, overwritten or replaced by an older or empty copy
loses some). A problem is one line that names the file, the cause and `cap rebuild`."""

import logging

import duckdb

from pipelines.ingest.manifest import lost_receptions, read_manifest
from pipelines.sql import execute_sql
from pipelines.warehouse import WarehouseUnreadable, damage, open_warehouse, unreadable_message
from pipelines.workspace import Workspace

logger = logging.getLogger(__name__)


def warehouse_problem(workspace: Workspace, slug: str) -> str | None:
    """Why the client's warehouse cannot be used (one line naming `cap rebuild`), or None when
    it is sound, or when it does not exist and the archive lists nothing (a new client)."""
    path = workspace.warehouse(slug)
    expected = read_manifest(workspace, slug)
    if not path.exists():
        if not expected:
            return None
        return unreadable_message(
            path, f"the file is missing; the archive's manifest lists {len(expected)} files"
        )
    try:
        with open_warehouse(path, read_only=True) as con:
            tables = [name for (name,) in execute_sql(con, "select_warehouse_tables").fetchall()]
            for table in tables:
                execute_sql(con, "select_table_checksum", identifiers={"table": table}).fetchall()
            rows = execute_sql(con, "select_file_keys").fetchall() if "files" in tables else []
    except WarehouseUnreadable as exc:
        return str(exc)
    except duckdb.Error as exc:
        if (cause := damage(exc)) is not None:
            return unreadable_message(path, cause)
        # Not damage: a lock held by a run (which waits for it itself), or a warehouse from
        # before a column existed (the run migrates it).
        logger.info("%s: warehouse not checked: %s", slug, exc)
        return None
    held = {(sha, name): received_at for sha, name, received_at in rows}
    if (cause := lost_receptions(expected, held)) is not None:
        logger.warning("%s: %s", slug, cause)
        return unreadable_message(path, cause)
    return None


def ensure_sound(workspace: Workspace, slug: str) -> None:
    """Raise `WarehouseUnreadable` (an `OSError`) when `warehouse_problem` finds one."""
    if (problem := warehouse_problem(workspace, slug)) is not None:
        raise WarehouseUnreadable(problem)
