"""Opening a client's DuckDB warehouse, with its schema in place, and telling a damaged file
(truncated, overwritten, not a DuckDB file) from any other error."""

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipelines.sql import execute_sql

logger = logging.getLogger(__name__)

LOCK_RETRY_SECONDS = 60.0
MEMORY_LIMIT = "300MB"
"""DuckDB's memory per connection (beyond it, it spills to `<warehouse>.tmp/`). With the
default, 80 % of the machine, building the series of a client with 1.5 million values took
570 MB, with another client running beside it; with 300 MB, 330 MB and 4.6 s instead of
2.5 s. Loading its 1M-row CSV was not slower (2.9-3.2 s), and its peak fell from 549 to 418 MB."""


class WarehouseUnreadable(OSError):
    """The warehouse file is damaged (or lost data); the message says which file, why, and what
    to run. An `OSError`: to its callers, a storage failure like a missing or unreadable file."""


def unreadable_message(path: Path, cause: str) -> str:
    """The one line a damaged warehouse gets wherever Cap reports it."""
    slug = path.name.removesuffix(".duckdb")
    return (
        f"the warehouse {path.parent.name}/{path.name} cannot be read ({cause}): "
        f"run cap rebuild --client {slug}"
    )


class WarehouseBusy(OSError):
    """Another process holds the client's write lock for longer than the wait allows."""


def damage_cause(exc: BaseException) -> str | None:
    """A short cause when `exc` is DuckDB finding its file damaged, else None (a lock held by
    another process, a bad query and the like are no damage)."""
    if not isinstance(exc, duckdb.Error):
        return None
    text = str(exc)
    if "Could not read enough bytes" in text:
        return "the file is truncated: a block lies past its end"
    if "checksum" in text.lower() or "Corrupt database file" in text:
        return "a block's checksum does not match: the file was overwritten or damaged"
    if "not a valid DuckDB database file" in text:
        return "it is not a DuckDB database file"
    if "invalidated because of a previous fatal error" in text:
        return "DuckDB stopped on a damaged block"
    return None


@contextmanager
def open_warehouse(
    path: Path, read_only: bool = False, lock_wait: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse at `path`, created with its schema when missing.

    DuckDB lets one process write a file at a time: while another process holds the lock, the
    connection is retried with backoff for up to `lock_wait` seconds (`LOCK_RETRY_SECONDS` by
    default); a writer first takes the client's write lock (`warehouse_lock`), waiting as long.
    A damaged file, found
    on opening or on reading a block, raises `WarehouseUnreadable` naming the file, the cause
    and `cap rebuild`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as held:
        if not read_only:
            held.enter_context(warehouse_lock(path, lock_wait))
        try:
            con = _connect(path, read_only, LOCK_RETRY_SECONDS if lock_wait is None else lock_wait)
        except duckdb.Error as exc:
            if (cause := damage_cause(exc)) is None:
                raise
            raise WarehouseUnreadable(unreadable_message(path, cause)) from exc
        try:
            if not read_only:
                execute_sql(con, "create_warehouse")
                execute_sql(con, "create_deliveries")
            yield con
        except duckdb.Error as exc:
            if (cause := damage_cause(exc)) is None:
                raise
            raise WarehouseUnreadable(unreadable_message(path, cause)) from exc
        finally:
            con.close()


def lock_path(path: Path) -> Path:
    """`warehouse/<slug>.lock`: the client's write lock, shared by its warehouse and the one a
    rebuild builds beside it (`<slug>.duckdb.rebuild`)."""
    return path.with_name(path.name.split(".duckdb")[0] + ".lock")


_held: dict[Path, tuple[int, int]] = {}
_held_guard = threading.Lock()


@contextmanager
def warehouse_lock(path: Path, wait: float | None = None) -> Iterator[None]:
    """Hold the client's write lock (`fcntl.flock` on `lock_path(path)`) for the block: every
    writer of the warehouse takes it, and `cap rebuild` holds it from reading the old file until
    the new one is in place, so nothing is written into a file about to be replaced. Waits up
    to `wait` seconds (default `LOCK_RETRY_SECONDS`), then raises `WarehouseBusy`. Re-entrant
    within a process (a command that opens the warehouse again while it holds the lock)."""
    target = lock_path(path)
    with _held_guard:
        if target in _held:
            descriptor, depth = _held[target]
            _held[target] = (descriptor, depth + 1)
            reentered = True
        else:
            reentered = False
    if not reentered:
        descriptor = _acquire(target, LOCK_RETRY_SECONDS if wait is None else wait)
        with _held_guard:
            _held[target] = (descriptor, 1)
    try:
        yield
    finally:
        with _held_guard:
            descriptor, depth = _held[target]
            if depth > 1:
                _held[target] = (descriptor, depth - 1)
            else:
                del _held[target]
                os.close(descriptor)  # closing the descriptor releases the lock


def _acquire(target: Path, wait: float) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(target, os.O_RDWR | os.O_CREAT, 0o644)
    delay, waited = 0.05, 0.0
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return descriptor
        except BlockingIOError:
            if waited >= wait:
                os.close(descriptor)
                raise WarehouseBusy(
                    f"the warehouse {target.parent.name}/{target.name.removesuffix('.lock')}"
                    ".duckdb is being written by another run or command: try again when it ends"
                ) from None
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)


def _connect(path: Path, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    delay, waited = 0.05, 0.0
    while True:
        try:
            return duckdb.connect(
                str(path), read_only=read_only, config={"memory_limit": MEMORY_LIMIT}
            )
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or waited >= wait:
                raise
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All or nothing: a crash or kill inside leaves the warehouse as it was before."""
    con.begin()
    try:
        yield
    except BaseException:
        try:
            con.rollback()
        except duckdb.Error as exc:  # DuckDB stopped the database: nothing was committed
            logger.warning("rollback failed after an error: %s", exc)
        raise
    con.commit()
