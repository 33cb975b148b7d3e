"""What a client's data still waits for: its first delivery, or a correction of a delivery set
aside (rejected on reading, or quarantined by a blocking check) that no later delivery of the
same source replaced. The run summary, the assets' metadata and the consultant's digest all say
it in these words. `release_delivery` is the consultant accepting a quarantined delivery as it is.
"""

import datetime as dt
import re
from dataclasses import dataclass

import duckdb

from pipelines.safe_text import one_line
from pipelines.sql import execute_sql

WAITING_FOR_FIRST_DELIVERY = "waiting for the first delivery"
"""A client with no value stored yet: nothing was ever due, so nothing is late or failed."""
_REASON_CHARS = 120
MIN_HASH_PREFIX = 8
"""Hex characters of a SHA-256 that `cap release` needs at least: a shorter prefix would
match many deliveries."""
_HEX = re.compile(r"[0-9a-fA-F]+")


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
        WaitingDelivery(
            name, sha256, status, received_at, one_line(message or status, _REASON_CHARS)
        )
        for name, sha256, status, received_at, message in execute_sql(
            con, "select_waiting_deliveries"
        ).fetchall()
    ]


class NotReleasable(Exception):
    """The delivery named cannot be released; the message says why and what to do."""


def release_delivery(
    con: duckdb.DuckDBPyConnection, name: str, now: dt.datetime
) -> WaitingDelivery:
    """Accept the waiting delivery named `name` (its file name, or the first
    `MIN_HASH_PREFIX` or more hex characters of its SHA-256), quarantined by a blocking check,
    as it is: its values become current and validated, and its message says that the
    consultant released it on `now`'s date. Raises NotReleasable for a name that waits for
    nothing or names several deliveries (listing them), or a file that was not understood
    (there is nothing to use: fix the configuration and read it again)."""
    waiting = waiting_deliveries(con)
    chosen = _the_one_named(waiting, name)
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


def _the_one_named(waiting: list[WaitingDelivery], name: str) -> WaitingDelivery:
    """The waiting delivery `name` designates: a file name, else a SHA-256 prefix long enough
    to mean one delivery; raises NotReleasable otherwise."""
    matches = [item for item in waiting if item.name == name]
    if not matches and _HEX.fullmatch(name):
        if len(name) < MIN_HASH_PREFIX:
            raise NotReleasable(
                f"{name!r} is too short to name a delivery by its SHA-256: give its file name "
                f"or at least {MIN_HASH_PREFIX} hex characters of its SHA-256"
            )
        matches = [item for item in waiting if item.sha256.startswith(name.lower())]
    if not matches:
        names = ", ".join(item.name for item in waiting) or "none"
        raise NotReleasable(f"no delivery {name!r} waits in quarantine (waiting: {names})")
    if len({item.sha256 for item in matches}) > 1:
        candidates = "; ".join(
            f"{item.name} (SHA-256 {item.sha256[:12]}…, received {item.received_at:%Y-%m-%d %H:%M})"
            for item in matches
        )
        raise NotReleasable(
            f"{name!r} names {len(matches)} waiting deliveries: {candidates}; give a longer "
            "SHA-256 prefix to say which"
        )
    return matches[-1]


def quarantine_line(waiting: list[WaitingDelivery]) -> str:
    """`1 delivery waiting in quarantine: a.xlsx (unknown site 'Lyon 3')`, or "" for none."""
    if not waiting:
        return ""
    count = len(waiting)
    files = "; ".join(f"{item.name} ({item.reason})" for item in waiting)
    return f"{count} deliver{'y' if count == 1 else 'ies'} waiting in quarantine: {files}"
