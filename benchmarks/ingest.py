"""`make bench`: Cap's ingestion against the floors of its readers, on seeded workloads.

    python -m benchmarks.ingest [--xlsx-rows N] [--csv-rows N] [--repeats N] ...

Generates a `sheet_per_site` workbook and a `long` CSV in a temporary folder, then times, each
run in a fresh process so that one step's memory does not hide another's:

- floor 1: python-calamine's raw read of the workbook;
- Cap: `archive_inbox` + `load_received` of the workbook into an empty warehouse;
- floor 2: DuckDB's `read_csv` of the CSV into a table of a new database file;
- Cap: the same archive + load of the CSV.

Prints the median seconds, the ratio of each Cap step to its floor and the peak RSS against the
targets, and writes the same table to `benchmarks/INGEST_RESULTS.md`. A missed target is
reported as NOT MET with exit code 0 (a benchmark, not a test); a Cap load that rejects the file
or stores another number of values than expected stops the benchmark with exit code 1.
"""

import argparse
import dataclasses
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pipelines
from benchmarks import steps, workloads
from benchmarks.report import (
    GIB,
    Row,
    code_version,
    machine_description,
    markdown_table,
    results_markdown,
    say,
    show_bytes,
)
from benchmarks.steps import StepResult
from benchmarks.workloads import Workload
from pipelines.config.loader import CONFIG_FILE_NAME, load_client_config

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "INGEST_RESULTS.md"
TARGET_RATIO = 2.0
TARGET_RSS_BYTES = GIB
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Step:
    """A measured step: its `--step` name, its label in the table and the file it reads."""

    name: str
    label: str
    reads: str


STEPS = (
    Step("calamine", "floor 1: python-calamine raw read of the xlsx", "xlsx"),
    Step("cap-xlsx", "Cap: archive + load the xlsx", "xlsx"),
    Step("duckdb", "floor 2: DuckDB read_csv of the CSV", "csv"),
    Step("cap-csv", "Cap: archive + load the CSV", "csv"),
    Step("cap-validate", "Cap: validate that CSV delivery (Great Expectations)", "csv"),
)
VALIDATION_SHARE = 0.20


@dataclass(frozen=True)
class Stop:
    """A run killed by a guard: which one, why in words, and the peak RSS seen until then."""

    by: Literal["timeout", "memory"]
    reason: str
    peak_rss_bytes: int


@dataclass
class Measure:
    """The runs of one step; `stop` is set when a guard killed one (no later run is made)."""

    results: list[StepResult] = field(default_factory=list)
    stop: Stop | None = None

    @property
    def seconds(self) -> float | None:
        """Median seconds of the runs, None when a run was stopped."""
        return None if self.stop else statistics.median(r.seconds for r in self.results)

    def seconds_text(self) -> str:
        """`10.69 (9.44-11.46)`: median, then min-max when there were several runs."""
        if self.stop:
            return f"stopped: {self.stop.reason}"
        times = [r.seconds for r in self.results]
        spread = f" ({min(times):.2f}-{max(times):.2f})" if len(times) > 1 else ""
        return f"{statistics.median(times):.2f}{spread}"

    @property
    def peak_rss(self) -> int:
        """Highest peak RSS of the runs (at least what was seen before a stop)."""
        stopped = [self.stop.peak_rss_bytes] if self.stop else []
        return max([*stopped, *(r.peak_rss_bytes for r in self.results)])


class StepFailed(Exception):
    """A step's process failed: a rejected load, a wrong count or an error."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: workload sizes, repeats, guards; `--step` runs one step (internal)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ingest", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--xlsx-rows", type=int, default=100_000, help="default: %(default)s")
    parser.add_argument("--xlsx-kpis", type=int, default=12, help="KPI columns (default: 12)")
    parser.add_argument("--csv-rows", type=int, default=1_000_000, help="default: %(default)s")
    parser.add_argument(
        "--csv-indicators", type=int, default=10, help="indicator codes (default: 10)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per step (default: 3)")
    parser.add_argument("--seed", type=int, default=20261126, help="default: %(default)s")
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="stop a run after this many seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--max-rss-gib",
        type=float,
        default=6.0,
        help="stop a run whose peak RSS exceeds this (default: %(default)s)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="default: %(default)s")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--step", choices=[step.name for step in STEPS], help=argparse.SUPPRESS)
    for internal in ("--workload", "--config", "--expected", "--home"):
        parser.add_argument(internal, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.xlsx_rows < 1 or args.csv_rows < 1:
        parser.error("--repeats, --xlsx-rows and --csv-rows must be at least 1")
    return args


def run_step(args: argparse.Namespace) -> int:
    """In the step's own process: run it once, print its result as JSON on stdout."""
    workload, home = Path(args.workload), Path(args.home)
    try:
        if args.step == "calamine":
            result = steps.calamine_read(workload)
        elif args.step == "duckdb":
            result = steps.duckdb_read_csv(workload, home)
        elif args.step == "cap-validate":
            result = steps.cap_validate(workload, Path(args.config), int(args.expected), home)
        else:
            result = steps.cap_ingest(workload, Path(args.config), int(args.expected), home)
    except steps.LoadFailed as failure:
        print(f"{args.step}: {failure}", file=sys.stderr)
        return 2
    print(json.dumps(dataclasses.asdict(result)))
    return 0


