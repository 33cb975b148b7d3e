"""Schedules: the nightly run of every client at 02:00 in its own time zone, and the
consultant's morning digest."""

import datetime as dt

import dagster as dg

from pipelines.config.loader import ConfigError
from pipelines.config.model import ClientConfig
from pipelines.defs.consultant.jobs import consultant_digest_job
from pipelines.defs.dead_runs import RETRY_ONCE_TAGS
from pipelines.defs.jobs import client_pipeline
from pipelines.defs.partitions import clients_partitions
from pipelines.defs.resources import CapWorkspace
from pipelines.delivery.digest import DIGEST_TIMEZONE
from pipelines.inputs import unchanged
from pipelines.scheduling import NIGHTLY_RUN_TIME, TICK_INTERVAL, clients_due

DEFAULT_TIMEZONE: str = ClientConfig.model_fields["timezone"].default
"""The time zone of a client whose `client.yaml` cannot be read: only to say, once a night,
that its run is skipped."""


@dg.schedule(
    cron_schedule="0 * * * *",
    execution_timezone="UTC",
    job=client_pipeline,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def nightly_client_runs(
    context: dg.ScheduleEvaluationContext, cap: CapWorkspace
) -> list[dg.RunRequest] | dg.SkipReason:
    """Every hour, runs each client (a partition) whose local 02:00 (its `client.yaml` time zone)
    passed within the hour: one run per client and local night, daylight-saving changes
    included (run key `nightly:<local date>:<slug>`). A client whose `client.yaml` is invalid
    is skipped with a warning naming the problem; the morning digest lists it. A client whose
    inputs (client.yaml, inbox, Cap's code) are those of its last completed run is skipped:
    the run would change nothing. A run whose process dies is retried once."""
    tick = context.scheduled_execution_time
    if tick.tzinfo is None:
        tick = tick.replace(tzinfo=dt.UTC)
    zones: dict[str, str] = {}
    broken: dict[str, str] = {}
    for slug in context.instance.get_dynamic_partitions(clients_partitions.name):
        try:
            zones[slug] = cap.client_config(slug).timezone
        except (ConfigError, OSError) as exc:
            broken[slug] = str(exc)
    # Said once a night (at the default zone's 02:00), not at every hourly tick.
    for run in clients_due(tick, dict.fromkeys(broken, DEFAULT_TIMEZONE)):
        context.log.warning(
            "%s: nightly run skipped, its client.yaml is invalid: %s", run.slug, broken[run.slug]
        )
    due = clients_due(tick, zones)
    # Without waiting for a warehouse a run is writing: the tick must end within its timeout,
    # and such a client is requested anyway (its run key keeps it to one run a night).
    same = [run for run in due if unchanged(cap.workspace, run.slug, lock_wait=0)]
    for run in same:
        context.log.info("%s: unchanged since its last completed run, skipped", run.slug)
    due = [run for run in due if run not in same]
    if not due and same:
        return dg.SkipReason(f"unchanged since their last run: {', '.join(r.slug for r in same)}")
    if not due:
        start = tick - TICK_INTERVAL
        return dg.SkipReason(
            f"no client's local {NIGHTLY_RUN_TIME:%H:%M} in ({start:%Y-%m-%d %H:%M}, "
            f"{tick:%H:%M}] UTC"
        )
    return [
        dg.RunRequest(partition_key=run.slug, run_key=run.run_key, tags=RETRY_ONCE_TAGS)
        for run in due
    ]


daily_digest_0700_paris = dg.ScheduleDefinition(
    name="daily_digest_0700_paris",
    cron_schedule="0 7 * * *",
    execution_timezone=DIGEST_TIMEZONE,
    job=consultant_digest_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every morning at 07:00 Paris time, emails the consultant what needs them: "
    "failed warning checks of the last 24 h, late clients, invalid configurations and reports "
    "waiting for approval.",
)
