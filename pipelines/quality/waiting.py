"""What a client's data still waits for: its first delivery, or a correction of a delivery set
aside (rejected on reading, or quarantined by a blocking check) that no later delivery of the
same source replaced. The run summary, the assets' metadata and the consultant's digest all say
it in these words.
"""

import datetime as dt
from dataclasses import dataclass

import duckdb

from pipelines.sql import execute_sql

WAITING_FOR_FIRST_DELIVERY = "waiting for the first delivery"
"""A client with no value stored yet: nothing was ever due, so nothing is late or failed."""
_REASON_CHARS = 120


@dataclass(frozen=True)
class WaitingDelivery:
    """A delivery set aside that still waits for its correction."""

    name: str
    status: str
    """`rejected` (not understood) or `quarantined` (failed a blocking check)."""
    received_at: dt.datetime
    reason: str


def awaiting_first_delivery(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the client has no current value yet (nothing delivered, or nothing usable)."""
    ((latest, _grain),) = execute_sql(con, "select_latest_period").fetchall()
    return latest is None


def waiting_deliveries(con: duckdb.DuckDBPyConnection) -> list[WaitingDelivery]:
    """The deliveries set aside that no later delivery of their source replaced, oldest first."""
    return [
        WaitingDelivery(name, status, received_at, _one_line(message or status))
        for name, status, received_at, message in execute_sql(
            con, "select_waiting_deliveries"
        ).fetchall()
    ]


def quarantine_line(waiting: list[WaitingDelivery]) -> str:
    """`1 delivery waiting in quarantine: a.xlsx (unknown site 'Lyon 3')`, or "" for none."""
    if not waiting:
        return ""
    count = len(waiting)
    files = "; ".join(f"{item.name} ({item.reason})" for item in waiting)
    return f"{count} deliver{'y' if count == 1 else 'ies'} waiting in quarantine: {files}"


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _REASON_CHARS else line[: _REASON_CHARS - 1].rstrip() + "…"
