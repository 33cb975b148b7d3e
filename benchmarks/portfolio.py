"""`make bench`, portfolio part (issue 8): Cap's nightly run over a scaled portfolio against the
floors of the libraries it uses, in one run.

    python -m benchmarks.portfolio [--clients 50] [--sites 10] [--months 48]
        [--csv-rows 1000000] [--as-of YYYY-MM-DD] [--seed N] [--keep] [--workspace DIR]

Generates a seeded portfolio (`benchmarks.portfolio_workspace`), then measures:

- floors, each in a fresh process, median of `--floor-repeats` runs: python-calamine's raw read
  of every workbook; DuckDB's `read_csv` of the CSV into a table of a new database file;
  matplotlib drawing and saving one plain 800 x 450 line chart, times the number of chart PNGs
  the full run wrote;
- `cap run` as the nightly schedule runs it: from empty warehouses (a fresh CAP_HOME with the
  client folders), again with no change, and after one client received one new file; the wall
  time of each `cap run` process and its peak RSS (`VmHWM`, polled every 0.1 s);
- the time per stage of each of those runs, from the Dagster instance (each step's start to
  end, summed over clients), and what is left to Dagster and the process around the steps.

Prints the tables and writes them, with the machine's description, to `benchmarks/RESULTS.md`.
A missed target is NOT MET with exit code 0 (a benchmark, not a test); a `cap run` that fails
stops the benchmark with exit code 1 and the tail of its output.
"""

import argparse
import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pipelines
from benchmarks import steps
from benchmarks.ingest import StepFailed, Stop, run_guarded
from benchmarks.portfolio_workspace import (
    CSV_SLUG,
    Portfolio,
    PortfolioSpec,
    describe,
    inbox_files,
    write_portfolio,
)
from benchmarks.report import (
    GIB,
    code_version,
    machine_description,
    results_markdown,
    say,
    show_bytes,
    text_table,
)
from benchmarks.steps import StepResult
from pipelines.delivery.smtp import MAIL_ENV_VARS

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "RESULTS.md"
TARGET_FULL_RATIO = 3.0
"""The full run, at most this many times the sum of the floors."""
TARGET_NO_CHANGE_SHARE = 0.10
"""The run with no change, at most this share of the full run."""
TARGET_ONE_CLIENT_RATIO = 2.0
"""The run after one client changed, at most this many times that client's share of the full run."""
TARGET_RSS_BYTES = int(1.5 * GIB)
POLL_SECONDS = 0.1
TREE_SCAN_POLLS = 10
"""Look for new child processes every this many polls (a scan of /proc)."""
FLOOR_CHARTS = 20
"""Charts drawn by the matplotlib floor's process; it reports their median."""
FLOOR_MAX_RSS = 6 * GIB
TAIL_LINES = 40
CODE_FOLDERS = ("pipelines", "sql", "reports")
"""Cap's code, as `pipelines.inputs` fingerprints it, copied once for every `cap run`."""
PREPARE_INSTANCE = (
    "import dagster, pipelines; dagster.DagsterInstance.get().get_runs(limit=1); "
    "print(pipelines.__file__)"
)
"""Creates the Dagster instance's storage and says where `pipelines` is imported from."""

STAGES = {
    "raw_files": "ingest",
    "kpi_observations": "ingest",
    "kpi_values": "KPIs",
    "kpi_series": "KPIs",
    "impact": "impact",
    "report": "charts + report",
}
"""Stage of each asset's step; an asset check's step (its own op) is `validate`."""
STAGE_ORDER = ("ingest", "validate", "KPIs", "impact", "charts + report")
SUMMARY_LINE = re.compile(
    r"^(?P<slug>[a-z0-9][a-z0-9-]*)\s+(?P<status>[A-Za-z]+)\s+(?P<loaded>\d+)\s+"
    r"(?P<rejected>\d+)\s+(?P<values>\d+)\s+(?P<checks>\d+)\s+(?P<reports>\d+)\s+"
    r"(?P<seconds>[\d.]+)s$"
)
"""A client's line in `cap run`'s summary table (`pipelines.run._print_summary`)."""
SUCCESS_STATUSES = frozenset({"ok", "same"})
"""Summary statuses of a client whose run succeeded (`same`: unchanged, skipped)."""


@dataclass(frozen=True)
class Floor:
    """A floor: its `--floor` name and its label in the table."""

    name: str
    label: str


