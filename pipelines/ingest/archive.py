"""Archiving what arrives in a client's inbox: every file kept under its SHA-256, once.

A file is copied into `archive/<slug>/` before anything parses it, and recorded in the warehouse's
`files` table as `received`. A byte-identical copy under another name is recorded as a duplicate.
"""

import datetime as dt
import fnmatch
import hashlib
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.config.model import ClientConfig
from pipelines.ingest.manifest import record_receptions
from pipelines.sql import execute_sql
from pipelines.workspace import Workspace

logger = logging.getLogger(__name__)

# Files that tools leave beside documents, never sent by a client: Office and LibreOffice lock
# files, Finder and Explorer metadata, files still being copied.
IGNORED_NAMES = ("~$*", ".~lock.*#", ".DS_Store", "._*", "Thumbs.db", "desktop.ini", "*.part")
DEFAULT_MAX_FILE_MB = 200


@dataclass
class ArchiveSummary:
    """What one pass over an inbox found."""

    in_inbox: int = 0
    received: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    already_known: int = 0


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def inbox_files(workspace: Workspace, slug: str) -> list[Path]:
    """The files in a client's inbox, oldest first (lock files and system files left out).

    Oldest first, so that of two byte-identical files the one delivered first is the original.
    """
    inbox = workspace.inbox(slug)
    if not inbox.is_dir():
        return []
    files = [
        path
        for path in inbox.iterdir()
        if path.is_file() and not any(fnmatch.fnmatch(path.name, n) for n in IGNORED_NAMES)
    ]
    return sorted(files, key=lambda path: (path.stat().st_mtime_ns, path.name))


def source_for(config: ClientConfig, file_name: str) -> str | None:
    """Name of the first source whose pattern matches the file name (case-insensitive)."""
    lowered = file_name.casefold()
    for source in config.sources:
        if any(fnmatch.fnmatch(lowered, pattern.casefold()) for pattern in source.pattern):
            return source.name
    return None


def archive_inbox(
    workspace: Workspace,
    slug: str,
    config: ClientConfig,
    con: duckdb.DuckDBPyConnection,
    now: dt.datetime,
) -> ArchiveSummary:
    """Copy new inbox files into the archive and record them in `files` as received."""
    summary = ArchiveSummary()
    archive = workspace.archive(slug)
    archive.mkdir(parents=True, exist_ok=True)
    for path in inbox_files(workspace, slug):
        summary.in_inbox += 1
        digest = sha256_of(path)
        known = [
            name
            for (name,) in execute_sql(
                con, "select_file_names_by_sha256", {"sha256": digest}
            ).fetchall()
        ]
        if path.name in known:
            summary.already_known += 1
            continue
        stat = path.stat()
        record = {
            "sha256": digest,
            "original_name": path.name,
            "size_bytes": stat.st_size,
            "source": source_for(config, path.name),
            "received_at": now,
            "delivered_at": dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).replace(tzinfo=None),
        }
        if known:
            message = f"same bytes as {known[0]!r}, already received: not loaded again"
            execute_sql(con, "insert_file", {**record, "status": "duplicate", "message": message})
            summary.duplicates.append(path.name)
            logger.info("%s: %s is a copy of %s", slug, path.name, known[0])
            continue
        target = archive_path(workspace, slug, digest, path.name)
        if not target.exists():
            partial = target.with_name(target.name + ".partial")
            shutil.copy2(path, partial)
            os.replace(partial, target)
        execute_sql(con, "insert_file", {**record, "status": "received", "message": None})
        summary.received.append(path.name)
        logger.info("%s: archived %s as %s", slug, path.name, target.name)
    record_receptions(workspace, slug, con)
    return summary


def archive_path(workspace: Workspace, slug: str, digest: str, original_name: str) -> Path:
    """Where a file lives in the archive: its SHA-256 and its (lower-case) extension."""
    suffix = Path(original_name).suffix.lower()
    safe_suffix = suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""
    return workspace.archive(slug) / f"{digest}{safe_suffix}"


def inbox_fingerprint(workspace: Workspace, slug: str) -> str:
    """A cheap digest of the inbox listing (names, sizes, modification times): when it changes,
    something arrived or was replaced."""
    digest = hashlib.sha256()
    for path in inbox_files(workspace, slug):
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def unarchived_files(workspace: Workspace, slug: str) -> list[Path]:
    """Inbox files whose bytes are not in the archive yet (they need a run)."""
    return [
        path
        for path in inbox_files(workspace, slug)
        if not archive_path(workspace, slug, sha256_of(path), path.name).exists()
    ]
