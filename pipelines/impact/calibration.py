"""The calibration study: Cap's analysis on simulated clients whose true effects are known.

`make proof` runs it:

    python -m pipelines.impact.calibration --series-per-family 300 --seed 20261207 --jobs 2 \\
        --output benchmarks/CALIBRATION.md

Each family of `pipelines.impact.simulation` draws clients until it has `--series-per-family`
evaluated (site or client total, KPI) results; each client goes through `build_kpi_series` and
`analyse_warehouse` exactly as a real client's warehouse does. Per family and overall the study
reports the coverage of the 95 % intervals, the mean absolute error and bias of the preferred
estimate next to those of the naive before/after on the same sides, the median interval width,
the share of "not enough evidence" verdicts, the share of "significant" verdicts among series
without any effect, and which methods were preferred. The table is written as markdown and the
figures as JSON (`reports/calibration.json`), which the report's methodology page reads.
"""

import argparse
import datetime as dt
import json
import logging
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import yaml

from pipelines.impact.simulation import (
    FAMILIES,
    SeriesOutcome,
    evaluate_client,
    new_connection,
    simulate_client,
)

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SERIES = 300
DEFAULT_SEED = 20261207
DEFAULT_JOBS = 2
DEFAULT_OUTPUT = ROOT / "benchmarks" / "CALIBRATION.md"
DEFAULT_JSON = ROOT / "reports" / "calibration.json"
STRINGS = ROOT / "reports" / "strings.yaml"

COVERAGE_TARGET = (0.90, 0.98)
FALSE_POSITIVE_TARGET = 0.07
"""Issue 20's targets: coverage of the 95 % intervals, significant verdicts without effect."""
FIRST_GUESS_SERIES_PER_CLIENT = 3.0
PROGRESS_EVERY = 100
"""Clients between two progress lines in the log."""


@dataclass(frozen=True)
class Summary:
    """The study's figures for one family (or overall). Errors are in percent for relative
    KPIs and in points for margins; None where no series qualifies."""

    family: str
    label_fr: str
    label_en: str
    series: int
    with_interval: int
    coverage: float | None
    coverage_margin: float | None
    """Half-width of the 95 % Monte-Carlo band of `coverage` (binomial)."""
    mae: float | None
    naive_mae: float | None
    bias: float | None
    naive_bias: float | None
    median_width: float | None
    insufficient_share: float | None
    zero_effect_series: int
    false_positive_rate: float | None
    methods: dict[str, int]

    @property
    def misses(self) -> list[str]:
        """Which of issue 20's targets this family misses (empty when it meets them all)."""
        misses = []
        low, high = COVERAGE_TARGET
        if self.coverage is None or not low <= self.coverage <= high:
            misses.append("coverage")
        if self.mae is not None and self.naive_mae is not None and self.mae >= self.naive_mae:
            misses.append("MAE")
        if self.false_positive_rate is not None and self.false_positive_rate > (
            FALSE_POSITIVE_TARGET
        ):
            misses.append("false positives")
        return misses


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def summarise(family: str, outcomes: Sequence[SeriesOutcome], labels: dict[str, str]) -> Summary:
    """The figures of one family's outcomes (or of all of them)."""
    with_interval = [o for o in outcomes if o.has_interval]
    scored = [o for o in with_interval if o.naive is not None]
    zero = [o for o in outcomes if o.zero_effect]
    coverage = _mean([float(o.covered) for o in with_interval])
    margin = (
        1.96 * math.sqrt(coverage * (1 - coverage) / len(with_interval))
        if coverage is not None
        else None
    )
    errors = [o.estimate - o.truth for o in scored]  # type: ignore[operator]
    naive_errors = [o.naive - o.truth for o in scored]  # type: ignore[operator]
    widths = [o.ci_high - o.ci_low for o in with_interval]  # type: ignore[operator]
    return Summary(
        family=family,
        label_fr=labels.get(f"fr.{family}", family),
        label_en=labels.get(f"en.{family}", family),
        series=len(outcomes),
        with_interval=len(with_interval),
        coverage=coverage,
        coverage_margin=margin,
        mae=_mean([abs(e) for e in errors]),
        naive_mae=_mean([abs(e) for e in naive_errors]),
        bias=_mean(errors),
        naive_bias=_mean(naive_errors),
        median_width=statistics.median(widths) if widths else None,
        insufficient_share=_mean([float(not o.has_interval) for o in outcomes]),
        zero_effect_series=len(zero),
        false_positive_rate=_mean([float(o.significant) for o in zero]),
        methods=dict(sorted(Counter(o.method for o in outcomes).items())),
    )