FLOORS = (
    Floor("calamine", "floor: python-calamine raw read of every workbook"),
    Floor("duckdb", "floor: DuckDB read_csv of the CSV into a new database"),
    Floor("matplotlib", "floor: matplotlib, one plain 800x450 line chart"),
)


@dataclass(frozen=True)
class ClientLine:
    """A client's line of `cap run`'s summary."""

    slug: str
    status: str
    loaded: int
    rejected: int
    values: int
    checks_failed: int
    reports: int
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether the client's run succeeded (or was skipped, its inputs unchanged)."""
        return self.status in SUCCESS_STATUSES


@dataclass
class CapRun:
    """One `cap run` process: wall time, peak RSS, exit code, its summary, its log files."""

    name: str
    label: str
    seconds: float = 0.0
    peak_rss_bytes: int = 0
    main_peak_rss_bytes: int = 0
    """`VmHWM` of the `cap run` process alone (its children left out)."""
    exit_code: int | None = None
    processes: dict[str, int] = field(default_factory=dict)
    """Processes seen in its tree, by command name."""
    started_at: float = 0.0
    ended_at: float = 0.0
    load_before: float = 0.0
    clients: dict[str, ClientLine] = field(default_factory=dict)
    stdout: Path | None = None
    stderr: Path | None = None

    def tail(self) -> str:
        """The last lines of its output and error streams."""
        parts = []
        for path in (self.stdout, self.stderr):
            if path and path.exists():
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
                parts.append(f"--- {path.name} (last {TAIL_LINES} lines)")
                parts.extend(lines[-TAIL_LINES:])
        return "\n".join(parts)


