"""Asset checks: Great Expectations suites on new deliveries, and warnings on current values."""

import datetime as dt

import dagster as dg

from pipelines.defs.ingest.assets import kpi_observations
from pipelines.defs.kpis.assets import kpi_values
from pipelines.defs.partitions import clients_partitions
from pipelines.defs.resources import CapWorkspace, client_today
from pipelines.markdown import markdown_table
from pipelines.quality.deliveries import (
    RECENT_PERIODS,
    check_deliveries,
    lateness,
    missing_values,
    outliers,
)
from pipelines.quality.page import write_quality_page
from pipelines.quality.waiting import WAITING_FOR_FIRST_DELIVERY


@dg.asset_check(
    asset=kpi_observations,
    blocking=True,
    partitions_def=clients_partitions,
    description="New deliveries hold plausible values (bounds per KPI), known sites, the "
    "client's grain, no future period and one value per site, period and KPI. A delivery that "
    "fails is quarantined and this client's downstream assets wait; other clients carry on.",
)
def kpi_observations_pass_delivery_rules(
    context: dg.AssetCheckExecutionContext, cap: CapWorkspace
) -> dg.AssetCheckResult:
    """Validate the client's new deliveries with Great Expectations; quarantine failures."""
    slug = context.partition_key
    config = cap.client_config(slug)
    today = client_today(config)
    with cap.warehouse(slug) as con:
        result = check_deliveries(cap.workspace, slug, config, con, today, dt.datetime.now(dt.UTC))
        page = write_quality_page(cap.workspace, slug, config, con, result, today)
    return dg.AssetCheckResult(
        passed=result.outcome.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            **result.outcome.metadata(),
            "deliveries_checked": len(result.files),
            "deliveries_quarantined": ", ".join(result.quarantined) or "none",
            "data_quality_page": dg.MetadataValue.path(str(page)),
        },
    )


@dg.asset_check(
    asset=kpi_values,
    partitions_def=clients_partitions,
    description="No current value is far from the same site's history (robust z-score above "
    "quality.outlier_z, 5 by default). A warning: a strike or water damage is real.",
)
def kpi_values_have_no_outliers(
    context: dg.AssetCheckExecutionContext, cap: CapWorkspace
) -> dg.AssetCheckResult:
    """Flag values far from their site's own history, without blocking anything."""
    slug = context.partition_key
    config = cap.client_config(slug)
    with cap.warehouse(slug, read_only=True) as con:
        found = outliers(con, config)
    return dg.AssetCheckResult(
        passed=found.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "outliers": len(found),
            "limit": config.quality.outlier_z,
            "values": dg.MetadataValue.md(markdown_table(found)),
        },
    )


@dg.asset_check(
    asset=kpi_values,
    partitions_def=clients_partitions,
    description="The latest period is recent for how often the client sends (45 days after a "
    "month's end, 14 after a week's, or quality.late_after_days). A warning. A client that "
    "sent nothing yet is not late (nothing was ever due): it waits for its first delivery.",
)
def kpi_values_are_fresh(
    context: dg.AssetCheckExecutionContext, cap: CapWorkspace
) -> dg.AssetCheckResult:
    """Warn when the client's latest data is older than its cadence allows."""
    slug = context.partition_key
    config = cap.client_config(slug)
    with cap.warehouse(slug, read_only=True) as con:
        latest, days, allowed = lateness(con, config, client_today(config))
    if latest is None:
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"Not late: {WAITING_FOR_FIRST_DELIVERY} (nothing was due yet).",
            metadata={"latest_period": "none", "status": WAITING_FOR_FIRST_DELIVERY},
        )
    return dg.AssetCheckResult(
        passed=days <= allowed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "latest_period": str(latest) if latest else "none",
            "days_since_period_end": days,
            "days_allowed": allowed,
        },
    )


@dg.asset_check(
    asset=kpi_values,
    partitions_def=clients_partitions,
    description="Every KPI a site usually sends has a value in each of the last periods "
    f"(the last {RECENT_PERIODS}). A warning naming the missing site, period and KPI.",
)
def kpi_values_are_complete(
    context: dg.AssetCheckExecutionContext, cap: CapWorkspace
) -> dg.AssetCheckResult:
    """Warn about recent values missing against what the client usually sends."""
    with cap.warehouse(context.partition_key, read_only=True) as con:
        missing = missing_values(con)
    return dg.AssetCheckResult(
        passed=missing.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "missing_values": len(missing),
            "missing": dg.MetadataValue.md(markdown_table(missing)),
        },
    )
