"""Whether the process that ran something is still there: for runs whose process was killed
(`kill -9`, a closed terminal, a machine put to sleep), which nothing else would ever end."""

import os
import socket
from pathlib import Path

_PROC = Path("/proc")
_START_SLACK_SECONDS = 2.0
"""A process that started this long after what it is said to run is another process that
reused the pid."""


def this_host() -> str:
    """The machine's name, as run tags record it."""
    return socket.gethostname()


def process_gone(pid: int, started_by: float | None = None) -> bool:
    """Whether no process `pid` runs on this machine any more (a zombie, killed but not yet
    reaped by its parent, such as a run worker of Dagster's code server, is gone too); with
    `started_by` (a POSIX time), a process with that pid that started after it (plus a little
    slack) is another one that reused the number, so the one asked about is gone too."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # someone else's process: it exists
    fields = _stat_fields(pid)
    if fields is not None and fields[0] == "Z":
        return True
    if started_by is None:
        return False
    started = process_start_time(pid)
    return started is not None and started > started_by + _START_SLACK_SECONDS


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (POSIX time), from `/proc`; None where it cannot be known."""
    fields = _stat_fields(pid)
    try:
        boot = next(
            float(line.split()[1])
            for line in (_PROC / "stat").read_text(encoding="ascii").splitlines()
            if line.startswith("btime ")
        )
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK") if fields else None
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of `/proc/<pid>/stat` after the command name (state first), or None."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its last ")".
    return stat[stat.rindex(")") + 2 :].split()
