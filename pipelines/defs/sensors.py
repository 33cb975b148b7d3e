"""Sensors: react to what the consultant drops into a client's inbox, and tell the consultant
when a run fails."""

import datetime as dt
import json

import dagster as dg

from pipelines.config.loader import ConfigError
from pipelines.defs.dead_runs import RETRY_ONCE_TAGS, end_dead_runs
from pipelines.defs.jobs import client_pipeline, report_delivery
from pipelines.defs.partitions import PARTITION_TAG, clients_partitions
from pipelines.defs.resources import CapWorkspace, Mailer
from pipelines.delivery.notices import (
    DAGSTER_UI_URL,
    ErrorInfo,
    FailedStep,
    RunFailure,
    error_chain,
    failure_notice,
    send_notice,
    usable_settings,
)
from pipelines.delivery.report_email import APPROVAL_TAG, AUTO
from pipelines.ingest.archive import inbox_fingerprint, unarchived_files


@dg.sensor(
    job=client_pipeline,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def client_inbox_sensor(context: dg.SensorEvaluationContext, cap: CapWorkspace) -> dg.SensorResult:
    """Adds a partition for each new client folder and runs a client whose inbox received files.

    The cursor keeps a fingerprint of each inbox listing; a client is run only when its listing
    changed and it holds a file whose bytes are not archived yet. A run whose process dies is
    retried once.
    """
    workspace = cap.workspace
    previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    slugs = workspace.client_slugs()
    known = set(context.instance.get_dynamic_partitions(clients_partitions.name))
    new_clients = [slug for slug in slugs if slug not in known]
    fingerprints = {slug: inbox_fingerprint(workspace, slug) for slug in slugs}
    run_requests = [
        dg.RunRequest(partition_key=slug, run_key=f"{slug}:{fingerprint}", tags=RETRY_ONCE_TAGS)
        for slug, fingerprint in fingerprints.items()
        if previous.get(slug) != fingerprint and unarchived_files(workspace, slug)
    ]
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=(
            [clients_partitions.build_add_request(new_clients)] if new_clients else []
        ),
        cursor=json.dumps(fingerprints, sort_keys=True),
    )


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def dead_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Every minute, marks as failed the started runs whose process is gone from this machine
    (killed, crashed): Dagster's default run launcher cannot see it, and a run `cap run` ran
    in its own process has no launcher at all. It runs beside the launcher, so it also ends the
    runs the UI or the daemon launched (no host tag), which `cap run` leaves alone. The failure
    names the process; a nightly run failed so is then retried once, and the failure alert
    tells the consultant. Where the run launcher checks its workers itself (Kubernetes, one pod
    per run), run monitoring does this and the sensor does nothing: a pod's pid means nothing on
    the daemon's machine."""
    if context.instance.run_launcher.supports_check_run_worker_health:
        return dg.SkipReason(
            "the run launcher checks its runs' workers: run monitoring fails a run whose worker "
            "died"
        )
    ended = end_dead_runs(context.instance)
    if ended:
        return dg.SkipReason(f"marked failed, their process was gone: {', '.join(ended)}")
    return dg.SkipReason("no started run has lost its process")


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Emails the consultant when a run of this code location fails: the client, the "
    "failed step and its error, and the run's link. Without an SMTP server (or a consultant "
    "address), the notice goes to the outbox.",
)
def run_failure_alert_sensor(
    context: dg.RunFailureSensorContext, cap: CapWorkspace, mailer: Mailer
) -> None:
    """Tell the consultant that a run failed: which client (the run's partition), which step,
    which error (its innermost cause, and what it was raised as), with the run's link in the UI.

    A refused send the consultant launched (`cap send`, the UI) is not notified: they see it.
    Sent over SMTP to `CAP_CONSULTANT_EMAIL`; written to `outbox/` when no SMTP server is
    configured, when the address is empty or invalid (with a warning), or when sending fails.
    """
    run = context.dagster_run
    if run.job_name == report_delivery.name and run.tags.get(APPROVAL_TAG) != AUTO:
        # The consultant launched this send and sees its refusal where they launched it.
        context.log.info("run %s: a send the consultant launched failed; no notice", run.run_id)
        return
    failure = _run_failure(context, cap)
    subject, text = failure_notice(failure, DAGSTER_UI_URL)
    outcome = send_notice(
        subject=subject,
        text=text,
        kind="run-failure",
        key=f"{failure.client or failure.job_name}-{failure.run_id}",
        consultant=mailer.consultant,
        settings=usable_settings(mailer.settings),
        outbox=cap.workspace.outbox,
        now=dt.datetime.now(dt.UTC),
    )
    where = "sent" if outcome.status == "sent" else f"written to {outcome.eml}"
    context.log.info("run %s failed: the consultant's notice was %s", failure.run_id, where)


def _run_failure(context: dg.RunFailureSensorContext, cap: CapWorkspace) -> RunFailure:
    """The failed run as the notice tells it, from the run's tags and its event log."""
    run = context.dagster_run
    slug = run.tags.get(PARTITION_TAG) or context.partition_key
    name = None
    if slug:
        try:
            name = cap.client_config(slug).name
        except (ConfigError, OSError, ValueError):
            name = None
    steps = tuple(
        FailedStep(event.step_key or "unknown step", error_chain(_error(event)))
        for event in context.get_step_failure_events()
    )
    run_errors: tuple[str, ...] = ()
    if not steps:
        run_errors = error_chain(_error(context.failure_event))
        if not run_errors and context.failure_event.message:
            run_errors = (context.failure_event.message,)
    record = context.instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record is not None else None
    return RunFailure(
        run_id=run.run_id,
        job_name=run.job_name,
        client=slug,
        client_name=name,
        steps=steps,
        run_errors=run_errors,
        failed_at=dt.datetime.fromtimestamp(ended, dt.UTC) if ended else None,
    )


def _error(event: dg.DagsterEvent) -> ErrorInfo | None:
    """The error a step- or run-failure event carries, if any."""
    return getattr(event.event_specific_data, "error", None)
