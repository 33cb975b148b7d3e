"""Runs whose process died end as failed, with a message that says so.

Dagster's run monitoring (on in the workspace's `dagster.yaml`) fails runs stuck while starting
or cancelling and runs over a time limit, but Dagster 1.13's default run launcher cannot tell
whether a started run's process still lives, and a run `cap run` executes in its own process
(`execute_in_process`) has no launcher at all: killed, either stays STARTED forever. Both emit
their RUN_START event from the process that runs them; when that process is gone from this
machine, the run is marked failed here: by `cap run` before it runs a client (only runs
tagged with this machine's name: a run the UI or the daemon launched may live on another
machine sharing the Dagster storage), and by `dead_runs_sensor`, which runs beside the launcher,
for untagged runs too.
"""

import logging
import os

import dagster as dg

from pipelines.defs.partitions import PARTITION_TAG
from pipelines.processes import process_gone, this_host

logger = logging.getLogger(__name__)

HOST_TAG = "cap/host"
"""The machine whose process ran the run (`cap run`'s runs); a run without it was launched by
the UI or the daemon, on the machine where the daemon and its sensors run."""
PID_TAG = "cap/pid"
"""The process that ran the run (`cap run`'s runs); else the pid of the run's RUN_START event."""
RETRY_ONCE_TAGS = {"dagster/max_retries": "1", "dagster/retry_on_asset_or_op_failure": "false"}
"""Tags of the nightly and inbox runs: retried once when their process died (run retries on in
`dagster.yaml`), never when one of their own steps failed."""


def process_tags() -> dict[str, str]:
    """The tags that name this process as the one running a run."""
    return {HOST_TAG: this_host(), PID_TAG: str(os.getpid())}


def end_dead_runs(
    instance: dg.DagsterInstance, client: str | None = None, *, untagged: bool = True
) -> list[str]:
    """Mark as failed every started run (of `client`, or of every client) whose process is gone
    from this machine; the ids of the runs ended. A run of another machine is left alone; so is
    a run without the host tag unless `untagged` (the sensor, beside the launcher, says so:
    `cap run` cannot know where the daemon ran it)."""
    tags = {PARTITION_TAG: client} if client is not None else {}
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags=tags)
    )
    ended = []
    for record in records:
        run = record.dagster_run
        host = run.tags.get(HOST_TAG)
        if host is None and not untagged:
            continue
        if host is not None and host != this_host():
            continue
        pid = _run_pid(instance, run)
        if pid is None or not process_gone(pid, record.start_time):
            continue
        where = f"pid {pid} on {host or this_host()}"
        message = (
            f"The process that ran this run ({where}) is gone: it was killed or crashed before "
            "the run ended. Marked as failed by Cap; its steps did not finish."
        )
        # Read again: the run may have ended between the query and now.
        latest = instance.get_run_by_id(run.run_id)
        if latest is None or latest.status != dg.DagsterRunStatus.STARTED:
            continue
        instance.report_run_failed(latest, message)
        logger.warning("run %s (%s): %s", run.run_id, run.job_name, message)
        ended.append(run.run_id)
    return ended


def _run_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    """The pid of the process that runs `run`: its tag, else its RUN_START event's."""
    tagged = run.tags.get(PID_TAG)
    if tagged is not None and tagged.isdigit():
        return int(tagged)
    started = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_START)
    for entry in started:
        if entry.dagster_event is not None and entry.dagster_event.pid is not None:
            return entry.dagster_event.pid
    return None