@dataclass
class Stages:
    """Where the time of one `cap run` went, from the Dagster instance."""

    runs: int = 0
    run_seconds: float = 0.0
    """Sum over its Dagster runs of run start to run end."""
    step_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    """Seconds by stage, summed over clients."""
    steps_by_key: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    per_client: dict[str, float] = field(default_factory=dict)
    """Each client's Dagster run, start to end."""
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_start: float | None = None
    last_end: float | None = None
    """The first Dagster run's start and the last one's end (Unix time)."""

    @property
    def span(self) -> float:
        """From the first run's start to the last run's end: the time clients ran."""
        if self.first_start is None or self.last_end is None:
            return 0.0
        return self.last_end - self.first_start

    @property
    def steps_total(self) -> float:
        """Seconds in steps, every stage together."""
        return sum(self.step_seconds.values())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: portfolio size, date, seed, folders; `--floor` runs one floor
    (internal)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.portfolio", description=__doc__.split("\n\n")[0]
    )
    defaults = PortfolioSpec()
    parser.add_argument("--clients", type=int, default=defaults.clients, help="default: 50")
    parser.add_argument("--sites", type=int, default=defaults.sites, help="per client (10)")
    parser.add_argument("--months", type=int, default=defaults.months, help="default: 48")
    parser.add_argument(
        "--csv-rows", type=int, default=defaults.csv_rows, help="default: %(default)s"
    )
    parser.add_argument(
        "--csv-sites",
        type=int,
        default=defaults.csv_sites,
        help="depots of the CSV client; its weeks are csv-rows / (depots x 10) (default: 100)",
    )
    parser.add_argument(
        "--as-of",
        type=dt.date.fromisoformat,
        default=dt.date.today(),
        help="data end at the last complete month before this date (default: today)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="default: %(default)s")
    parser.add_argument(
        "--floor-repeats", type=int, default=3, help="fresh-process runs per floor (default: 3)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="stop a cap run after this many seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        help="folder for the portfolio, CAP_HOME and logs (new or empty; kept); default: a "
        "temporary folder, removed unless --keep",
    )
    parser.add_argument("--keep", action="store_true", help="keep the workspace folder")
    parser.add_argument("--output", type=Path, default=RESULTS, help="default: %(default)s")
    parser.add_argument("--floor", choices=[f.name for f in FLOORS], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.clients, args.sites, args.months, args.csv_rows, args.csv_sites) < 1:
        parser.error("--clients, --sites, --months, --csv-rows and --csv-sites must be >= 1")
    if args.floor_repeats < 1:
        parser.error("--floor-repeats must be at least 1")
    return args


# --- floors, each in its own process ----------------------------------------------------------


def run_floor(args: argparse.Namespace) -> int:
    """In the floor's own process: measure it once, print the result as JSON on stdout."""
    if args.floor == "calamine":
        result = calamine_floor(args.data)
    elif args.floor == "duckdb":
        result = steps.duckdb_read_csv(args.data, args.home)
    else:
        result = matplotlib_floor(args.home)
    say(json.dumps(dataclasses.asdict(result)))  # the last line, which the parent reads
    return 0


def calamine_floor(clients_dir: Path) -> StepResult:
    """python-calamine's raw read (every sheet, `to_python()`) of every workbook of every
    client's inbox, one after the other; `values` counts cells."""
    before = steps.peak_rss_bytes()
    seconds, cells = 0.0, 0
    for workbook in inbox_files(clients_dir, [".xlsx"]):
        result = steps.calamine_read(workbook)
        seconds += result.seconds
        cells += result.values
    return StepResult(seconds, steps.peak_rss_bytes(), cells, before)


def matplotlib_floor(folder: Path) -> StepResult:
    """The report bench's floor (`benchmarks.reports.floor_ms`): median seconds to draw and
    save one plain 48-point line chart at 800 x 450, over `FLOOR_CHARTS` charts."""
    from benchmarks.reports import floor_ms

    before = steps.peak_rss_bytes()
    seconds = floor_ms(FLOOR_CHARTS, folder) / 1000
    return StepResult(seconds, steps.peak_rss_bytes(), 1, before)


def measure_floor(
    floor: Floor, data: Path | None, scratch: Path, repeats: int, timeout: float
) -> list[StepResult]:
    """Run a floor `repeats` times, each in a fresh process and an empty folder."""
    results = []
    for run in range(1, repeats + 1):
        home = scratch / f"{floor.name}-{run}"
        home.mkdir(parents=True)
        command = [sys.executable, "-m", "benchmarks.portfolio", "--floor", floor.name]
        command += ["--home", str(home)] + (["--data", str(data)] if data else [])
        outcome = run_guarded(command, home, timeout, FLOOR_MAX_RSS)
        shutil.rmtree(home, ignore_errors=True)
        if isinstance(outcome, Stop):
            raise StepFailed(f"{floor.name}: stopped, {outcome.reason}")
        results.append(outcome)
        say(
            f"  {floor.name} run {run}/{repeats}: {outcome.seconds:.3f} s, "
            f"peak RSS {show_bytes(outcome.peak_rss_bytes)}"
        )
    return results


# --- cap run ----------------------------------------------------------------------------------


def snapshot_code(folder: Path) -> Path:
    """A copy of Cap's code (`CODE_FOLDERS` of the checkout) in `folder`, which the `cap run`s
    import (PYTHONPATH): edits made in the checkout while the benchmark runs change neither what
    is measured nor the code fingerprint that decides whether a client is unchanged."""
    root = Path(pipelines.__file__).resolve().parent.parent
    for name in CODE_FOLDERS:
        shutil.copytree(root / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def cap_environment(home: Path, code: Path) -> dict[str, str]:
    """The environment of a nightly `cap run` on `home`, with the code of `code`: its
    DAGSTER_HOME, no telemetry, no SMTP server (emails go to the outbox)."""
    env = dict(os.environ)
    env.update(
        CAP_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
        DAGSTER_DISABLE_TELEMETRY="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")])),
    )
    env.update(dict.fromkeys(MAIL_ENV_VARS, ""))
    return env


def cap_command(*args: str) -> list[str]:
    """The `cap` console script of this interpreter's environment, with `args`."""
    return [str(Path(sys.executable).parent / "cap"), *args]


def prepare_home(portfolio: Portfolio, home: Path, code: Path) -> None:
    """A fresh CAP_HOME holding the client folders (inbox files keep their times), its
    `dagster.yaml` (`cap init`) and its Dagster instance storage, created before the clock
    starts, as on a machine where Cap already runs. Checks that `cap` imports the code of
    `code`."""
    shutil.copytree(portfolio.clients_dir, home / "clients")
    env = cap_environment(home, code)
    subprocess.run(
        cap_command("init", "--home", str(home)),
        cwd=home,
        env=env,
        check=True,
        capture_output=True,
    )
    imported = subprocess.run(
        [sys.executable, "-c", PREPARE_INSTANCE],
        cwd=home,  # not the checkout: `python -c` imports from its working folder first
        env=env,
        check=True,
        capture_output=True,
    ).stdout.decode()
    if not Path(imported.strip()).is_relative_to(code):
        raise RuntimeError(f"cap would import {imported.strip()}, not the copy in {code}")


