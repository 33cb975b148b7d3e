"""`cap rebuild`: a client's warehouse made again from its archive, beside the old one, then
swapped in atomically.

Every reception is replayed in the order it happened, one inbox pass (a reception time) after
another: its `files` row as it was recorded (name, size, source, delivery and reception times,
duplicate or not), then the load and the blocking checks that pass ran, with that day as
"today". Statuses, rejections, quarantines and the value history (`delivered_at`) come out as
they were under the same `client.yaml`. The receptions come from the archive's manifest; without
one, from the old warehouse's `files` table when it reads; else from the archived files
themselves (delivery times unknown: the file's modification time stands in; original names
unknown but for quarantined files, whose reason keeps it: the archive name stands in; the
summary says so).

The email ledger must survive: an email that went out is never sent again. It is copied from
the old warehouse when its `deliveries` table reads, and completed from what is on disk: each
report folder's `email.eml` (the message as it went out) and the outbox's `<slug>-<period>.eml`.
Reading the disk needs no second copy of the ledger to keep in step; what it cannot know (Bcc
recipients, attempts that failed) only matters for sending again, which it must not do anyway.

Kept results (`kpi_values`, series, impact, report) are left to the next `cap run --client SLUG
--force`, which computes them from the rebuilt values exactly as a clean run does.
"""

import datetime as dt
import email.parser
import email.policy
import email.utils
import itertools
import json
import logging
import os
import re
import shutil
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.config.model import ClientConfig
from pipelines.ingest.archive import source_for
from pipelines.ingest.load import load_received
from pipelines.ingest.manifest import (
    MANIFEST_NAME,
    Decision,
    Reception,
    fsync_path,
    read_decisions,
    read_manifest,
    record_receptions,
)
from pipelines.ingest.retry import requeue
from pipelines.quality.deliveries import check_deliveries
from pipelines.quality.waiting import NotReleasable, release_delivery
from pipelines.sql import execute_sql
from pipelines.warehouse import open_warehouse, warehouse_lock
from pipelines.workspace import Workspace

logger = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".rebuild"
"""`warehouse/<slug>.duckdb.rebuild`: the warehouse being rebuilt, beside the old one."""
KEPT_SUFFIX = ".before-rebuild"
"""`warehouse/<slug>.duckdb.before-rebuild`: the replaced file, kept for inspection."""
_SENT_COPY = "email.eml"
_MESSAGE_ID = re.compile(r"<cap\.[a-z0-9-]+\.[^.]+\.([0-9a-f]{16,})@")


@dataclass
class RebuildSummary:
    """What a rebuild did, for the command line."""

    path: Path
    receptions: int = 0
    decisions: int = 0
    """The consultant's releases and retries replayed."""
    origin: str = ""
    statuses: dict[str, int] = field(default_factory=dict)
    values: int = 0
    emails: int = 0
    ledger_origin: str = ""
    kept: Path | None = None


def rebuild_warehouse(workspace: Workspace, slug: str) -> RebuildSummary:
    """Rebuild the client's warehouse from its archive and swap it in; what was done.

    Built in `<slug>.duckdb.rebuild`, then moved over the old file with `os.replace`: a crash or
    an error before that leaves the old file as it was (an error also removes the partial file).
    The client's write lock is held from reading the old file until the new one is in place:
    no run, send, retry or release writes into the file being replaced (`WarehouseBusy` when
    one holds it for longer than the wait). The manifest is completed only after the swap.
    """
    config = workspace.load_config(slug)
    path = workspace.warehouse(slug)
    summary = RebuildSummary(path)
    with warehouse_lock(path):
        receptions, summary.origin = _receptions(workspace, slug, config, path)
        decisions = read_decisions(workspace, slug)
        ledger, summary.ledger_origin = _ledger(workspace, slug, path)
        partial = path.with_name(path.name + PARTIAL_SUFFIX)
        staged = _StagedQuarantine(workspace.home, _staging(workspace, slug))
        for leftover in (partial, partial.with_name(partial.name + ".wal")):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(staged.folder, ignore_errors=True)
        try:
            with open_warehouse(partial) as con:
                _restore_ledger(con, ledger)
                _replay(staged, slug, config, con, receptions, decisions)
                summary.receptions = len(receptions)
                summary.decisions = len(decisions)
                summary.statuses = dict(execute_sql(con, "count_files_by_status").fetchall())
                ((summary.values,),) = execute_sql(con, "count_kpi_observations").fetchall()
                summary.emails = len(ledger)
                con.execute("checkpoint")
            fsync_path(partial)
            summary.kept = _swap(partial, path)
        except BaseException:
            for leftover in (partial, partial.with_name(partial.name + ".wal")):
                leftover.unlink(missing_ok=True)  # gone once the swap moved it
            shutil.rmtree(staged.folder, ignore_errors=True)
            raise
        _swap_quarantine(staged.folder, workspace.quarantine(slug))
        with open_warehouse(path) as con:
            record_receptions(workspace, slug, con)
    logger.info("%s: warehouse rebuilt from %d receptions", slug, len(receptions))
    return summary