def family_labels(path: Path = STRINGS) -> dict[str, str]:
    """`<language>.<family>` -> label, from the words catalogue (`calibration_family_<name>`;
    `calibration_overall` for the whole study)."""
    words = yaml.safe_load(path.read_text(encoding="utf-8"))
    labels = {}
    for language in ("fr", "en"):
        for key, text in words.get(language, {}).items():
            if key.startswith("calibration_family_"):
                labels[f"{language}.{key.removeprefix('calibration_family_')}"] = str(text)
            elif key == "calibration_overall":
                labels[f"{language}.overall"] = str(text)
    return labels


_CONNECTION: duckdb.DuckDBPyConnection | None = None


def evaluate(task: tuple[str, int, int]) -> list[SeriesOutcome]:
    """Simulate and evaluate client (family, index, seed), on this process's one in-memory
    warehouse (a worker of the pool evaluates many)."""
    global _CONNECTION
    if _CONNECTION is None:
        _CONNECTION = new_connection()
    family, index, seed = task
    return evaluate_client(simulate_client(family, index, seed), _CONNECTION)


def run_study(
    series_per_family: int,
    seed: int,
    jobs: int = 1,
    families: Iterable[str] = FAMILIES,
) -> dict[str, list[SeriesOutcome]]:
    """Each family's first `series_per_family` outcomes, from its clients 0, 1, 2, ... in
    order: the same whatever `jobs` (processes; 1 evaluates in this one)."""
    families = list(families)
    done: dict[str, dict[int, list[SeriesOutcome]]] = {family: {} for family in families}
    executor: Executor | None = ProcessPoolExecutor(jobs) if jobs > 1 else None
    try:
        while True:
            tasks = []
            for family in families:
                found = sum(len(outcomes) for outcomes in done[family].values())
                short = series_per_family - found
                if short <= 0:
                    continue
                clients = len(done[family])
                per_client = found / clients if found else FIRST_GUESS_SERIES_PER_CLIENT
                batch = max(2, math.ceil(1.15 * short / max(per_client, 0.5)))
                tasks += [(family, index, seed) for index in range(clients, clients + batch)]
            if not tasks:
                break
            started = time.perf_counter()
            if executor is None:
                results: Iterable[list[SeriesOutcome]] = map(evaluate, tasks)
            else:
                results = executor.map(evaluate, tasks, chunksize=4)
            for count, ((family, index, _), outcomes) in enumerate(
                zip(tasks, results, strict=True), start=1
            ):
                done[family][index] = outcomes
                if count % PROGRESS_EVERY == 0 or count == len(tasks):
                    logger.info(
                        "%d of %d clients evaluated in %.1f s",
                        count,
                        len(tasks),
                        time.perf_counter() - started,
                    )
    finally:
        if executor is not None:
            executor.shutdown()
    return {
        family: [o for index in sorted(by_index) for o in by_index[index]][:series_per_family]
        for family, by_index in done.items()
    }


def summaries(outcomes: dict[str, list[SeriesOutcome]]) -> tuple[list[Summary], Summary]:
    """One summary per family, and the overall one."""
    labels = family_labels()
    per_family = [summarise(family, found, labels) for family, found in outcomes.items()]
    everything = [o for found in outcomes.values() for o in found]
    return per_family, summarise("overall", everything, labels)


def _figure(value: float | None, digits: int = 2, percent: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f} %" if percent else f"{value:.{digits}f}"


