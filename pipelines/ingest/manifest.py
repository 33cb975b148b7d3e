"""The archive's manifest: `archive/<slug>/manifest.jsonl`, one JSON object per reception.

It keeps, outside the warehouse, what a replay of the client's deliveries needs: the original
name, the size, the SHA-256, the source the name matched, when the file was delivered (its
modification time) and received, and whether it was a duplicate. It is appended (never
rewritten) and fsynced, and it follows the warehouse's `files` table: a reception is written
to it once its row is in `files`, so every line is a reception the warehouse once held.
"""

import datetime as dt
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from pipelines.sql import execute_sql
from pipelines.warehouse import WarehouseUnreadable, unreadable_message
from pipelines.workspace import Workspace

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"


@dataclass(frozen=True)
class Reception:
    """One file received from the client, as the manifest keeps it."""

    sha256: str
    original_name: str
    size_bytes: int
    source: str | None
    received_at: dt.datetime
    delivered_at: dt.datetime
    duplicate: bool

    @property
    def key(self) -> tuple[str, str]:
        """(SHA-256, original name): the key of the `files` table."""
        return self.sha256, self.original_name

    def to_json(self) -> str:
        """The manifest line of this reception (times in ISO 8601, UTC, without zone)."""
        record = asdict(self)
        record["received_at"] = self.received_at.isoformat()
        record["delivered_at"] = self.delivered_at.isoformat()
        return json.dumps(record, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> "Reception":
        """The reception of a manifest line (raises ValueError or KeyError when malformed)."""
        record = json.loads(line)
        return cls(
            sha256=str(record["sha256"]),
            original_name=str(record["original_name"]),
            size_bytes=int(record["size_bytes"]),
            source=record.get("source"),
            received_at=dt.datetime.fromisoformat(record["received_at"]),
            delivered_at=dt.datetime.fromisoformat(record["delivered_at"]),
            duplicate=bool(record["duplicate"]),
        )


def manifest_path(workspace: Workspace, slug: str) -> Path:
    """Where the client's manifest lives, beside its archived files."""
    return workspace.archive(slug) / MANIFEST_NAME


@dataclass(frozen=True)
class Decision:
    """A decision of the consultant a rebuild must replay: `cap release` of a quarantined
    delivery (`target`: its SHA-256) or `cap retry` (`target`: the name received, None for
    every rejected or quarantined file). Kept in the manifest as an event line."""

    action: str
    target: str | None
    at: dt.datetime
    """When it was taken, naive UTC."""

    def to_json(self) -> str:
        """The manifest's event line of this decision."""
        record = {"event": self.action, "target": self.target, "at": self.at.isoformat()}
        return json.dumps(record, ensure_ascii=False, sort_keys=True)


def read_manifest(workspace: Workspace, slug: str) -> list[Reception]:
    """Every reception of the manifest, in the order written (empty without a manifest). A line
    cut short by a crash during an append is skipped with a warning."""
    return [entry for entry in _entries(workspace, slug) if isinstance(entry, Reception)]


def read_decisions(workspace: Workspace, slug: str) -> list[Decision]:
    """The consultant's decisions the manifest records, in the order taken."""
    return [entry for entry in _entries(workspace, slug) if isinstance(entry, Decision)]


def record_decision(workspace: Workspace, slug: str, decision: Decision) -> None:
    """Append `decision` to the manifest (fsynced), for a rebuild to replay."""
    _append_lines(workspace, slug, [decision.to_json()])


def _entries(workspace: Workspace, slug: str) -> list[Reception | Decision]:
    path = manifest_path(workspace, slug)
    if not path.exists():
        return []
    entries: list[Reception | Decision] = []
    # Decoded line by line: a line cut inside a multi-byte character (`Données…`) is one
    # line skipped, not the whole manifest unreadable.
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
            record = json.loads(line)
            if isinstance(record, dict) and "event" in record:
                at = dt.datetime.fromisoformat(record["at"])
                entries.append(Decision(str(record["event"]), record.get("target"), at))
            else:
                entries.append(Reception.from_json(line))
        except (ValueError, KeyError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
            logger.warning("%s: line %d of %s skipped (%s)", slug, number, path, exc)
    return entries


def record_receptions(workspace: Workspace, slug: str, con: duckdb.DuckDBPyConnection) -> int:
    """Append to the manifest every row of `files` it does not hold yet, in reception order, and
    fsync it; how many were appended. Run after each pass over the inbox: a pass interrupted
    between a row and its line is made good by the next one.

    Raises `WarehouseUnreadable` when `files` lacks receptions the manifest lists: the warehouse
    lost data (replaced by an older or empty copy) and only `cap rebuild` brings it back.
    """
    listed = read_manifest(workspace, slug)
    known = {reception.key for reception in listed}
    rows = execute_sql(con, "select_file_receptions").fetchall()
    held = {(sha, name): received_at for sha, name, _, _, received_at, *_ in rows}
    if (cause := lost_receptions(listed, held)) is not None:
        raise WarehouseUnreadable(unreadable_message(workspace.warehouse(slug), cause))
    new = [
        Reception(sha, name, int(size), source, received_at, delivered_at, status == "duplicate")
        for sha, name, size, source, received_at, delivered_at, status in rows
        if (sha, name) not in known
    ]
    if new:
        append_receptions(workspace, slug, new)
    return len(new)


def lost_receptions(
    listed: list[Reception], held: dict[tuple[str, str], dt.datetime]
) -> str | None:
    """What the warehouse lost, when it does not hold every reception the manifest `listed`
    (`held`: each key of `files` and its reception time). A reception held with another time
    was lost, then received again from the inbox: the warehouse was replaced or emptied, and
    what it held beside (the email ledger, files no longer in the inbox) is gone."""
    lost = [r for r in listed if held.get(r.key) != r.received_at]
    if not lost:
        return None
    return f"it lost {len(lost)} of the {len(listed)} files the archive's manifest lists"


def append_receptions(workspace: Workspace, slug: str, receptions: list[Reception]) -> None:
    """Append `receptions` to the manifest and fsync it (and its folder, when it is new)."""
    _append_lines(workspace, slug, [reception.to_json() for reception in receptions])


def _append_lines(workspace: Workspace, slug: str, lines: list[str]) -> None:
    folder = workspace.archive(slug)
    folder.mkdir(parents=True, exist_ok=True)
    path = manifest_path(workspace, slug)
    created = not path.exists()
    text = "".join(line + "\n" for line in lines)
    with path.open("a+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell():
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":  # a line cut short by a crash stays a line of its own
                text = "\n" + text
        handle.write(text.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        fsync_path(folder)


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries (a file created or renamed in it), to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