def _replay(
    workspace: Workspace,
    slug: str,
    config: ClientConfig,
    con: duckdb.DuckDBPyConnection,
    receptions: list[Reception],
    decisions: list[Decision],
) -> None:
    """Replay the inbox passes, one reception time after another, and between them the
    consultant's decisions (release, retry) at the time they were taken."""
    zone = zoneinfo.ZoneInfo(config.timezone)
    pending = sorted(decisions, key=lambda decision: decision.at)
    first_names: dict[str, str] = {}

    def local_day(moment: dt.datetime) -> dt.date:
        return moment.replace(tzinfo=dt.UTC).astimezone(zone).date()

    for received_at, group in itertools.groupby(receptions, key=lambda r: r.received_at):
        while pending and pending[0].at < received_at:
            _apply(workspace, slug, config, con, pending.pop(0), local_day)
        for reception in group:
            _insert_reception(con, reception, first_names)
        load_received(workspace, slug, config, con, local_day(received_at))
        check_deliveries(workspace, slug, config, con, local_day(received_at), received_at)
    for decision in pending:
        _apply(workspace, slug, config, con, decision, local_day)


def _apply(
    workspace: Workspace,
    slug: str,
    config: ClientConfig,
    con: duckdb.DuckDBPyConnection,
    decision: Decision,
    local_day: Callable[[dt.datetime], dt.date],
) -> None:
    """One decision as the consultant took it: a release marks the delivery loaded; a retry
    sends the files back to `received`, and the run that followed read them."""
    if decision.action == "release":
        try:
            release_delivery(con, decision.target or "", decision.at)
        except NotReleasable as reason:
            logger.warning("%s: release of %s not replayed: %s", slug, decision.target, reason)
    elif decision.action == "retry":
        if requeue(con, config, decision.target):
            load_received(workspace, slug, config, con, local_day(decision.at))
            check_deliveries(workspace, slug, config, con, local_day(decision.at), decision.at)
    else:
        logger.warning("%s: unknown decision %r in the manifest skipped", slug, decision.action)


@dataclass(frozen=True)
class _StagedQuarantine(Workspace):
    """The workspace as the replay sees it: the client's quarantine is a staging folder, put in
    place of the live one only once the rebuilt warehouse is (the replay derives all of it)."""

    folder: Path = Path()

    def quarantine(self, slug: str) -> Path:
        """The staging folder, for every client (a rebuild replays one)."""
        return self.folder


def _staging(workspace: Workspace, slug: str) -> Path:
    live = workspace.quarantine(slug)
    return live.with_name(f".{live.name}{PARTIAL_SUFFIX}")


def _swap_quarantine(staged: Path, live: Path) -> None:
    """Put the replay's quarantine in place of the live one (the old one is deleted: the
    archive holds every file it copied)."""
    old = live.with_name(f".{live.name}{KEPT_SUFFIX}")
    shutil.rmtree(old, ignore_errors=True)
    if live.exists():
        os.rename(live, old)
    if staged.exists():
        os.rename(staged, live)
    shutil.rmtree(old, ignore_errors=True)