def table(per_family: Sequence[Summary], overall: Summary) -> str:
    """The study's table in markdown (also what the command prints)."""
    header = (
        "| family | series | with interval | coverage of 95 % intervals | MAE | naive MAE | bias"
        " | naive bias | median width | not enough evidence | no-effect series"
        " | significant without effect | preferred methods | targets missed |"
    )
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for summary in [*per_family, overall]:
        coverage = _figure(summary.coverage, percent=True)
        if summary.coverage_margin is not None:
            coverage += f" ± {100 * summary.coverage_margin:.1f}"
        methods = ", ".join(f"{name} {count}" for name, count in summary.methods.items())
        name = f"**{summary.family}**" if summary.family == "overall" else summary.family
        cells = [
            name,
            str(summary.series),
            str(summary.with_interval),
            coverage,
            _figure(summary.mae),
            _figure(summary.naive_mae),
            _figure(summary.bias),
            _figure(summary.naive_bias),
            _figure(summary.median_width),
            _figure(summary.insufficient_share, percent=True),
            str(summary.zero_effect_series),
            _figure(summary.false_positive_rate, percent=True),
            methods or "–",
            ", ".join(summary.misses) or "none",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(
    per_family: Sequence[Summary],
    overall: Summary,
    series_per_family: int,
    seed: int,
    seconds: float,
    generated: dt.datetime,
) -> str:
    """The study as a markdown page: what was run, the table, and how to read it."""
    low, high = COVERAGE_TARGET
    return f"""# Calibration of Cap's impact estimates

Generated {generated:%Y-%m-%d %H:%M} UTC by `make proof`
(`python -m pipelines.impact.calibration --series-per-family {series_per_family} --seed {seed}`),
in {seconds:.0f} s: {overall.series} simulated (site or client total, KPI) results whose true
effect is known, analysed by Cap exactly as client data (`build_kpi_series`, then
`analyse_warehouse`; the preferred result of each).

{table(per_family, overall)}

How to read it:

- Changes are in percent of the level (relative KPIs) or in points (EBITDA margin:
  `margin_points`, and some `staggered`, `controls`, `ramp_up` and `placebo` series); MAE, bias
  and widths are in those units.
- The truth is measured on Cap's own derived series of two worlds drawn from the same random
  draws, with and without the transformation, over the after side Cap compares (from go-live
  plus the configured ramp-up): relative, 100 x (geometric mean of actual / without - 1);
  points, the mean difference.
- Coverage: share of the results with an interval whose 95 % interval contains the truth (± the
  study's own 95 % Monte-Carlo margin). Target: {100 * low:.0f} to {100 * high:.0f} %.
- MAE and bias: of the preferred estimate, over the results with an interval; the naive
  before/after (after mean against before mean, on the same sides) is computed on the same
  results. Target: MAE below the naive one.
- Not enough evidence: results whose verdict is "insufficient data" (no number shown).
- Significant without effect: among the results with no injected effect (every series of
  `placebo`, a fifth of the others), the share called improved or worsened (a "not enough
  evidence" counts as not significant). Target: at most {100 * FALSE_POSITIVE_TARGET:.0f} %.
- Families (`pipelines/impact/simulation.py`): monthly series with 12 to 36 months before
  go-live (weekly: 1 to 3 years), 6 to 24 months after the ramp-up, 0 to 8 % missing periods,
  AR(1) noise (phi 0 to 0.7, sd 1.5 to 6 % of the level), year-end, August or quarter-end
  seasons or none, prices, wages and volumes drifting at a pace that changes from year to year,
  effects of -8 to +20 % (-2 to +5 points) ramping up over 1 to 6 months, a fifth without effect.
"""


def to_json(
    per_family: Sequence[Summary],
    overall: Summary,
    series_per_family: int,
    seed: int,
    generated: dt.datetime,
) -> dict[str, object]:
    """The machine-readable summary the report's methodology page reads."""

    def entry(summary: Summary) -> dict[str, object]:
        return {**asdict(summary), "targets_missed": summary.misses}

    return {
        "generated": generated.isoformat(timespec="seconds"),
        "seed": seed,
        "series_per_family": series_per_family,
        "targets": {
            "coverage": list(COVERAGE_TARGET),
            "false_positive_rate": FALSE_POSITIVE_TARGET,
            "mae": "below naive_mae",
        },
        "families": [entry(summary) for summary in per_family],
        "overall": entry(overall),
    }


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.impact.calibration",
        description="Cap's impact estimates on simulated clients with known effects.",
    )
    parser.add_argument("--series-per-family", type=int, default=DEFAULT_SERIES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="worker processes")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown table")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="JSON summary")
    parser.add_argument(
        "--family", action="append", choices=FAMILIES, help="only these families (repeatable)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study, print its table, write the markdown page and the JSON summary."""
    arguments = _arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if arguments.series_per_family < 1 or arguments.jobs < 1:
        logger.error("--series-per-family and --jobs must be at least 1")
        return 2
    started = time.perf_counter()
    outcomes = run_study(
        arguments.series_per_family,
        arguments.seed,
        arguments.jobs,
        arguments.family or FAMILIES,
    )
    seconds = time.perf_counter() - started
    per_family, overall = summaries(outcomes)
    generated = dt.datetime.now(dt.UTC)
    print(table(per_family, overall))  # the command's output
    page = markdown(
        per_family, overall, arguments.series_per_family, arguments.seed, seconds, generated
    )
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(page, encoding="utf-8")
    summary = to_json(per_family, overall, arguments.series_per_family, arguments.seed, generated)
    arguments.json.parent.mkdir(parents=True, exist_ok=True)
    arguments.json.write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    logger.info("%.0f s; wrote %s and %s", seconds, arguments.output, arguments.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
