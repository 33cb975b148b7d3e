"""Schedules: the nightly run that needs nobody."""

import dagster as dg

from pipelines.defs.jobs import client_pipeline
from pipelines.defs.partitions import clients_partitions


@dg.schedule(
    cron_schedule="0 2 * * *",
    execution_timezone="Europe/Paris",
    job=client_pipeline,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def nightly_0200_paris(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    """Every night at 02:00 Paris time, one run per client (each client is a partition)."""
    night = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [
        dg.RunRequest(partition_key=slug, run_key=f"nightly:{night}:{slug}")
        for slug in context.instance.get_dynamic_partitions(clients_partitions.name)
    ]