def run_cap(home: Path, code: Path, logs: Path, run: CapRun, timeout: float) -> CapRun:
    """Run `cap run --home HOME` as the nightly schedule does, and measure it: wall time of the
    process (interpreter start and imports included), its peak RSS, its summary table."""
    run.stdout, run.stderr = logs / f"{run.name}.out", logs / f"{run.name}.err"
    run.load_before = os.getloadavg()[0]
    with run.stdout.open("w") as stdout, run.stderr.open("w") as stderr:
        run.started_at = time.time()
        start = time.perf_counter()
        process = subprocess.Popen(
            cap_command("run", "--home", str(home)),
            cwd=home,
            env=cap_environment(home, code),
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        status, maxrss, tree = _watch(process, timeout)
        run.seconds = time.perf_counter() - start
        run.ended_at = time.time()
    run.exit_code = status
    run.peak_rss_bytes = max(tree.peak, maxrss)
    # `ru_maxrss` from wait4 also covers the children it waited for (the worker processes):
    # the process alone is its own high-water mark, polled.
    run.main_peak_rss_bytes = tree.root_peak
    run.processes = dict(Counter(tree.seen.values()))
    run.clients = parse_summary(run.stdout.read_text(encoding="utf-8", errors="replace"))
    return run


@dataclass
class _Tree:
    """The processes of a run seen so far and the highest RSS measured."""

    root: int
    seen: dict[int, str] = field(default_factory=dict)
    """Process id -> command name, of every process seen."""
    alive: set[int] = field(default_factory=set)
    peak: int = 0
    """Highest of any process's `VmHWM` and of the tree's summed `VmRSS`."""
    root_peak: int = 0
    """`VmHWM` of the root process alone."""

    def poll(self, scan: bool) -> None:
        """Read the RSS of the tree; with `scan`, look for new descendants first."""
        if scan or not self.seen:
            for pid in {self.root, *_descendants(self.root)} - self.seen.keys():
                self.seen[pid] = _command_name(pid)
                self.alive.add(pid)
        total = 0
        for pid in list(self.alive):
            hwm, rss = _memory(pid)
            if not hwm and not rss:  # gone: never read its number again (it may be reused)
                self.alive.discard(pid)
            total += rss
            self.peak = max(self.peak, hwm)
            if pid == self.root:
                self.root_peak = max(self.root_peak, hwm)
        self.peak = max(self.peak, total)


def _watch(process: subprocess.Popen, timeout: float) -> tuple[int, int, _Tree]:
    """Wait for the process, polling its tree's memory; kill its process group past
    `timeout`. Returns its exit code, its own `ru_maxrss` in bytes (0 when it may be the
    parent's, carried over fork), and the tree."""
    tree = _Tree(process.pid)
    parent_peak = steps.peak_rss_bytes()
    deadline = time.monotonic() + timeout
    polls = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        tree.poll(scan=polls % TREE_SCAN_POLLS == 0)
        polls += 1
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(process.pid, 0)
            say(f"  stopped: still running after {timeout:.0f} s (--timeout)")
            break
        time.sleep(POLL_SECONDS)
    process.returncode = os.waitstatus_to_exitcode(status)
    maxrss = usage.ru_maxrss * 1024
    return process.returncode, maxrss if maxrss > parent_peak else 0, tree


def _descendants(root: int) -> set[int]:
    """Every process whose parent chain leads to `root` (a scan of /proc)."""
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents[ppid].append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    except OSError:
        return "?"


def _memory(pid: int) -> tuple[int, int]:
    """`VmHWM` and `VmRSS` of a process in bytes (0, 0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return 0, 0
    values = {}
    for line in status.splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            name, amount = line.split()[:2]
            values[name] = int(amount) * 1024
    return values.get("VmHWM:", 0), values.get("VmRSS:", 0)


def parse_summary(text: str) -> dict[str, ClientLine]:
    """The clients' lines of `cap run`'s summary table, by slug."""
    clients = {}
    for line in text.splitlines():
        match = SUMMARY_LINE.match(line.strip())
        if match:
            g = match.groupdict()
            clients[g["slug"]] = ClientLine(
                g["slug"],
                g["status"],
                *(int(g[key]) for key in ("loaded", "rejected", "values", "checks", "reports")),
                float(g["seconds"]),
            )
    return clients


# --- where the time went, from the Dagster instance -------------------------------------------


def stages_of(dagster_home: Path, run: CapRun) -> Stages:
    """The Dagster runs made by one `cap run` (created while it ran): their wall times, and
    their steps' times grouped by stage."""
    import dagster as dg

    stages = Stages()
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_run_records(
            filters=dg.RunsFilter(
                created_after=dt.datetime.fromtimestamp(run.started_at, dt.UTC),
                created_before=dt.datetime.fromtimestamp(run.ended_at, dt.UTC),
            )
        )
        for record in records:
            dagster_run = record.dagster_run
            stages.runs += 1
            stages.statuses[dagster_run.status.value] += 1
            wall = (record.end_time or 0.0) - (record.start_time or 0.0)
            if record.start_time is not None and record.end_time is not None:
                stages.first_start = min(stages.first_start or record.start_time, record.start_time)
                stages.last_end = max(stages.last_end or record.end_time, record.end_time)
            stages.run_seconds += max(wall, 0.0)
            slug = dagster_run.tags.get("dagster/partition", dagster_run.run_id)
            stages.per_client[slug] = stages.per_client.get(slug, 0.0) + max(wall, 0.0)
            for step in instance.get_run_step_stats(dagster_run.run_id):
                if step.start_time is None or step.end_time is None:
                    continue
                seconds = step.end_time - step.start_time
                stages.step_seconds[STAGES.get(step.step_key, "validate")] += seconds
                stages.steps_by_key[step.step_key] += seconds
    return stages


# --- the tables -------------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def main_table(
    floors: dict[str, list[StepResult]], charts: int, runs: dict[str, CapRun], changed: str
) -> tuple[list[str], int]:
    """The results table (figures, ratios to the floors or shares, targets) and how many
    targets were missed."""
    median = _medians(floors)
    chart_floor = median["matplotlib"] * charts
    floor_sum = median["calamine"] + median["duckdb"] + chart_floor
    full, same, one = runs["full"], runs["no-change"], runs["one-client"]
    share = full.clients[changed].seconds if changed in full.clients else float("nan")
    chart_label = (
        f"floor: matplotlib, one plain 800x450 line chart ({1000 * median['matplotlib']:.0f} ms)"
        f" x {charts} charts"
    )
    rows = [
        _floor_row(FLOORS[0].label, floors["calamine"], median["calamine"]),
        _floor_row(FLOORS[1].label, floors["duckdb"], median["duckdb"]),
        _floor_row(chart_label, floors["matplotlib"], chart_floor),
        ("sum of the floors", f"{floor_sum:.3f}", "-", "", "", "-"),
    ]
    checks = [
        (
            full,
            f"{full.seconds / floor_sum:.1f}x the floors",
            f"<= {TARGET_FULL_RATIO:g}x the floors",
            full.seconds <= TARGET_FULL_RATIO * floor_sum,
        ),
        (
            same,
            f"{same.seconds / full.seconds:.0%} of the full run",
            f"<= {TARGET_NO_CHANGE_SHARE:.0%} of the full run",
            same.seconds <= TARGET_NO_CHANGE_SHARE * full.seconds,
        ),
        (
            one,
            f"{one.seconds / share:.1f}x {changed}'s {share:.1f} s in the full run",
            f"<= {TARGET_ONE_CLIENT_RATIO:g}x that client's share",
            one.seconds <= TARGET_ONE_CLIENT_RATIO * share,
        ),
    ]
    missed = 0
    for run, ratio, target, ok in checks:
        rss = show_bytes(run.peak_rss_bytes)
        rows.append((run.label, f"{run.seconds:.2f}", ratio, rss, target, _met(ok)))
        missed += not ok
    peak = max(run.peak_rss_bytes for run in runs.values())
    ok = peak <= TARGET_RSS_BYTES
    missed += not ok
    rows.append(
        (
            "peak RSS of `cap run` (highest of the three)",
            "",
            "",
            show_bytes(peak),
            f"<= {show_bytes(TARGET_RSS_BYTES)}",
            _met(ok),
        )
    )
    headers = ("what", "seconds", "ratio to floor / share", "peak RSS", "target", "result")
    return text_table(headers, rows), missed