def _receptions(
    workspace: Workspace, slug: str, config: ClientConfig, path: Path
) -> tuple[list[Reception], str]:
    """Every reception to replay, in order, and where they were read from."""
    receptions = read_manifest(workspace, slug)
    origin = "the archive's manifest"
    if not receptions and path.exists():
        try:
            with open_warehouse(path, read_only=True) as old:
                rows = execute_sql(old, "select_file_receptions").fetchall()
        except (OSError, duckdb.Error) as exc:
            _unless_locked(exc)
            logger.warning("%s: old files table not readable: %s", slug, exc)
        else:
            receptions = [
                Reception(sha, name, int(size), source, received, delivered, status == "duplicate")
                for sha, name, size, source, received, delivered, status in rows
            ]
            origin = "the old warehouse's files table (no manifest yet)"
    if not receptions:
        receptions = _archived_files(workspace, slug, config)
        origin = (
            "the archived files (no manifest, old warehouse unreadable): original names and "
            "delivery times unknown, the archive names and file modification times stand in"
        )
    unique = list({reception.key: reception for reception in reversed(receptions)}.values())
    unique.reverse()  # each key once, at its first reception (a line appended twice)
    order = {reception.key: position for position, reception in enumerate(unique)}
    return sorted(unique, key=lambda r: (r.received_at, order[r.key])), origin


def _unless_locked(exc: BaseException) -> None:
    """Re-raise a lock error: a run is writing the warehouse, and replacing the file under it
    would lose what it writes."""
    if isinstance(exc, duckdb.Error) and "lock" in str(exc).lower():
        raise exc


def _archived_files(workspace: Workspace, slug: str, config: ClientConfig) -> list[Reception]:
    """A reception per archived file, from the file alone, received when it was last modified:
    each file gets its own pass, with its own day as "today" (one pass on the oldest file's day
    would reject every later period as a future one)."""
    folder = workspace.archive(slug)
    if not folder.is_dir():
        return []
    files = [
        path
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name != MANIFEST_NAME and not path.name.endswith(".partial")
    ]
    times = {path: dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC) for path in files}
    names = {path: _quarantined_name(workspace, slug, path) or path.name for path in files}
    return [
        Reception(
            sha256=path.name.split(".")[0],
            original_name=names[path],
            size_bytes=path.stat().st_size,
            source=source_for(config, names[path]),
            received_at=times[path].replace(tzinfo=None),
            delivered_at=times[path].replace(tzinfo=None),
            duplicate=False,
        )
        for path in files
    ]


