"""What a client report says, gathered from the client's warehouse once: the key results, the
series behind them, the files received and the data's coverage.

Everything in it comes from the data (no clock): the same warehouse gives the same report.
"""

import datetime as dt
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import yaml

from pipelines.catalogue import BASE_KPIS, DerivedKpi
from pipelines.config.model import ClientConfig
from pipelines.impact.series import CLIENT_TOTAL, CONTROLS_TOTAL, derived_kpis, read_kpi_series
from pipelines.quality.deliveries import lateness
from pipelines.sql import execute_sql

REPORTS_DIR = Path(__file__).resolve().parent.parent.parent / "reports"
COVERAGE_PERIODS = 12
COUNTERFACTUAL_COLUMNS = ["site", "kpi", "method", "period_start", "expected", "low", "high"]
"""Columns of `impact_counterfactual`: per period, the level without the transformation."""
PROBLEM_COLUMNS = ["file", "sheet", "row", "column", "value", "rule", "problems"]
PROBLEMS_SHOWN = 3
"""Problems named per file set aside in the report's appendix; the rest are counted."""


@cache
def strings(language: str) -> dict[str, object]:
    """The report's fixed words in `language`, from `reports/strings.yaml`."""
    text = (REPORTS_DIR / "strings.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)[language]


def say(language: str, key: str, **values: object) -> str:
    """One fixed phrase of the report in `language`, its placeholders filled."""
    return str(strings(language)[key]).format(**values)


@dataclass(frozen=True)
class KeyResult:
    """One key KPI of the report: its client-total result and its per-site results (the
    preferred method of each), and how it is defined."""

    kpi: DerivedKpi
    total: dict[str, object] | None
    sites: list[dict[str, object]]


@dataclass(frozen=True)
class ReportContent:
    """Everything the charts, the PDF and the email body of one client report show."""

    slug: str
    config: ClientConfig
    latest_period: dt.date
    data_until: dt.date | None
    key_results: list[KeyResult]
    series: pd.DataFrame
    """The key KPIs' rows of `kpi_series`: site, period_start, kpi, value."""
    files: pd.DataFrame
    """Every file received (`select_report_files.sql`): name, status, reason, delivery time and
    whether it still waits for its correction (`waiting`)."""
    coverage: pd.DataFrame
    lateness: tuple[dt.date | None, int, int]
    counterfactual: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=COUNTERFACTUAL_COLUMNS)
    )
    """Rows of `impact_counterfactual` for the preferred results (empty without the table):
    per after-side (and ramp-up) period, the model's level without the transformation
    (expected) and its 95 % band (low, high), in the KPI's unit."""
    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROBLEM_COLUMNS))
    """The first problems of each file set aside (`select_report_problems.sql`): file, place,
    value, rule and the file's count of problems, for the appendix in the client's language."""

    @property
    def language(self) -> str:
        """The client's language: `fr` or `en`."""
        return self.config.language

    @property
    def grain(self) -> str:
        """`month` or `week`."""
        return self.config.grain

    @property
    def period_key(self) -> str:
        """The report's period in file names: `2026-10` or `2026-W47`."""
        if self.grain == "week":
            year, week, _ = self.latest_period.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.latest_period:%Y-%m}"

    @property
    def has_controls(self) -> bool:
        """Whether the client has control sites."""
        return any(site.control for site in self.config.sites)

    @property
    def pending_files(self) -> list[str]:
        """Deliveries quarantined by a blocking check that still wait for their correction
        (the view `waiting_deliveries`): their data is pending. One replaced since is not."""
        files = self.files
        pending = files[(files["status"] == "quarantined") & files.get("waiting", False)]
        return [str(name) for name in pending["original_name"]]

    @cached_property
    def _rows_by_series(self) -> dict[tuple[str, str], np.ndarray]:
        """Row positions of each (site, KPI) in `series`, found in one pass: a client with 100
        sites asks for hundreds of series, and a mask over the whole table each time cost
        0.2 s apiece."""
        groups = self.series.groupby(["site", "kpi"], sort=False, observed=True).indices
        return {(str(site), str(kpi)): rows for (site, kpi), rows in groups.items()}

    def counterfactual_series(self, site: str, kpi: str, method: str) -> pd.DataFrame | None:
        """A result's per-period level without the transformation (columns expected, low,
        high, indexed by period start), or None when the warehouse has none for it."""
        table = self.counterfactual
        rows = table[(table["site"] == site) & (table["kpi"] == kpi) & (table["method"] == method)]
        if rows.empty:
            return None
        frame = rows[["expected", "low", "high"]].astype(float)
        frame.index = pd.DatetimeIndex(pd.to_datetime(rows["period_start"]))
        return frame.sort_index()

    def values(self, site: str, kpi: str) -> pd.Series:
        """A site's (or total's) series of a KPI, indexed by period start."""
        rows = self._rows_by_series.get((site, kpi), np.empty(0, dtype=np.intp))
        part = self.series.iloc[rows]
        return pd.Series(
            part["value"].to_numpy(dtype=float),
            index=pd.DatetimeIndex(pd.to_datetime(part["period_start"])),
        ).sort_index()