def _floor_row(label: str, results: list[StepResult], seconds: float) -> tuple[str, ...]:
    times = [r.seconds for r in results]
    spread = f" (runs {min(times):.3f}-{max(times):.3f})" if len(times) > 1 else ""
    rss = show_bytes(max(r.peak_rss_bytes for r in results))
    return (label + spread, f"{seconds:.3f}", "-", rss, "floor", "-")


def stage_table(runs: dict[str, CapRun], stages: dict[str, Stages]) -> list[str]:
    """Seconds by stage for each `cap run`, summed over clients (with several workers, clients
    run side by side, so these add up to more than the wall time), with the share of the full
    run's client time; then what Dagster and the process spent around the steps."""
    names = list(runs)
    full = _client_seconds(runs["full"])
    rows = []

    def add(label: str, values: list[float], share: str | None = None) -> None:
        cells = [f"{value:.2f}" for value in values]
        rows.append((label, *cells, share or f"{values[0] / full:.0%}"))

    for stage in STAGE_ORDER:
        add(stage, [stages[name].step_seconds.get(stage, 0.0) for name in names])
    add("all steps", [stages[name].steps_total for name in names])
    add(
        "Dagster inside its runs (run start to end, minus steps)",
        [stages[name].run_seconds - stages[name].steps_total for name in names],
    )
    add(
        "Dagster around its runs (each client's time in `cap run`, skip test included, "
        "minus its run)",
        [_client_seconds(runs[name]) - stages[name].run_seconds for name in names],
    )
    add("clients, summed (`cap run`'s summary)", [_client_seconds(runs[name]) for name in names])
    wall = runs["full"].seconds
    add(
        "clients side by side: first Dagster run's start to the last one's end",
        [stages[name].span for name in names],
        f"{stages['full'].span / wall:.0%} of the wall time",
    )
    outside = [runs[name].seconds - stages[name].span for name in names]
    add(
        "process outside them: start, imports, skip tests, workers' start, summary",
        outside,
        f"{outside[0] / wall:.0%} of the wall time",
    )
    add("`cap run` wall time", [runs[name].seconds for name in names], "100% of the wall time")
    headers = ("stage (seconds)", *(runs[name].label.split(":")[0] for name in names))
    return text_table((*headers, "share of the full run's client time"), rows)


