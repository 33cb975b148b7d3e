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
    """Whether no process `pid` runs on this machine any more; with `started_by` (a POSIX
    time), a process with that pid that started after it (plus a little slack) is another one
    that reused the number, so the one asked about is gone too."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # someone else's process: it exists
    if started_by is None:
        return False
    started = process_start_time(pid)
    return started is not None and started > started_by + _START_SLACK_SECONDS


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (POSIX time), from `/proc`; None where it cannot be known."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text(encoding="ascii")
        boot = next(
            float(line.split()[1])
            for line in (_PROC / "stat").read_text(encoding="ascii").splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return boot + int(fields[19]) / ticks