class NothingToReport(Exception):
    """The client has no current value yet: there is no period to report on."""


def gather(
    con: duckdb.DuckDBPyConnection, config: ClientConfig, slug: str, today: dt.date
) -> ReportContent:
    """Read what the report of `slug` shows from its warehouse (after the `impact` asset);
    `today` (the client's) only decides whether the data is late. Raises NothingToReport when
    no value is stored yet."""
    latest_period, _grain = execute_sql(con, "select_latest_period").fetchall()[0]
    if latest_period is None:
        raise NothingToReport(f"{slug}: no value stored yet, so no period to report on")
    impact = execute_sql(con, "select_report_impact").df()
    results = key_results(impact, config)
    frames = list(read_kpi_series(con, only={key.kpi.name for key in results}))
    series = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["site", "period_start", "kpi", "value"])
    )
    ((delivered,),) = execute_sql(con, "select_data_until").fetchall()
    coverage = execute_sql(con, "select_coverage_grid", {"periods": COVERAGE_PERIODS}).df()
    return ReportContent(
        slug=slug,
        config=config,
        latest_period=latest_period,
        data_until=delivered.date() if delivered is not None else None,
        key_results=results,
        series=series,
        files=execute_sql(con, "select_report_files").df(),
        coverage=coverage,
        lateness=lateness(con, config, today),
        counterfactual=read_counterfactual(con),
        problems=execute_sql(con, "select_report_problems", {"shown": PROBLEMS_SHOWN}).df(),
    )


def read_counterfactual(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The per-period levels without the transformation of the preferred results
    (`impact_counterfactual`, written by the impact asset with `impact`)."""
    return execute_sql(con, "select_report_counterfactual").df()[COUNTERFACTUAL_COLUMNS]


def key_results(impact: pd.DataFrame, config: ClientConfig) -> list[KeyResult]:
    """The derived KPIs the client has results for, in catalogue order (productivity first),
    then the KPIs a target is set on."""
    catalogue = derived_kpis(config)
    targeted = [t.kpi for t in config.impact.targets if t.kpi not in catalogue]
    order = sorted(catalogue.values(), key=lambda k: k.family != "productivity")
    results = []
    for kpi in [*order, *(_base_as_derived(name) for name in targeted)]:
        rows = impact[impact["kpi"] == kpi.name]
        if rows.empty:
            continue
        records = rows.to_dict("records")
        total = next((r for r in records if r["site"] == CLIENT_TOTAL), None)
        sites = [r for r in records if r["site"] not in (CLIENT_TOTAL, CONTROLS_TOTAL)]
        results.append(KeyResult(kpi, total, sites))
    return results


def _base_as_derived(name: str) -> DerivedKpi:
    """A base KPI shown as a key result (a target is set on it)."""
    base = BASE_KPIS[name]
    family = "profitability" if base.unit == "eur" else "productivity"
    return DerivedKpi(
        name, name, name, base.unit, base.direction, base.label_fr, base.label_en, family=family
    )
