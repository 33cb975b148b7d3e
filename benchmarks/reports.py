"""`make bench`, report part: the time to draw each chart and to build a client's whole report,
against matplotlib drawing one plain line chart (the floor), on the demo portfolio.

    python -m benchmarks.reports [--repeats N] [--output benchmarks/REPORT_RESULTS.md]
"""

import argparse
import contextlib
import datetime as dt
import io
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import pipelines
from benchmarks.report import code_version, machine_description, say
from pipelines.delivery.smtp import MAIL_ENV_VARS
from pipelines.demo import write_demo
from pipelines.report import style
from pipelines.report.build import build_report
from pipelines.report.content import ReportContent, gather
from pipelines.report.figures import chart_plan
from pipelines.run import run_clients
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

AS_OF = dt.date(2026, 11, 26)
RESULTS = Path(__file__).resolve().parent / "REPORT_RESULTS.md"
CHART_TARGET_MS = 100.0
REPORT_TARGET_S = 3.0


def floor_ms(repeats: int, folder: Path) -> float:
    """Median ms for matplotlib to draw a plain 48-point line chart at 800 x 450 and save it."""
    values = np.random.default_rng(1).normal(100, 5, 48)
    times = []
    for index in range(repeats):
        start = time.perf_counter()
        figure = Figure(figsize=(8, 4.5), dpi=100)
        figure.add_subplot().plot(np.arange(48), values)
        figure.savefig(folder / f"floor-{index}.png")
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def chart_times(content: ReportContent, folder: Path) -> dict[str, list[float]]:
    """Seconds to draw each chart of the report and save its PNG, by chart kind (its PDF
    page is written with the whole report, measured apart)."""
    kinds: dict[str, list[float]] = defaultdict(list)
    with style.chart_style():
        for chart in chart_plan(content):
            start = time.perf_counter()
            figure = chart.draw()
            style.save_png(figure, folder / f"{chart.name}.png")
            kind = chart.name.split("__")[-1]
            kinds[kind].append(time.perf_counter() - start)
    return kinds


def main(argv: list[str] | None = None) -> int:
    """Build the demo workspace, run it, then time the charts and the reports."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    machine = [*machine_description(), code_version(Path(pipelines.__file__).parent.parent)]
    with tempfile.TemporaryDirectory(prefix="cap-bench-report-") as temporary:
        home = Path(temporary)
        os.environ["CAP_HOME"] = str(home)
        os.environ["DAGSTER_HOME"] = str(home / "dagster")
        for name in MAIL_ENV_VARS:  # no SMTP server: the auto client's email goes to the outbox
            os.environ.setdefault(name, "")
        workspace = Workspace(home)
        workspace.ensure()
        write_demo(home, AS_OF)
        with contextlib.redirect_stdout(io.StringIO()):
            if run_clients(workspace) != 0:
                say("the demo run failed: nothing to measure")
                return 1
        scratch = home / "scratch"
        scratch.mkdir()
        floor = floor_ms(20, scratch)
        lines = [
            "| what | median | ratio to floor | target | result |",
            "|---|---|---|---|---|",
            f"| floor: matplotlib, one plain line chart (800 x 450 PNG) | {floor:.0f} ms | - "
            "| floor | - |",
        ]
        for slug in workspace.client_slugs():
            config = workspace.load_config(slug)
            with open_warehouse(workspace.warehouse(slug), read_only=True) as con:
                content = gather(con, config, slug, AS_OF)
            kinds = chart_times(content, scratch)
            every = [t for times in kinds.values() for t in times]
            per_chart = 1000 * statistics.median(every)
            lines.append(
                f"| {slug}: per chart, {len(every)} charts (draw and PNG) | "
                f"{per_chart:.0f} ms | {per_chart / floor:.1f}x | <= {CHART_TARGET_MS:.0f} ms "
                f"| {'met' if per_chart <= CHART_TARGET_MS else 'NOT MET'} |"
            )
            for kind, times in sorted(kinds.items()):
                lines.append(
                    f"| {slug}: `{kind}` charts ({len(times)}) | "
                    f"{1000 * statistics.median(times):.0f} ms | "
                    f"{1000 * statistics.median(times) / floor:.1f}x | | |"
                )
            totals = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                build_report(workspace, content)
                totals.append(time.perf_counter() - start)
            seconds = statistics.median(totals)
            lines.append(
                f"| {slug}: whole report (charts, PDF, email body) | {seconds:.2f} s | "
                f"{1000 * seconds / floor:.0f}x | <= {REPORT_TARGET_S:.0f} s | "
                f"{'met' if seconds <= REPORT_TARGET_S else 'NOT MET'} |"
            )
    for line in lines:
        say(line)
    text = "\n".join(
        [
            "# Report benchmark (`make bench`)",
            "",
            f"Run on {dt.datetime.now():%Y-%m-%d %H:%M} by `python -m benchmarks.reports` on "
            f"the demo portfolio (as of {AS_OF}); median of {args.repeats} whole-report builds.",
            "",
            *(f"- {line}" for line in machine),
            "",
            *lines,
            "",
        ]
    )
    args.output.write_text(text, encoding="utf-8")
    say(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
