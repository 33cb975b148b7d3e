"""The measured steps, each run alone in a fresh process by `benchmarks.ingest --step NAME`.

A step returns a `StepResult`: the seconds of the measured work only (setup, such as copying the
file into the inbox, is not timed), the peak RSS of its process (interpreter and imports
included) and before the work, and the values it produced.
A Cap step checks what it stored and raises `LoadFailed` when the load is not what was expected.
"""

import datetime as dt
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
from python_calamine import CalamineWorkbook

from benchmarks.workloads import SLUG
from pipelines.config.loader import CONFIG_FILE_NAME, load_client_config
from pipelines.config.model import ClientConfig
from pipelines.ingest.archive import archive_inbox
from pipelines.ingest.load import LoadSummary, load_received
from pipelines.quality.deliveries import check_deliveries
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

MAX_SHOWN_REJECTIONS = 5


class LoadFailed(Exception):
    """A Cap load that rejected the file or stored another number of values than expected."""


@dataclass(frozen=True)
class StepResult:
    """What one run of a step measured."""

    seconds: float
    peak_rss_bytes: int
    values: int
    rss_before_bytes: int


def peak_rss_bytes(pid: int | str = "self") -> int:
    """The peak resident set size of a process so far: `VmHWM` of /proc/<pid>/status.

    Not `ru_maxrss`: Linux carries the parent's peak RSS over fork and exec into it, so a child
    of a large parent would report the parent's size. Outside Linux, `ru_maxrss` of this process
    (0 for another process).
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 if pid == "self" else 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def calamine_read(xlsx: Path) -> StepResult:
    """Floor 1: python-calamine's raw read of every sheet of the workbook."""
    before = peak_rss_bytes()
    start = time.perf_counter()
    cells = 0
    with CalamineWorkbook.from_path(str(xlsx)) as workbook:
        for name in workbook.sheet_names:
            rows = workbook.get_sheet_by_name(name).to_python()
            cells += sum(len(row) for row in rows)
    seconds = time.perf_counter() - start
    return StepResult(seconds, peak_rss_bytes(), cells, before)


def duckdb_read_csv(csv: Path, home: Path) -> StepResult:
    """Floor 2: DuckDB's `read_csv` of the CSV (all columns as text) into a table of a new
    database file in the empty folder `home`.

    The file is cp1252; its only non-ASCII letters are the same in latin-1, which DuckDB reads.
    """
    database = home / "floor.duckdb"
    before = peak_rss_bytes()
    start = time.perf_counter()
    with duckdb.connect(str(database)) as con:
        con.execute(
            "create table t as select * from read_csv($path, delim = ';', header = true, "
            "all_varchar = true, encoding = 'latin-1')",
            {"path": str(csv)},
        )
        (rows,) = con.execute("select count(*) from t").fetchone()
    seconds = time.perf_counter() - start
    return StepResult(seconds, peak_rss_bytes(), rows, before)


def cap_ingest(workload: Path, config_yaml: Path, expected_values: int, home: Path) -> StepResult:
    """Cap: `archive_inbox` then `load_received` of one file into an empty warehouse.

    The workspace is new, in the empty folder `home` (`Workspace.ensure()`); the client.yaml is
    validated with `load_client_config` and the file copied into the inbox before the clock
    starts.
    """
    workspace, config = _client_with_workload(workload, config_yaml, home)
    now = dt.datetime.now(dt.UTC)
    before = peak_rss_bytes()
    start = time.perf_counter()
    with open_warehouse(workspace.warehouse(SLUG)) as con:
        archive_inbox(workspace, SLUG, config, con, now)
        summary = load_received(workspace, SLUG, config, con, now.date())
    seconds = time.perf_counter() - start
    peak = peak_rss_bytes()
    check_load(workspace, summary, expected_values)
    return StepResult(seconds, peak, summary.values_stored, before)


def cap_validate(workload: Path, config_yaml: Path, expected_values: int, home: Path) -> StepResult:
    """Cap: validation of a freshly loaded delivery (the Great Expectations suite of the blocking
    check, `check_deliveries`); the archive and load before it, and importing Great Expectations
    (a fixed cost per process), are not timed."""
    workspace, config = _client_with_workload(workload, config_yaml, home)
    now = dt.datetime.now(dt.UTC)
    with open_warehouse(workspace.warehouse(SLUG)) as con:
        archive_inbox(workspace, SLUG, config, con, now)
        summary = load_received(workspace, SLUG, config, con, now.date())
    check_load(workspace, summary, expected_values)
    import great_expectations  # noqa: F401  (its import, seconds once per process, is not timed)

    with open_warehouse(workspace.warehouse(SLUG)) as con:
        before = peak_rss_bytes()
        start = time.perf_counter()
        result = check_deliveries(workspace, SLUG, config, con, now.date(), now)
        seconds = time.perf_counter() - start
    if not result.outcome.success:
        raise LoadFailed(f"validation failed: {result.outcome.metadata()['failing_rules']}")
    return StepResult(seconds, peak_rss_bytes(), summary.values_stored, before)


def _client_with_workload(
    workload: Path, config_yaml: Path, home: Path
) -> tuple[Workspace, ClientConfig]:
    """A new workspace in the empty folder `home`: the client.yaml validated, the workload in the
    client's inbox."""
    workspace = Workspace(home)
    workspace.ensure()
    workspace.inbox(SLUG).mkdir(parents=True)
    config_path = workspace.client_dir(SLUG) / CONFIG_FILE_NAME
    shutil.copyfile(config_yaml, config_path)
    config = load_client_config(config_path)
    shutil.copy2(workload, workspace.inbox(SLUG) / workload.name)
    return workspace, config


def check_load(workspace: Workspace, summary: LoadSummary, expected_values: int) -> None:
    """Raise `LoadFailed` unless one file was loaded, none rejected, and exactly
    `expected_values` values are in `kpi_observations`."""
    with open_warehouse(workspace.warehouse(SLUG), read_only=True) as con:
        (stored,) = con.execute("select count(*) from kpi_observations").fetchone()
        rejections = con.execute(
            "select coalesce(sheet || ', ', '') || coalesce('row ' || \"row\" || ', ', '') "
            "|| rule || ': ' || message from rejections limit $n",
            {"n": MAX_SHOWN_REJECTIONS},
        ).fetchall()
    if summary.rejected or rejections:
        shown = [text for (text,) in rejections] or list(summary.messages.values())
        raise LoadFailed("the file was rejected:\n  " + "\n  ".join(shown))
    if len(summary.loaded) != 1 or stored != expected_values:
        raise LoadFailed(
            f"expected 1 file loaded and {expected_values} values stored, got "
            f"{len(summary.loaded)} file(s) and {stored} values"
        )
