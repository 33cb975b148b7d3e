"""Archiving what arrives in a client's inbox: every file kept under its SHA-256, once.

A file is copied into `archive/<slug>/` before anything parses it, and recorded in the warehouse's
`files` table as `received`. A byte-identical copy under another name is recorded as a duplicate.

Only regular files are read. Links (to files or folders), folders, FIFOs, devices and sockets in
an inbox are refused and listed for the consultant, never followed nor read: the listing uses
`lstat`, and a file is opened without following links and without blocking (a FIFO would wait
for a writer), then checked on the descriptor itself, from which it is hashed and copied, so a
file swapped for a link between listing and reading is caught too.
"""

import datetime as dt
import fnmatch
import hashlib
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
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


@dataclass(frozen=True)
class RefusedEntry:
    """Something in an inbox that is not a regular file: never read, listed for the consultant."""

    name: str
    kind: str
    message: str


@dataclass
class ArchiveSummary:
    """What one pass over an inbox found."""

    in_inbox: int = 0
    received: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    already_known: int = 0
    refused: list[RefusedEntry] = field(default_factory=list)


class NotRegularFile(Exception):
    """An inbox entry that turned out not to be a regular file when it was opened."""

    def __init__(self, entry: RefusedEntry) -> None:
        super().__init__(entry.message)
        self.entry = entry


_KINDS = (
    (stat.S_ISLNK, "symbolic link"),
    (stat.S_ISDIR, "folder"),
    (stat.S_ISFIFO, "named pipe (FIFO)"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)
_ADVICE = {
    "symbolic link": "links are never followed: copy the file itself into the inbox",
    "folder": "only files directly in the inbox are read: move its files into the inbox",
}


def entry_kind(mode: int) -> str:
    """What an `lstat` mode says an inbox entry is: `regular file`, `symbolic link`, ..."""
    if stat.S_ISREG(mode):
        return "regular file"
    return next((kind for test, kind in _KINDS if test(mode)), "special file")


def unreadable_entry(name: str, error: OSError) -> RefusedEntry:
    """The refusal of a regular file that cannot be read (no permission, an I/O error)."""
    reason = error.strerror or str(error)
    return RefusedEntry(
        name,
        "unreadable file",
        f"{name!r} cannot be read: {reason}; not archived (check its permissions, or copy it "
        "into the inbox again)",
    )


def refused_entry(name: str, kind: str, swapped: bool = False) -> RefusedEntry:
    """The refusal of an inbox entry that is a `kind`, with the consultant's message."""
    advice = _ADVICE.get(kind, "only regular files are read")
    when = " (it became one between listing and reading)" if swapped else ""
    return RefusedEntry(name, kind, f"{name!r} is a {kind}{when}, not a file: not read; {advice}")


_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class RegularFile:
    """A regular file opened read-only from an inbox: read, hashed and copied from the one
    descriptor that was checked, so the bytes are those of the file that was judged."""

    def __init__(self, path: Path) -> None:
        """Open `path` if and only if it is itself a regular file: a link is not followed, a
        FIFO does not block; raise `NotRegularFile` otherwise, and for a file that cannot be
        opened (no permission, an I/O error); `FileNotFoundError` if it is gone."""
        try:
            self.fd = os.open(path, _OPEN_FLAGS)
        except FileNotFoundError:
            raise
        except OSError as error:
            mode = os.lstat(path).st_mode if os.path.lexists(path) else 0
            if not mode:
                raise FileNotFoundError(error.errno, error.strerror, str(path)) from error
            if stat.S_ISREG(mode):
                raise NotRegularFile(unreadable_entry(path.name, error)) from error
            raise NotRegularFile(refused_entry(path.name, entry_kind(mode), True)) from error
        self.name = path.name
        self.stat = os.fstat(self.fd)
        if not stat.S_ISREG(self.stat.st_mode):
            os.close(self.fd)
            raise NotRegularFile(refused_entry(path.name, entry_kind(self.stat.st_mode), True))

    def __enter__(self) -> "RegularFile":
        return self

    def __exit__(self, *exc_info: object) -> None:
        os.close(self.fd)

    def blocks(self) -> Iterator[bytes]:
        """The file's bytes from its start, in 1 MiB blocks; a read error (EIO) raises
        `NotRegularFile` with the reason."""
        try:
            os.lseek(self.fd, 0, os.SEEK_SET)
            while block := os.read(self.fd, 1 << 20):
                yield block
        except OSError as error:
            raise NotRegularFile(unreadable_entry(self.name, error)) from error

    def sha256(self) -> str:
        """Hex SHA-256 of the file's bytes."""
        digest = hashlib.sha256()
        for block in self.blocks():
            digest.update(block)
        return digest.hexdigest()

    def copy_hashed(self, folder: Path) -> tuple[str, Path]:
        """Copy the file's bytes into `folder/<random>.partial` and hash them on the way, in
        one read: the digest is that of the bytes copied, even if the file is still being
        written. The partial file has the file's modification time; the caller names it by
        its digest (or deletes it)."""
        digest = hashlib.sha256()
        handle, name = tempfile.mkstemp(suffix=".partial", dir=folder)
        partial = Path(name)
        try:
            with os.fdopen(handle, "wb") as out:
                for block in self.blocks():
                    digest.update(block)
                    out.write(block)
            os.utime(partial, ns=(self.stat.st_atime_ns, self.stat.st_mtime_ns))
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return digest.hexdigest(), partial


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a regular file's bytes (`NotRegularFile` for anything else)."""
    with RegularFile(path) as opened:
        return opened.sha256()


@dataclass(frozen=True)
class InboxListing:
    """An inbox's regular files, oldest first, and the entries refused."""

    files: list[Path]
    refused: list[RefusedEntry]


def list_inbox(workspace: Workspace, slug: str) -> InboxListing:
    """The regular files in a client's inbox, oldest first, and what else is there (links,
    folders, FIFOs, devices), refused; lock files and system files are left out of both.

    Oldest first, so that of two byte-identical files the one delivered first is the original.
    Every entry is judged by `lstat`: nothing in the inbox is followed (the inbox folder itself
    may be the consultant's link to a synchronised folder).
    """
    inbox = workspace.inbox(slug)
    if not inbox.is_dir():
        return InboxListing([], [])
    files: list[tuple[int, str, Path]] = []
    refused: list[RefusedEntry] = []
    for path in inbox.iterdir():
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in IGNORED_NAMES):
            continue
        try:
            status = path.lstat()
        except FileNotFoundError:  # gone since the listing
            continue
        if stat.S_ISREG(status.st_mode):
            files.append((status.st_mtime_ns, path.name, path))
        else:
            refused.append(refused_entry(path.name, entry_kind(status.st_mode)))
    files.sort(key=lambda item: item[:2])
    refused.sort(key=lambda entry: entry.name)
    return InboxListing([path for _, _, path in files], refused)


