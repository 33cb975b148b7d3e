"""Validating new deliveries before their values become current, and the client-level warnings.

A delivery (a loaded file) is validated once, by the blocking rules. A delivery that breaks one
is quarantined whole: its values stay in `kpi_observations` for the record, but `kpi_values` keeps
showing the last good delivery's, and the file joins the quarantine with its reason.
"""

import datetime as dt
import json
import shutil
from dataclasses import dataclass

import duckdb
import pandas as pd

from pipelines.config.model import ClientConfig
from pipelines.ingest.archive import archive_path
from pipelines.quality.expectations import Outcome, delivery_rules, prepare, validate
from pipelines.sql import execute_sql
from pipelines.workspace import Workspace

LATE_AFTER_DAYS = {"month": 45, "week": 14}


@dataclass
class DeliveryCheck:
    """What validating the pending deliveries found."""

    outcome: Outcome
    files: list[str]
    quarantined: list[str]


def check_deliveries(
    workspace: Workspace,
    slug: str,
    config: ClientConfig,
    con: duckdb.DuckDBPyConnection,
    today: dt.date,
    now: dt.datetime,
) -> DeliveryCheck:
    """Validate every loaded, not yet validated delivery; quarantine those that break a rule."""
    frame = execute_sql(con, "select_unvalidated_observations").df()
    files = sorted(frame["file"].unique()) if not frame.empty else []
    outcome = validate(prepare(frame, today), delivery_rules(config, set(frame["kpi"]), today))
    failed = {
        (sha, name)
        for failure in outcome.failures
        for sha, name in zip(
            frame.loc[failure.rows.index, "file_sha256"], failure.rows["file"], strict=True
        )
    }
    for sha, name in sorted(failed, key=lambda item: item[1]):
        reason = "; ".join(
            f"{failure.rule.description} ({len(failure.rows)} values)"
            for failure in outcome.failures
            if sha in set(frame.loc[failure.rows.index, "file_sha256"])
        )
        message = f"quarantined by a blocking check: {reason}"
        execute_sql(con, "mark_file_quarantined", {"sha256": sha, "message": message, "now": now})
        _keep_in_quarantine(workspace, slug, sha, name, message, outcome)
    execute_sql(con, "mark_files_validated", {"now": now})
    return DeliveryCheck(outcome, files, sorted(name for _, name in failed))


def outliers(con: duckdb.DuckDBPyConnection, config: ClientConfig) -> pd.DataFrame:
    """Current values far from the same site's history (robust z-score above the limit)."""
    return execute_sql(con, "select_value_outliers", {"limit": config.quality.outlier_z}).df()


RECENT_PERIODS = 6


def missing_values(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Recent periods where a KPI the client usually sends for a site has no value."""
    return execute_sql(con, "select_missing_values", {"periods": RECENT_PERIODS}).df()


def lateness(
    con: duckdb.DuckDBPyConnection, config: ClientConfig, today: dt.date
) -> tuple[dt.date | None, int, int]:
    """(latest period, days since it ended, days allowed): late when days exceed the allowance."""
    ((latest, grain),) = execute_sql(con, "select_latest_period").fetchall()
    allowed = config.quality.late_after_days or LATE_AFTER_DAYS[config.grain]
    if latest is None:
        return None, 0, allowed
    if (grain or config.grain) == "week":
        ended = latest + dt.timedelta(days=7)
    else:
        ended = (latest.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return latest, (today - ended).days, allowed


def _keep_in_quarantine(
    workspace: Workspace, slug: str, sha: str, name: str, message: str, outcome: Outcome
) -> None:
    folder = workspace.quarantine(slug)
    folder.mkdir(parents=True, exist_ok=True)
    archived = archive_path(workspace, slug, sha, name)
    if archived.exists() and not (folder / archived.name).exists():
        shutil.copy2(archived, folder / archived.name)
    rows = outcome.failing_rows()
    reason = {
        "file": name,
        "sha256": sha,
        "message": message,
        "failing_rows": json.loads(rows[rows["file"] == name].to_json(orient="records")),
    }
    (folder / f"{sha}.reason.json").write_text(
        json.dumps(reason, ensure_ascii=False, indent=2), encoding="utf-8"
    )
