"""What a client's run depends on, as one fingerprint: its `client.yaml`, its inbox listing
(names, sizes, modification times) and Cap's own code. A run whose inputs equal those of the
last completed run would change nothing, so the nightly run and `cap run` skip that client."""

import datetime as dt
import hashlib
import logging
from functools import cache
from pathlib import Path

import duckdb

from pipelines.ingest.archive import inbox_fingerprint
from pipelines.sql import execute_sql
from pipelines.storage import warehouse_problem
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

logger = logging.getLogger(__name__)

_CODE_ROOT = Path(__file__).resolve().parent.parent
_CODE_FOLDERS = ("pipelines", "sql", "reports")


@cache
def code_fingerprint() -> str:
    """SHA-256 of Cap's code, SQL and report templates: a new version reruns every client."""
    digest = hashlib.sha256()
    for folder in _CODE_FOLDERS:
        for path in sorted((_CODE_ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in {".py", ".sql", ".j2", ".yaml"}:
                digest.update(str(path.relative_to(_CODE_ROOT)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def inputs_fingerprint(workspace: Workspace, slug: str) -> str:
    """The fingerprint of everything the client's run reads before it writes."""
    digest = hashlib.sha256()
    digest.update(code_fingerprint().encode())
    digest.update(workspace.config_path(slug).read_bytes())
    digest.update(inbox_fingerprint(workspace, slug).encode())
    return digest.hexdigest()


def record_started(
    con: duckdb.DuckDBPyConnection, run_id: str, fingerprint: str, now: dt.datetime
) -> None:
    """Note that run `run_id` started with inputs `fingerprint`."""
    execute_sql(
        con,
        "insert_client_run",
        {"run_id": run_id, "fingerprint": fingerprint, "started_at": _utc(now)},
    )


def record_completed(con: duckdb.DuckDBPyConnection, run_id: str, now: dt.datetime) -> None:
    """Note that run `run_id` reached its last stage: its inputs are processed."""
    execute_sql(con, "update_client_run_completed", {"run_id": run_id, "completed_at": _utc(now)})


def unchanged(
    workspace: Workspace,
    slug: str,
    con: duckdb.DuckDBPyConnection | None = None,
    lock_wait: float | None = None,
) -> bool:
    """Whether the client's inputs are those of its last completed run (nothing to do); `con`
    is a connection to its warehouse when the caller has one open. A damaged warehouse is never
    unchanged: the run must say what is wrong with it. Nor is one another process writes for
    longer than `lock_wait` seconds (default: the warehouse's lock wait)."""
    if con is None:
        path = workspace.warehouse(slug)
        if not path.exists() or warehouse_problem(workspace, slug, lock_wait) is not None:
            return False
        try:
            with open_warehouse(path, read_only=True, lock_wait=lock_wait) as opened:
                return unchanged(workspace, slug, opened)
        except Exception as exc:  # this client runs, and its run says what is wrong
            if isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower():
                logger.info("%s: its warehouse is being written: %s", slug, exc)
            else:
                logger.exception("%s: whether its inputs changed could not be read", slug)
            return False
    try:
        rows = execute_sql(con, "select_last_completed_inputs").fetchall()
    except duckdb.CatalogException:  # a warehouse from before runs were recorded
        return False
    ((waiting,),) = execute_sql(con, "count_received_files").fetchall()
    if waiting:  # retried with `cap retry`, or left by an interrupted run
        return False
    return bool(rows) and rows[0][0] == inputs_fingerprint(workspace, slug)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)
