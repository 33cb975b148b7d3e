"""The consultant's data-quality page of a client: one static HTML file, readable offline.

Deliveries with their status, every rejection with its place and reason, coverage as a site x
period grid, and the checks' results. Written to `CAP_HOME/reports/<slug>/data_quality.html`
from the template in `reports/`; client text is escaped (Jinja autoescape).
"""

import datetime as dt
from pathlib import Path

import duckdb
import jinja2
import pandas as pd

from pipelines.config.model import ClientConfig
from pipelines.quality.deliveries import DeliveryCheck, lateness, missing_values, outliers
from pipelines.quality.waiting import WAITING_FOR_FIRST_DELIVERY
from pipelines.sql import execute_sql, read_sql
from pipelines.workspace import Workspace

REPORTS_DIR = Path(__file__).resolve().parent.parent.parent / "reports"
PAGE_NAME = "data_quality.html"
COVERAGE_PERIODS = 12


def write_quality_page(
    workspace: Workspace,
    slug: str,
    config: ClientConfig,
    con: duckdb.DuckDBPyConnection,
    delivery_check: DeliveryCheck,
    today: dt.date,
) -> Path:
    """Render the client's data-quality page and return its path."""
    latest, days, allowed = lateness(con, config, today)
    found_outliers = outliers(con, config)
    missing = missing_values(con)
    coverage = execute_sql(con, "select_coverage_grid", {"periods": COVERAGE_PERIODS}).df()
    grid = (
        coverage.pivot(index="site", columns="period_start", values="kpis").fillna(0).astype(int)
        if not coverage.empty
        else pd.DataFrame()
    )
    failing = delivery_check.outcome.failing_rows()
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(REPORTS_DIR), autoescape=True, keep_trailing_newline=True
    )
    html = environment.get_template("data_quality.html.j2").render(
        client=config.name,
        slug=slug,
        today=today.isoformat(),
        cadence=config.cadence,
        latest=latest,
        checks=[
            _check(
                "new deliveries pass the blocking rules",
                delivery_check.outcome.success,
                f"{delivery_check.outcome.success_percent:.0f} % of rules held on "
                f"{len(delivery_check.files)} new deliveries"
                + (
                    f"; quarantined: {', '.join(delivery_check.quarantined)}"
                    if delivery_check.quarantined
                    else ""
                ),
                blocking=True,
            ),
            _check(
                "data is fresh",
                latest is None or days <= allowed,
                f"latest period {latest}, {days} days after its end ({allowed} allowed)"
                if latest is not None
                else f"not late: {WAITING_FOR_FIRST_DELIVERY} (nothing was due yet)",
            ),
            _check(
                "no outliers",
                found_outliers.empty,
                f"{len(found_outliers)} values beyond a robust z of {config.quality.outlier_z:g}",
            ),
            _check(
                "recent values complete",
                missing.empty,
                ", ".join(f"{r.site} {r.period_start} {r.kpi}" for r in missing.itertuples())
                or "nothing missing",
            ),
        ],
        failing_columns=list(failing.columns),
        failing_rows=_texts(failing),
        files=execute_sql(con, "select_files")
        .df()
        .assign(received_at=lambda f: f["received_at"].dt.strftime("%Y-%m-%d %H:%M"))
        .astype(object)
        .where(lambda f: f.notna(), None)
        .to_dict("records"),
        rejections=con.sql(read_sql("select_rejections"))
        .df()
        .astype(object)
        .where(lambda f: f.notna(), None)
        .to_dict("records"),
        outlier_columns=list(found_outliers.columns),
        outlier_rows=_texts(found_outliers.head(50)),
        coverage_periods=[_period_label(period, config.grain) for period in grid.columns],
        coverage_rows=[(site, list(row)) for site, row in grid.iterrows()],
        expected_kpis=int(grid.values.max()) if not grid.empty else 0,
    )
    folder = workspace.reports(slug)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PAGE_NAME
    path.write_text(html, encoding="utf-8")
    return path


def _texts(frame: pd.DataFrame) -> list[list[str]]:
    """A frame's cells as text for a table, blanks for missing values."""
    return frame.astype(object).where(frame.notna(), "").astype(str).values.tolist()


def _period_label(period: object, grain: str) -> str:
    stamp = pd.Timestamp(period)
    return stamp.strftime("%Y-%m") if grain == "month" else stamp.strftime("%Y-%m-%d")


def _check(name: str, passed: bool, detail: str, blocking: bool = False) -> dict[str, str]:
    failed = "failed (blocking)" if blocking else "warning"
    return {
        "name": name,
        "result": "passed" if passed else failed,
        "css": "ok" if passed else "bad" if blocking else "warn",
        "detail": detail,
    }
