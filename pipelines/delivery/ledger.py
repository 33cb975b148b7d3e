"""The ledger of report emails (`deliveries`, in the client's warehouse): what was sent for each
period, so that an email the server accepted is never sent again.

Each write is its own transaction, so an attempt is on record before anything is sent. Times
are arguments, never read from the clock here; aware times are stored in UTC.
"""

import datetime as dt
import json
from dataclasses import dataclass
from typing import Literal

import duckdb

from pipelines.sql import execute_sql
from pipelines.warehouse import transaction

Status = Literal["pending", "sent", "failed", "written"]
DONE: tuple[Status, ...] = ("sent", "written")


@dataclass(frozen=True)
class Delivery:
    """A row of `deliveries`: one attempt to deliver a period's email, and its outcome."""

    id: int
    period: str
    message_id: str
    content_hash: str
    recipients: list[str]
    status: Status
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    forced: bool


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    """Create the `deliveries` table if it is missing."""
    execute_sql(con, "create_deliveries")


def deliveries(con: duckdb.DuckDBPyConnection, period: str) -> list[Delivery]:
    """Every delivery attempt of `period`, oldest first."""
    rows = execute_sql(con, "select_deliveries", {"period": period}).fetchall()
    return [_delivery(row) for row in rows]


def already_sent(con: duckdb.DuckDBPyConnection, period: str) -> Delivery | None:
    """The latest attempt of `period` that a server accepted ('sent') or that was written to the
    outbox ('written'), or None."""
    done = [row for row in deliveries(con, period) if row.status in DONE]
    return done[-1] if done else None


def latest_sent(con: duckdb.DuckDBPyConnection) -> Delivery | None:
    """The latest email that went out (sent or written), whatever its period, or None."""
    rows = execute_sql(con, "select_latest_sent_delivery").fetchall()
    return _delivery(rows[0]) if rows else None


def unfinished(con: duckdb.DuckDBPyConnection, period: str) -> Delivery | None:
    """The latest 'pending' attempt of `period`: interrupted, or cut off after the message was
    sent, so the recipients may have it. None when there is none."""
    pending = [row for row in deliveries(con, period) if row.status == "pending"]
    return pending[-1] if pending else None


def record_attempt(
    con: duckdb.DuckDBPyConnection,
    *,
    period: str,
    message_id: str,
    content_hash: str,
    recipients: list[str],
    now: dt.datetime,
    forced: bool = False,
) -> int:
    """Record, before sending, that the email of `period` is about to go out; its id."""
    params = {
        "period": period,
        "message_id": message_id,
        "content_hash": content_hash,
        "recipients": json.dumps(recipients),
        "created_at": _utc(now),
        "forced": forced,
    }
    with transaction(con):
        rows = execute_sql(con, "insert_delivery", params).fetchall()
    return int(rows[0][0])


def mark_sent(
    con: duckdb.DuckDBPyConnection,
    delivery_id: int,
    *,
    attempts: int,
    now: dt.datetime,
    written: bool = False,
    note: str | None = None,
) -> None:
    """The server accepted the email (or, `written`, it is in the outbox); `note` keeps a
    warning such as recipients the server refused."""
    status: Status = "written" if written else "sent"
    _update(con, delivery_id, status=status, attempts=attempts, error=note, sent_at=_utc(now))


def mark_failed(
    con: duckdb.DuckDBPyConnection, delivery_id: int, *, attempts: int, error: str
) -> None:
    """No server accepted the email: a later delivery may try again."""
    _update(con, delivery_id, status="failed", attempts=attempts, error=error, sent_at=None)


def mark_unknown(
    con: duckdb.DuckDBPyConnection, delivery_id: int, *, attempts: int, error: str
) -> None:
    """The message went out but the server's answer never came: the attempt stays 'pending'
    with the error, and is not retried without `force`."""
    _update(con, delivery_id, status="pending", attempts=attempts, error=error, sent_at=None)


def _update(
    con: duckdb.DuckDBPyConnection,
    delivery_id: int,
    *,
    status: Status,
    attempts: int,
    error: str | None,
    sent_at: dt.datetime | None,
) -> None:
    params = {
        "id": delivery_id,
        "status": status,
        "attempts": attempts,
        "last_error": error,
        "sent_at": sent_at,
    }
    with transaction(con):
        execute_sql(con, "update_delivery", params).fetchall()


def _utc(moment: dt.datetime) -> dt.datetime:
    # A `timestamp` column has no zone: DuckDB would convert an aware time to its session zone.
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _delivery(row: tuple) -> Delivery:
    id_, period, message_id, hash_, recipients, status, attempts, error, *times, forced = row
    return Delivery(
        id=int(id_),
        period=period,
        message_id=message_id,
        content_hash=hash_,
        recipients=json.loads(recipients),
        status=status,
        attempts=int(attempts),
        last_error=error,
        created_at=times[0],
        sent_at=times[1],
        forced=bool(forced),
    )