def _processes(run: CapRun) -> str:
    return ", ".join(f"{name} x{count}" for name, count in sorted(run.processes.items()))


def _client_seconds(run: CapRun) -> float:
    return sum(line.seconds for line in run.clients.values())


def client_lines(run: CapRun, changed: str) -> list[str]:
    """The distribution of the clients' times in a run, and the slowest ones."""
    times = sorted(run.clients.values(), key=lambda line: line.seconds)
    seconds = [line.seconds for line in times]
    xlsx = [line.seconds for line in times if line.slug != CSV_SLUG]
    lines = [
        f"per client in the full run ({len(seconds)} clients, `cap run`'s summary): "
        f"min {seconds[0]:.1f} s, median {statistics.median(seconds):.1f} s, "
        f"max {seconds[-1]:.1f} s, sum {sum(seconds):.1f} s",
    ]
    if xlsx:
        lines.append(
            f"workbook clients: median {statistics.median(xlsx):.1f} s, "
            f"sum {sum(xlsx):.1f} s; CSV client `{CSV_SLUG}`: "
            f"{run.clients[CSV_SLUG].seconds:.1f} s; `{changed}` (the one that changes): "
            f"{run.clients[changed].seconds:.1f} s"
        )
    slowest = ", ".join(f"{line.slug} {line.seconds:.1f} s" for line in reversed(times[-5:]))
    lines.append(f"slowest: {slowest}")
    return lines


def step_lines(stages: Stages) -> list[str]:
    """The full run's steps by key, slowest first, summed over clients."""
    ordered = sorted(stages.steps_by_key.items(), key=lambda item: -item[1])
    return [
        "steps of the full run, summed over clients: "
        + ", ".join(f"`{key}` {seconds:.1f} s" for key, seconds in ordered)
    ]


# --- the whole benchmark ----------------------------------------------------------------------