def inbox_files(workspace: Workspace, slug: str) -> list[Path]:
    """The regular files in a client's inbox, oldest first (see `list_inbox`)."""
    return list_inbox(workspace, slug).files


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
    listing = list_inbox(workspace, slug)
    summary.refused.extend(listing.refused)
    for path in listing.files:
        summary.in_inbox += 1
        try:
            opened = RegularFile(path)
        except NotRegularFile as refusal:
            summary.refused.append(refusal.entry)
            continue
        except FileNotFoundError:  # removed since the listing
            continue
        with opened:
            try:
                digest, partial = opened.copy_hashed(archive)
            except NotRegularFile as refusal:
                summary.refused.append(refusal.entry)
                continue
            try:
                known = [
                    name
                    for (name,) in execute_sql(
                        con, "select_file_names_by_sha256", {"sha256": digest}
                    ).fetchall()
                ]
                if path.name in known:
                    summary.already_known += 1
                    continue
                status = opened.stat
                record = {
                    "sha256": digest,
                    "original_name": path.name,
                    "size_bytes": partial.stat().st_size,
                    "source": source_for(config, path.name),
                    "received_at": now,
                    "delivered_at": dt.datetime.fromtimestamp(status.st_mtime, dt.UTC).replace(
                        tzinfo=None
                    ),
                }
                if known:
                    message = f"same bytes as {known[0]!r}, already received: not loaded again"
                    execute_sql(
                        con, "insert_file", {**record, "status": "duplicate", "message": message}
                    )
                    summary.duplicates.append(path.name)
                    logger.info("%s: %s is a copy of %s", slug, path.name, known[0])
                    continue
                target = archive_path(workspace, slug, digest, path.name)
                if not target.exists():  # never modified: an archived file has these bytes
                    os.replace(partial, target)
                execute_sql(con, "insert_file", {**record, "status": "received", "message": None})
                summary.received.append(path.name)
                logger.info("%s: archived %s as %s", slug, path.name, target.name)
            finally:  # a copy not kept (known bytes, an error) is dropped
                partial.unlink(missing_ok=True)
    record_receptions(workspace, slug, con)
    for entry in summary.refused:
        logger.warning("%s: refused %s", slug, entry.message)
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
    listing = list_inbox(workspace, slug)
    for path in listing.files:
        try:
            status = path.lstat()
        except FileNotFoundError:
            continue
        digest.update(f"{path.name}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    for entry in listing.refused:  # a link that appears is news for the consultant too
        digest.update(f"{entry.name}\0{entry.kind}\n".encode())
    return digest.hexdigest()


def unarchived_files(workspace: Workspace, slug: str) -> list[Path]:
    """Inbox files whose bytes are not in the archive yet (they need a run)."""
    unarchived = []
    for path in inbox_files(workspace, slug):
        try:
            digest = sha256_of(path)
        except FileNotFoundError:
            continue
        except NotRegularFile as refusal:  # listed by the run, which archives the rest
            logger.warning("%s: %s", slug, refusal.entry.message)
            continue
        if not archive_path(workspace, slug, digest, path.name).exists():
            unarchived.append(path)
    return unarchived


def refused_summary(refused: list[RefusedEntry]) -> str:
    """One line for the check's result (the digest shows it): what was refused, or that
    everything in the inbox is a regular file."""
    if not refused:
        return "Everything in the inbox is a regular file."
    shown = ", ".join(f"{entry.name!r} ({entry.kind})" for entry in refused[:3])
    more = f" and {len(refused) - 3} more" if len(refused) > 3 else ""
    count = f"{len(refused)} inbox entr{'y' if len(refused) == 1 else 'ies'}"
    return f"{count} refused unread, not regular files: {shown}{more}"
