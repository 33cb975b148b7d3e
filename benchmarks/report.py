"""The machine a benchmark ran on, and the results table (Markdown, for stdout and RESULTS.md)."""

import datetime as dt
import os
import platform
import subprocess
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

GIB = 1 << 30
MIB = 1 << 20


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    step: str
    seconds: str
    ratio: str
    peak_rss: str
    target: str
    result: str


HEADERS = ("step", "seconds: median (min-max)", "ratio to floor", "peak RSS", "target", "result")


def machine_description() -> list[str]:
    """Cores, memory, CPU model, OS, and the versions of Python, DuckDB and python-calamine."""
    return [
        f"CPU: {_cpu_model()}, {os.cpu_count()} cores (os.cpu_count())",
        f"memory: {_memory_gib():.1f} GiB (MemTotal)",
        "load average at the start: " + " ".join(f"{load:.2f}" for load in os.getloadavg()),
        f"OS: {platform.platform()}",
        f"Python {platform.python_version()}, duckdb {version('duckdb')}, "
        f"python-calamine {version('python-calamine')}, openpyxl {version('openpyxl')}",
    ]


def code_version(repo: Path) -> str:
    """The commit of the measured code, and whether `pipelines/` or `sql/` differ from it."""
    try:
        commit = _git(repo, "rev-parse", "--short", "HEAD")
        changed = _git(repo, "status", "--porcelain", "--", "pipelines", "sql")
    except (OSError, subprocess.CalledProcessError):
        return f"code: {repo} (not a git checkout)"
    state = "with uncommitted changes" if changed else "as committed"
    return f"code: git {commit}, pipelines/ and sql/ {state}"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def _cpu_model() -> str:
    for line in _read_lines(Path("/proc/cpuinfo")):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    for line in _read_lines(Path("/proc/meminfo")):
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024 / GIB
    return float("nan")


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []


def say(text: str = "") -> None:
    """The one output helper of the benchmarks: their figures are the product, on stdout."""
    print(text, flush=True)


def show_bytes(size: int) -> str:
    """`812 MiB`, `3.42 GiB`."""
    return f"{size / GIB:.2f} GiB" if size >= GIB else f"{size / MIB:.0f} MiB"


def markdown_table(rows: list[Row]) -> list[str]:
    """The rows as a Markdown table, columns padded so that it also reads as plain text."""
    return text_table(
        HEADERS, [(r.step, r.seconds, r.ratio, r.peak_rss, r.target, r.result) for r in rows]
    )


def text_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Any rows of cells as a Markdown table, columns padded so that it also reads as plain
    text; every row has as many cells as `headers`."""
    cells = [headers, *rows]
    widths = [max(len(line[column]) for line in cells) for column in range(len(headers))]
    lines = [_table_line(line, widths) for line in cells]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return lines


def _table_line(cells: tuple[str, ...], widths: list[int]) -> str:
    padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
    return "| " + " | ".join(padded) + " |"


def results_markdown(
    rows: list[Row] | list[str],
    machine: list[str],
    notes: list[str],
    when: dt.datetime,
    *,
    title: str = "Ingestion benchmark",
    command: str = "python -m benchmarks.ingest",
    after: list[str] | None = None,
) -> str:
    """The content of a RESULTS file: title, date, machine, workloads and method, the table
    (`Row`s, or lines already made by `text_table`), then the lines of `after`."""
    table = markdown_table(rows) if rows and isinstance(rows[0], Row) else list(rows)
    lines = [
        f"# {title} (`make bench`)",
        "",
        f"Run on {when:%Y-%m-%d %H:%M} by `{command}`; written by the run,",
        "overwritten by the next one.",
        "",
        "Machine:",
        "",
        *(f"- {line}" for line in machine),
        "",
        "Workloads and method:",
        "",
        *(f"- {line}" for line in notes),
        "",
        *table,
        "",
        *(after or []),
    ]
    return "\n".join(lines)
