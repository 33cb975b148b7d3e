"""What a client's data still waits for: its first delivery, or a correction of a delivery set
aside (rejected on reading, or quarantined by a blocking check) that no later delivery of the
same source replaced. The run summary, the assets' metadata and the consultant's digest all say
it in these words. `release_delivery` is the consultant accepting a quarantined delivery as it is.
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
    sha256: str
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
        WaitingDelivery(name, sha256, status, received_at, _one_line(message or status))
        for name, sha256, status, received_at, message in execute_sql(
            con, "select_waiting_deliveries"
        ).fetchall()
    ]


class NotReleasable(Exception):
    """The delivery named cannot be released; the message says why and what to do."""


def release_delivery(
    con: duckdb.DuckDBPyConnection, name: str, now: dt.datetime
) -> WaitingDelivery:
    """Accept the waiting delivery named `name` (its file name, or the start of its SHA-256),
    quarantined by a blocking check, as it is: its values become current and validated, and its
    message says that the consultant released it on `now`'s date. Raises
    NotReleasable for a name that waits for nothing, or a file that was not understood (there
    is nothing to use: fix the configuration and read it again)."""
    waiting = waiting_deliveries(con)
    matches = [item for item in waiting if name in (item.name, item.sha256[: len(name)])]
    if not matches:
        names = ", ".join(item.name for item in waiting) or "none"
        raise NotReleasable(f"no delivery {name!r} waits in quarantine (waiting: {names})")
    chosen = matches[-1]  # the latest received under that name
    if chosen.status != "quarantined":
        raise NotReleasable(
            f"{chosen.name} was not understood ({chosen.reason}): there are no values to "
            "release; fix client.yaml or ask the client for a corrected file"
        )
    message = f"released by the consultant on {now:%Y-%m-%d} (was {chosen.reason})"
    execute_sql(
        con, "mark_file_released", {"sha256": chosen.sha256, "message": message, "now": now}
    )
    return WaitingDelivery(chosen.name, chosen.sha256, "loaded", chosen.received_at, message)


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