def generate(args: argparse.Namespace, folder: Path) -> tuple[dict[str, Workload], Path]:
    """The two workloads and the client.yaml that reads them (validated)."""
    started = time.perf_counter()
    files = {
        "xlsx": workloads.write_xlsx(folder, args.xlsx_rows, args.xlsx_kpis, args.seed),
        "csv": workloads.write_csv(folder, args.csv_rows, args.csv_indicators, args.seed + 1),
    }
    csv_site_weeks = -(-args.csv_rows // args.csv_indicators)
    sites = max(workloads.site_count(args.xlsx_rows), workloads.site_count(csv_site_weeks))
    config = folder / "config" / workloads.SLUG / CONFIG_FILE_NAME
    config.parent.mkdir(parents=True)
    config.write_text(
        workloads.client_yaml(sites, args.xlsx_kpis, args.csv_indicators), encoding="utf-8"
    )
    load_client_config(config)
    say(f"generated the workloads in {time.perf_counter() - started:.1f} s, in {folder}")
    return files, config


def describe_workloads(files: dict[str, Workload], args: argparse.Namespace) -> list[str]:
    """One line per workload: layout, shape, expected values, size."""
    xlsx, csv = files["xlsx"], files["csv"]
    csv_sites = workloads.site_count(-(-csv.rows // args.csv_indicators))
    return [
        f"xlsx, `sheet_per_site`: {xlsx.rows:,} rows x {xlsx.kpis} KPI columns = "
        f"{xlsx.expected_values:,} values, {workloads.site_count(xlsx.rows)} sheets (one per "
        f"site) of up to {workloads.WEEKS_PER_SITE:,} weekly rows (real dates from 2000-01-03), "
        f"{_size(xlsx.path)}, written with openpyxl (write-only)",
        f"CSV, `long`: {csv.rows:,} rows (`Site;Semaine;Indicateur;Valeur`, cp1252, decimal "
        f"commas, weeks as `2000-S01`) = {csv_sites} site(s) x up to "
        f"{workloads.WEEKS_PER_SITE:,} weeks x {args.csv_indicators} indicators, "
        f"{csv.expected_values:,} values, "
        f"{_size(csv.path)}",
        f"seed {args.seed}; {args.repeats} run(s) per step, each in a fresh process, median "
        "seconds of the measured work only (imports and setup not timed)",
    ]


def _size(path: Path) -> str:
    return f"{path.stat().st_size / (1 << 20):.1f} MiB"


def measure(
    step: Step,
    workload: Workload,
    config: Path,
    scratch: Path,
    args: argparse.Namespace,
) -> Measure:
    """Run a step `--repeats` times, each in a fresh process and an empty folder."""
    result = Measure()
    for run in range(1, args.repeats + 1):
        home = scratch / f"{step.name}-{run}"
        home.mkdir()
        command = [
            sys.executable,
            "-m",
            "benchmarks.ingest",
            *("--step", step.name, "--workload", str(workload.path), "--config", str(config)),
            *("--expected", str(workload.expected_values), "--home", str(home)),
        ]
        outcome = run_guarded(command, home, args.timeout, int(args.max_rss_gib * GIB))
        shutil.rmtree(home, ignore_errors=True)
        if isinstance(outcome, Stop):
            result.stop = outcome
            say(f"  {step.name} run {run}/{args.repeats}: STOPPED, {outcome.reason}")
            return result
        result.results.append(outcome)
        say(
            f"  {step.name} run {run}/{args.repeats}: {outcome.seconds:.2f} s, "
            f"peak RSS {show_bytes(outcome.peak_rss_bytes)} "
            f"({show_bytes(outcome.rss_before_bytes)} before the work), {outcome.values:,} values"
        )
    return result


def run_guarded(command: list[str], home: Path, timeout: float, max_rss: int) -> StepResult | Stop:
    """Run one step's process; kill it past `timeout` seconds or `max_rss` bytes of RSS.

    Returns the step's result, or the `Stop` that ended it.
    """
    out, err = home / "step.out", home / "step.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(command, cwd=REPO, stdout=stdout, stderr=stderr)
        started, seen = time.monotonic(), 0
        while process.poll() is None:
            seen = max(seen, steps.peak_rss_bytes(process.pid))
            stop = None
            if time.monotonic() - started > timeout:
                stop = Stop("timeout", f"still running after {timeout:.0f} s (--timeout)", seen)
            elif seen > max_rss:
                stop = Stop("memory", f"RSS above {show_bytes(max_rss)} (--max-rss-gib)", seen)
            if stop:
                process.kill()
                process.wait()
                return stop
            time.sleep(POLL_SECONDS)
    if process.returncode != 0:
        raise StepFailed(err.read_text(encoding="utf-8", errors="replace").strip())
    return StepResult(**json.loads(out.read_text(encoding="utf-8").splitlines()[-1]))


def table_rows(measures: dict[str, Measure]) -> list[Row]:
    """The results table: each floor, each Cap step against it, and the CSV load's memory.

    A run stopped by `--timeout` misses its time target; one stopped by `--max-rss-gib` has no
    time, and misses the memory target only if what was seen already exceeds it.
    """
    rows = []
    for floor, cap in (("calamine", "cap-xlsx"), ("duckdb", "cap-csv")):
        floor_seconds, cap_seconds = measures[floor].seconds, measures[cap].seconds
        rows.append(_row(floor, measures[floor], "-", "floor", "-"))
        if floor_seconds is not None and cap_seconds is not None:
            ratio = f"{cap_seconds / floor_seconds:.1f}x"
            met = _met(cap_seconds <= TARGET_RATIO * floor_seconds)
        else:
            ratio = "n/a (stopped)"
            stop = measures[cap].stop
            met = "NOT MET" if stop and stop.by == "timeout" else "unknown"
        rows.append(_row(cap, measures[cap], ratio, f"<= {TARGET_RATIO:g}x floor", met))
    csv, floor = measures["cap-csv"], measures["duckdb"]
    rss_ratio = f"{csv.peak_rss / floor.peak_rss:.1f}x" if floor.peak_rss else "n/a"
    rss_met = _met(csv.peak_rss < TARGET_RSS_BYTES)
    if csv.stop and csv.peak_rss < TARGET_RSS_BYTES:
        rss_met = "unknown (stopped)"
    target = f"< {show_bytes(TARGET_RSS_BYTES)}"
    label = "Cap: peak RSS of the CSV load"
    rows.append(Row(label, "", rss_ratio, _rss_text(csv), target, rss_met))
    validation = measures["cap-validate"]
    if validation.seconds is not None and csv.seconds is not None:
        share = validation.seconds / csv.seconds
        rows.append(
            _row(
                "cap-validate",
                validation,
                f"{share:.0%} of the load",
                f"<= {VALIDATION_SHARE:.0%} of the load",
                _met(share <= VALIDATION_SHARE),
            )
        )
    return rows


def _row(name: str, measure_: Measure, ratio: str, target: str, met: str) -> Row:
    label = next(step.label for step in STEPS if step.name == name)
    return Row(label, measure_.seconds_text(), ratio, _rss_text(measure_), target, met)


def _rss_text(measure_: Measure) -> str:
    prefix = ">= " if measure_.stop else ""
    return prefix + show_bytes(measure_.peak_rss)


def rss_note(measures: dict[str, Measure]) -> str:
    """What peak RSS includes, with each step's RSS before its measured work began."""
    before = ", ".join(
        f"{step.name} {show_bytes(max(r.rss_before_bytes for r in measures[step.name].results))}"
        for step in STEPS
        if measures[step.name].results
    )
    return (
        "peak RSS: `VmHWM` of the step's own process (not `ru_maxrss`, which Linux carries over "
        "from the parent), so interpreter, imports and setup are included; before the measured "
        f"work it was: {before}"
    )


def _met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def run_benchmark(args: argparse.Namespace) -> int:
    """Generate, measure every step, print the table and write RESULTS.md."""
    machine = [*machine_description(), code_version(Path(pipelines.__file__).parent.parent)]
    for line in machine:
        say(line)
    folder = Path(tempfile.mkdtemp(prefix="cap-bench-"))
    try:
        measures, workload_lines = measure_all(args, folder)
    except StepFailed as failure:
        say(f"A measured step failed, so there is nothing to compare:\n{failure}")
        return 1
    finally:
        if args.keep:
            say(f"generated files kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    rows = table_rows(measures)
    say()
    for line in markdown_table(rows):
        say(line)
    missed = sum(row.result == "NOT MET" for row in rows)
    say()
    say(f"{missed} target(s) NOT MET" if missed else "every target met")
    notes = [*workload_lines, rss_note(measures)]
    text = results_markdown(rows, machine, notes, dt.datetime.now())
    args.output.write_text(text, encoding="utf-8")
    say(f"results written to {args.output}")
    return 0


def measure_all(args: argparse.Namespace, folder: Path) -> tuple[dict[str, Measure], list[str]]:
    """Generate the workloads in `folder` and measure every step on them."""
    files, config = generate(args, folder)
    scratch = folder / "runs"
    scratch.mkdir()
    measures = {}
    for step in STEPS:
        say(f"{step.label}:")
        measures[step.name] = measure(step, files[step.reads], config, scratch, args)
    return measures, describe_workloads(files, args)


def main(argv: list[str] | None = None) -> int:
    """Entry point: the whole benchmark, or one step when `--step` is given."""
    args = parse_args(argv)
    return run_step(args) if args.step else run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