def _quarantined_name(workspace: Workspace, slug: str, archived: Path) -> str | None:
    """The original name a quarantined file's reason records, if it was quarantined."""
    reason = workspace.quarantine(slug) / f"{archived.name.split('.')[0]}.reason.json"
    try:
        return str(json.loads(reason.read_text(encoding="utf-8"))["file"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _insert_reception(
    con: duckdb.DuckDBPyConnection, reception: Reception, first_names: dict[str, str]
) -> None:
    """The reception's `files` row as the inbox pass wrote it (`first_names`: the name each
    SHA-256 was first received under, for a duplicate's message)."""
    first = first_names.setdefault(reception.sha256, reception.original_name)
    message = None
    if reception.duplicate:
        message = f"same bytes as {first!r}, already received: not loaded again"
    execute_sql(
        con,
        "insert_file",
        {
            "sha256": reception.sha256,
            "original_name": reception.original_name,
            "size_bytes": reception.size_bytes,
            "source": reception.source,
            "received_at": reception.received_at,
            "delivered_at": reception.delivered_at,
            "status": "duplicate" if reception.duplicate else "received",
            "message": message,
        },
    )


def _ledger(workspace: Workspace, slug: str, path: Path) -> tuple[list[tuple], str]:
    """The ledger rows to carry over and where they came from: the old warehouse's, completed by
    the emails on disk whose period the old ledger does not have as gone out."""
    rows: list[tuple] = []
    origin = "rebuilt from the emails on disk (the old ledger is not readable)"
    if path.exists():
        try:
            with open_warehouse(path, read_only=True) as old:
                rows = execute_sql(old, "select_deliveries", {"period": None}).fetchall()
            origin = "copied from the old warehouse"
        except (OSError, duckdb.Error) as exc:
            _unless_locked(exc)
            logger.warning("%s: old ledger not readable: %s", slug, exc)
    done = {row[1] for row in rows if row[5] in ("sent", "written")}
    found = [row for row in _emails_on_disk(workspace, slug) if row[1] not in done]
    if found and rows:
        origin += f", and {len(found)} emails found on disk it did not have"
    next_id = max((int(row[0]) for row in rows), default=0) + 1
    rows += [(next_id + index, *row[1:]) for index, row in enumerate(found)]
    return rows, origin


def _emails_on_disk(workspace: Workspace, slug: str) -> list[tuple]:
    """A `deliveries` row (id 0) per period whose email is on disk as it went out: the report
    folder's `email.eml`, or the outbox's `<slug>-<period>.eml` (written before the ledger
    recorded it). Status `written` when the outbox holds it, else `sent`."""
    outbox = {
        match.group(1): path
        for path in sorted(workspace.outbox.glob(f"{slug}-*.eml"))
        if (match := re.fullmatch(rf"{re.escape(slug)}-(\d{{4}}-(?:W)?\d{{2}})\.eml", path.name))
    }
    copies = {path.parent.name: path for path in workspace.reports(slug).glob(f"*/{_SENT_COPY}")}
    rows = []
    for period in sorted(outbox.keys() | copies.keys()):
        message = _headers(copies.get(period) or outbox[period])
        message_id = str(message["Message-ID"] or "")
        found = _MESSAGE_ID.search(message_id)
        sent_at = _utc(message["Date"])
        recipients = [
            address
            for _, address in email.utils.getaddresses(
                [str(message[name]) for name in ("To", "Cc") if message[name]]
            )
        ]
        rows.append(
            (
                0,
                period,
                message_id,
                found.group(1) if found else "unknown",
                json.dumps(recipients),
                "written" if period in outbox else "sent",
                1,
                "rebuilt from the email on disk (Bcc recipients unknown)",
                sent_at,
                sent_at,
                False,
            )
        )
    return rows


def _headers(path: Path) -> email.message.Message:
    with path.open("rb") as handle:
        return email.parser.BytesHeaderParser(policy=email.policy.default).parse(handle)


def _utc(date: object) -> dt.datetime:
    moment = email.utils.parsedate_to_datetime(str(date)) if date else None
    if moment is None:
        return dt.datetime(1970, 1, 1)
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _restore_ledger(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    """Insert the carried-over ledger rows with their ids, and move the id sequence past them."""
    for row in rows:
        execute_sql(con, "insert_delivery_copy", dict(zip(_LEDGER_COLUMNS, row, strict=True)))
    if rows:
        top = max(int(row[0]) for row in rows)
        execute_sql(con, "advance_deliveries_id", {"count": top}).fetchall()


_LEDGER_COLUMNS = (
    "id",
    "period",
    "message_id",
    "content_hash",
    "recipients",
    "status",
    "attempts",
    "last_error",
    "created_at",
    "sent_at",
    "forced",
)


def _swap(partial: Path, path: Path) -> Path | None:
    """Move the rebuilt file over the old one (atomic), keeping the old one beside it; the old
    file's write-ahead log goes with it, so DuckDB never replays it onto the new file."""
    kept = None
    if path.exists():
        kept = path.with_name(path.name + KEPT_SUFFIX)
        kept.unlink(missing_ok=True)
        os.link(path, kept)
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        os.replace(wal, kept.with_name(kept.name + ".wal") if kept else wal.with_suffix(".old"))
    os.replace(partial, path)
    fsync_path(path.parent)
    return kept
