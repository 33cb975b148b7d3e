"""Sensors of the delivery stage: the automatic send after a nightly run."""

import dagster as dg

from pipelines.defs.jobs import client_pipeline, report_delivery
from pipelines.defs.partitions import PARTITION_TAG
from pipelines.defs.resources import CapWorkspace, client_today
from pipelines.delivery.report_email import APPROVAL_TAG, AUTO, NotSendable, due_automatically


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[client_pipeline],
    request_job=report_delivery,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def auto_delivery_sensor(
    context: dg.RunStatusSensorContext, cap: CapWorkspace
) -> dg.RunRequest | dg.SkipReason:
    """After a client's run succeeds, sends its report when the client is in `auto` mode, the
    data is fresh and new since the last email, and the period has not gone out yet; otherwise
    says why not (review mode: the report waits for the consultant's approval)."""
    slug = context.dagster_run.tags.get(PARTITION_TAG)
    if slug is None:
        return dg.SkipReason("the run has no client partition")
    config = cap.client_config(slug)
    try:
        with cap.warehouse(slug, read_only=True) as con:
            period = due_automatically(con, cap.workspace, config, slug, client_today(config))
    except NotSendable as reason:
        return dg.SkipReason(f"{slug}: {reason}")
    return dg.RunRequest(
        partition_key=slug,
        run_key=f"auto:{slug}:{period}:{context.dagster_run.run_id}",
        tags={APPROVAL_TAG: AUTO},
        run_config={"ops": {"report_email": {"config": {"period": period}}}},
    )
