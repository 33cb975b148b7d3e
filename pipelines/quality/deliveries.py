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
from pipelines.quality.expectations import (
    MAX_ROWS_SHOWN,
    Outcome,
    delivery_rules,
    prepare,
    profile_holds,
    validate,
)
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
    """Validate every loaded, not yet validated delivery; quarantine those that break a rule.

    Great Expectations checks the deliveries' profile first; only when a rule fails there are
    the values themselves checked, to name the ones that break it.
    """
    profile = execute_sql(con, "select_delivery_profile").df()
    kpis = {str(kpi) for kpi in profile["kpi"].dropna().unique()}
    rules = delivery_rules(config, kpis, today)
    if profile_holds(profile, rules, today):
        outcome = Outcome(rules=len(rules))
    else:
        outcome = validate(prepare(pending_observations(con), today), rules)
        _add_places(con, outcome)
    shas = sorted(str(sha) for sha in profile["file_sha256"].dropna().unique())
    names = dict(execute_sql(con, "select_file_names", {"shas": shas}).fetchall())
    failed = sorted(
        {sha for failure in outcome.failures for sha in failure.rows["file_sha256"].unique()},
        key=lambda sha: names.get(sha, sha),
    )
    for sha in failed:
        reason = "; ".join(
            f"{failure.rule.description} ({int((failure.rows['file_sha256'] == sha).sum())} values)"
            for failure in outcome.failures
            if (failure.rows["file_sha256"] == sha).any()
        )
        message = f"quarantined by a blocking check: {reason}"
        execute_sql(con, "mark_file_quarantined", {"sha256": sha, "message": message, "now": now})
        _store_failing_values(con, sha, outcome)
        _keep_in_quarantine(workspace, slug, sha, names.get(sha, sha), message, outcome)
    execute_sql(con, "mark_files_validated", {"now": now})
    return DeliveryCheck(
        outcome, sorted(names.values()), sorted(names.get(sha, sha) for sha in failed)
    )


def pending_observations(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The values of the deliveries loaded but not validated yet, with site, grain, KPI and file
    (SHA-256) as categoricals; `observation` is the row id in `kpi_observations`."""
    execute_sql(con, "create_pending_dimensions")
    categories: dict[str, list[str]] = {}
    for dimension, value in execute_sql(con, "select_pending_dimensions").fetchall():
        categories.setdefault(dimension, []).append(value)
    frame = execute_sql(con, "select_unvalidated_observations").df()
    for column in ("site", "grain", "kpi", "file_sha256"):
        frame[column] = pd.Categorical.from_codes(
            frame[column].to_numpy(), categories=categories.get(column, [])
        )
    return frame


def _add_places(con: duckdb.DuckDBPyConnection, outcome: Outcome) -> None:
    """File, sheet, row and column of the failing values the consultant will see."""
    shown = {
        int(observation)
        for failure in outcome.failures
        for observation in failure.rows["observation"].head(MAX_ROWS_SHOWN)
    }
    if not shown:
        return
    places = execute_sql(con, "select_observation_places", {"observations": sorted(shown)}).df()
    for failure in outcome.failures:
        failure.rows = failure.rows.merge(places, on="observation", how="left").set_index(
            failure.rows.index
        )


def _store_failing_values(con: duckdb.DuckDBPyConnection, sha: str, outcome: Outcome) -> None:
    """The quarantined delivery's values that broke a rule, as its rejections: each with its
    place and the rule's name, so that the report's appendix can say why in the client's
    language (up to `MAX_ROWS_SHOWN` per rule)."""
    frames = []
    for failure in outcome.failures:
        rows = failure.rows[failure.rows["file_sha256"] == sha].head(MAX_ROWS_SHOWN)
        if rows.empty:
            continue
        frames.append(
            pd.DataFrame(
                {
                    "file_sha256": sha,
                    "sheet": rows.get("sheet"),
                    "row": rows["row"].astype("Int64") if "row" in rows else None,
                    "column": rows.get("column"),
                    "value": rows["value"].map(lambda v: None if pd.isna(v) else f"{v:g}"),
                    "rule": failure.rule.name,
                    "message": [
                        f"{failure.rule.description}: {kpi} of {site}, {period:%Y-%m-%d}"
                        for kpi, site, period in zip(
                            rows["kpi"],
                            rows["site"],
                            pd.to_datetime(rows["period_start"]),
                            strict=True,
                        )
                    ],
                }
            )
        )
    execute_sql(con, "delete_file_rejections", {"sha256": sha})
    if frames:
        con.register("new_rejections", pd.concat(frames, ignore_index=True))
        execute_sql(con, "insert_rejections")
        con.unregister("new_rejections")


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