def run_benchmark(args: argparse.Namespace) -> int:
    """Generate, measure the floors and the three `cap run`s, print and write the results."""
    machine = [*machine_description(), code_version(Path(pipelines.__file__).parent.parent)]
    for line in machine:
        say(line)
    folder = _workspace_folder(args)
    try:
        return _measure_and_report(args, folder, machine)
    except StepFailed as failure:
        say(f"A floor failed, so there is nothing to compare:\n{failure}")
        return 1
    finally:
        if args.keep or args.workspace:
            say(f"workspace kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def _workspace_folder(args: argparse.Namespace) -> Path:
    if args.workspace is None:
        return Path(tempfile.mkdtemp(prefix="cap-bench-portfolio-"))
    folder = args.workspace.resolve()
    if folder.exists() and any(folder.iterdir()):
        raise SystemExit(f"--workspace {folder} is not empty")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _measure_and_report(args: argparse.Namespace, folder: Path, machine: list[str]) -> int:
    spec = PortfolioSpec(
        clients=args.clients,
        sites=args.sites,
        months=args.months,
        csv_rows=args.csv_rows,
        csv_sites=args.csv_sites,
        as_of=args.as_of,
        seed=args.seed,
    )
    say(f"generating the portfolio in {folder / 'generated'} ...")
    portfolio = write_portfolio(folder / "generated", spec)
    workload = describe(portfolio, spec)
    for line in workload:
        say(f"  {line}")

    floors = {}
    for floor in FLOORS:
        say(f"{floor.label}:")
        data = {"calamine": portfolio.clients_dir, "duckdb": portfolio.csv}.get(floor.name)
        floors[floor.name] = measure_floor(
            floor, data, folder / "floors", args.floor_repeats, args.timeout
        )

    home, logs = folder / "home", folder / "logs"
    logs.mkdir()
    code = snapshot_code(folder / "code")
    prepare_home(portfolio, home, code)
    changed = portfolio.changed_slug
    runs = {
        "full": CapRun("full", "full run: `cap run` from empty warehouses"),
        "no-change": CapRun("no-change", "no-change run: `cap run` again, nothing new"),
        "one-client": CapRun(
            "one-client", f"one-client run: `cap run` after {changed} got 1 new file"
        ),
    }
    stages = {}
    for name, run in runs.items():
        if name == "one-client":
            shutil.copy(portfolio.new_delivery, home / "clients" / changed / "inbox")
        say(f"{run.label} ...")
        run_cap(home, code, logs, run, args.timeout)
        say(
            f"  {run.seconds:.1f} s, exit code {run.exit_code}, peak RSS "
            f"{show_bytes(run.peak_rss_bytes)} (the `cap run` process alone "
            f"{show_bytes(run.main_peak_rss_bytes)}), processes {_processes(run)}, "
            f"{len(run.clients)} clients in its summary"
        )
        if run.exit_code != 0 or not run.clients:
            say(f"`cap run` failed (exit code {run.exit_code}): nothing to compare")
            say(run.tail())
            return 1
        stages[name] = stages_of(home / "dagster", run)
        if name == "full":
            charts = len(list((home / "reports").glob("*/*/charts/*.png")))
            say(f"  {charts} chart PNGs written")

    # Imported here: the floors' processes import this module, and must not pay for Dagster.
    from pipelines.run import default_workers

    workers = default_workers()
    checks = _sanity(portfolio, runs, changed)
    for line in checks:
        say(f"WARNING: {line}")
    table, missed = main_table(floors, charts, runs, changed)
    extra = [
        "Time by stage (step start to end, from the Dagster instance, summed over clients; "
        "charts and the PDF are one step, `report`, and are shown together; clients run "
        f"{workers} at a time, so the sums exceed the wall time):",
        "",
        *stage_table(runs, stages),
        "",
        *(f"- {line}" for line in client_lines(runs["full"], changed)),
        *(f"- {line}" for line in step_lines(stages["full"])),
        "",
    ]
    say()
    for line in [*table, "", *extra]:
        say(line)
    say(f"{missed} target(s) NOT MET" if missed else "every target met")
    notes = [
        *workload,
        *_method_notes(args, portfolio, runs, stages, charts, workers),
        _pdf_pages_note(floors, charts, runs["full"]),
        *(f"WARNING: {line}" for line in checks),
    ]
    text = results_markdown(
        table,
        machine,
        notes,
        dt.datetime.now(),
        title="Portfolio benchmark",
        command="python -m benchmarks.portfolio" + _options(args),
        after=extra,
    )
    args.output.write_text(text, encoding="utf-8")
    say(f"results written to {args.output}")
    return 0


def _options(args: argparse.Namespace) -> str:
    defaults = parse_args([])
    changed = [
        f"--{name.replace('_', '-')} {getattr(args, name)}"
        for name in ("clients", "sites", "months", "csv_rows", "csv_sites", "seed")
        if getattr(args, name) != getattr(defaults, name)
    ]
    return "".join(f" {option}" for option in changed)


def _sanity(portfolio: Portfolio, runs: dict[str, CapRun], changed: str) -> list[str]:
    """What would make a measure mean something else than it says: values not all stored,
    clients failed or files rejected, the new file not loaded."""
    problems = []
    full = runs["full"]
    stored = sum(line.values for line in full.clients.values())
    if stored != portfolio.values:
        problems.append(
            f"the full run stored {stored:,} values, the portfolio holds {portfolio.values:,}"
        )
    for run in runs.values():
        failed = [line.slug for line in run.clients.values() if not line.ok]
        rejected = sum(line.rejected for line in run.clients.values())
        if failed or rejected:
            problems.append(
                f"{run.name}: clients failed {failed or 'none'}, {rejected} files rejected"
            )
    line = runs["one-client"].clients.get(changed)
    if line is None or line.loaded != 1:
        problems.append(f"one-client run: {changed} did not load its new file ({line})")
    expected = {"no-change": set(), "one-client": {changed}}
    for name, ran_only in expected.items():
        ran = {slug for slug, line in runs[name].clients.items() if line.status != "same"}
        if ran != ran_only:
            problems.append(
                f"{name} run: clients run {sorted(ran) or 'none'}, expected "
                f"{sorted(ran_only) or 'none'} (the others unchanged, skipped)"
            )
    return problems


def _medians(floors: dict[str, list[StepResult]]) -> dict[str, float]:
    """Each floor's median seconds over its runs."""
    return {name: statistics.median(r.seconds for r in rs) for name, rs in floors.items()}


def _pdf_pages_note(floors: dict[str, list[StepResult]], charts: int, full: CapRun) -> str:
    """The full run's ratio if each chart's vector PDF page counted as a second chart drawn
    (it is a second rendering of the same figure, about as long as its PNG's)."""
    median = _medians(floors)
    floor_sum = median["calamine"] + median["duckdb"] + 2 * charts * median["matplotlib"]
    return (
        f"the report draws each chart twice, as a PNG and as a vector page of the PDF: counting "
        f"both ({2 * charts} renderings), the floors sum to {floor_sum:.1f} s and the full run "
        f"is {full.seconds / floor_sum:.1f}x them (the table counts the PNGs only)"
    )


def _method_notes(
    args: argparse.Namespace,
    portfolio: Portfolio,
    runs: dict[str, CapRun],
    stages: dict[str, Stages],
    charts: int,
    workers: int,
) -> list[str]:
    full = runs["full"]
    loads = ", ".join(f"{run.name} {run.load_before:.2f}" for run in runs.values())
    processes = "; ".join(f"{run.name}: {_processes(run)}" for run in runs.values())
    alone = ", ".join(f"{run.name} {show_bytes(run.main_peak_rss_bytes)}" for run in runs.values())
    return [
        f"floors: each in a fresh process, median of {args.floor_repeats} run(s); the "
        f"matplotlib floor is the median of {FLOOR_CHARTS} charts a process (as "
        f"`benchmarks.reports`), times the {charts} chart PNGs the full run wrote "
        "(`reports/*/*/charts/*.png`)",
        "`cap run`: the console script in a subprocess with CAP_HOME, DAGSTER_HOME, "
        "DAGSTER_DISABLE_TELEMETRY=1 and the mail variables empty (emails to the outbox); wall "
        "time of the process, interpreter start and imports included; the CAP_HOME is new, with "
        "the client folders copied in, `cap init` and the Dagster instance's storage made "
        "before the clock starts; the three runs import one copy of Cap's code "
        f"({', '.join(f'`{name}/`' for name in CODE_FOLDERS)}, copied at the start, through "
        "PYTHONPATH), so that edits to the checkout meanwhile change neither what is measured "
        "nor the code fingerprint by which `cap run` skips unchanged clients",
        f"the no-change run follows the full run; before the one-client run, "
        f"`{portfolio.new_delivery.name}` (the latest year's workbook, restated: the revenue of "
        f"the latest month corrected on a few sites) is copied into `{portfolio.changed_slug}`'s "
        "inbox; its target compares the run with that client's own time in the full run",
        "peak RSS: highest `VmHWM` of the `cap run` process and of the sum of `VmRSS` over its "
        f"process tree, polled every {POLL_SECONDS} s (new processes looked for every "
        f"{POLL_SECONDS * TREE_SCAN_POLLS:g} s); processes seen: {processes} (Dagster's "
        "compute-log capture starts a `tail` and a `python` watcher per run); the `cap run` "
        f"process alone: {alone}",
        f"`cap run` runs {workers} clients at a time on this machine (its default "
        "`--workers`), each worker a process of its own",
        f"Dagster runs of the full run: {stages['full'].runs} "
        f"({dict(stages['full'].statuses)}); client time in `cap run`'s summary "
        f"{_client_seconds(full):.1f} s of {full.seconds:.1f} s",
        f"load average (1 min) before each run: {loads}",
    ]


def main(argv: list[str] | None = None) -> int:
    """Entry point: the whole benchmark, or one floor when `--floor` is given."""
    args = parse_args(argv)
    return run_floor(args) if args.floor else run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
