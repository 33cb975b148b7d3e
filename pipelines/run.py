"""Headless runs: the client pipeline job executed for each client, as the UI would run it.

`cap run` goes through the same `Definitions`, job, assets and checks as the UI and the
schedules, in this process, and records every run in the Dagster instance (`DAGSTER_HOME`), so
the consultant finds them in the UI afterwards.
"""

import contextlib
import gc
import io
import logging
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.config.loader import ConfigError
from pipelines.defs.dead_runs import end_dead_runs, process_tags
from pipelines.defs.resources import client_today
from pipelines.delivery import ledger
from pipelines.delivery.report_email import (
    APPROVAL_TAG,
    AUTO,
    CAP_SEND,
    TRIGGER_TAG,
    NotSendable,
    built_period,
    due_automatically,
    report_periods,
)
from pipelines.ingest.archive import list_inbox, refused_summary
from pipelines.inputs import unchanged
from pipelines.quality.waiting import (
    WAITING_FOR_FIRST_DELIVERY,
    quarantine_line,
    waiting_deliveries,
)
from pipelines.storage import warehouse_problem
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

logger = logging.getLogger(__name__)

JOB_NAME = "client_pipeline"
DELIVERY_JOB_NAME = "report_delivery"
REPORT_GROUPS = frozenset({"report"})


def default_workers() -> int:
    """How many clients `cap run` runs at a time by default: two where there are two cores or
    more, else one. On two cores, two workers ran the portfolio benchmark's full run 1.9 times
    as fast as one, within its 1.5 GB memory target; a third would only share the same cores
    and add a process's memory."""
    return min(2, os.cpu_count() or 1)


@dataclass
class ClientOutcome:
    """What one client's run did, for the summary table."""

    slug: str
    success: bool = False
    files_loaded: int = 0
    files_rejected: int = 0
    values_stored: int = 0
    checks_failed: list[str] = field(default_factory=list)
    reports_built: int = 0
    report_pdf: str | None = None
    email: str = ""
    skipped: bool = False
    seconds: float = 0.0
    error: str | None = None
    waiting: str = ""
    """`waiting for the first delivery` when the client has no value yet."""
    storage_problem: str | None = None
    """Why the client's warehouse cannot be used (it names `cap rebuild`), when it cannot."""


def run_clients(
    workspace: Workspace, only: str | None = None, force: bool = False, workers: int | None = None
) -> int:
    """Run every client (or one) and print a summary; 1 when any client failed, else 0.

    A client whose inputs (client.yaml, inbox, Cap's code) are those of its last completed run
    is skipped, unless `force`: running it would change nothing. With `workers` above 1, that
    many clients run at a time, each in a worker process (each client has its own warehouse);
    a client's progress lines are printed as one block when it ends. By default,
    `default_workers()`.
    """
    workers = default_workers() if workers is None else workers
    slugs = workspace.client_slugs()
    if only is not None:
        if only not in slugs:
            _say(f"No client {only!r} in {workspace.clients_dir} (clients: {', '.join(slugs)})")
            return 1
        slugs = [only]
    if not slugs:
        _say(f"No client in {workspace.clients_dir}: run `cap demo` or add a client folder.")
        return 1
    instance = dg.DagsterInstance.get()
    partitions = "clients"
    known = set(instance.get_dynamic_partitions(partitions))
    instance.add_dynamic_partitions(partitions, [s for s in slugs if s not in known])
    outcomes: dict[str, ClientOutcome] = {}
    to_run = []
    for position, slug in enumerate(slugs, start=1):
        started = time.perf_counter()
        if (problem := warehouse_problem(workspace, slug)) is not None:
            _say(f"[{position}/{len(slugs)}] {slug}: FAILED, {problem}")
            outcomes[slug] = ClientOutcome(slug, error=problem, storage_problem=problem)
        elif not force and (email := _email_if_unchanged(workspace, slug)) is not None:
            _say(f"[{position}/{len(slugs)}] {slug}: unchanged since its last run, skipped")
            outcome = ClientOutcome(slug, success=True, skipped=True)
            outcome.email = email
            outcome.seconds = time.perf_counter() - started
            outcomes[slug] = outcome
        else:
            to_run.append(slug)
    if min(workers, len(to_run)) <= 1:
        for slug in to_run:
            _say(f"[{len(outcomes) + 1}/{len(slugs)}] {slug}")
            outcomes[slug] = run_one_client(workspace, slug, checked=True)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(to_run)), mp_context=context) as pool:
            futures = [pool.submit(_run_in_worker, str(workspace.home), slug) for slug in to_run]
            for future in as_completed(futures):
                outcome, progress = future.result()
                _say(f"[{len(outcomes) + 1}/{len(slugs)}] {outcome.slug}\n{progress}".rstrip())
                outcomes[outcome.slug] = outcome
    _print_summary([outcomes[slug] for slug in slugs], workspace)
    return 0 if all(outcome.success for outcome in outcomes.values()) else 1


def run_one_client(workspace: Workspace, slug: str, checked: bool = False) -> ClientOutcome:
    """Run the client's pipeline in this process, then send its report when it is in auto mode
    and due. A damaged warehouse fails the client with its one-line reason, before any step
    reads it (`checked`: the caller has just looked)."""
    if not checked and (problem := warehouse_problem(workspace, slug)) is not None:
        _say(f"    FAILED {problem}")
        return ClientOutcome(slug, error=problem, storage_problem=problem)
    job, delivery = _jobs()
    _freeze_survivors()
    instance = dg.DagsterInstance.get()
    outcome = _run_client(job, instance, workspace, slug)
    if outcome.success and outcome.report_pdf:
        outcome.email, due = _email_status(workspace, slug)
        if due is not None:
            said = _execute_delivery(delivery, instance, slug, due, tags={APPROVAL_TAG: AUTO})
            outcome.email = said.removeprefix(f"{slug}: ")
    return outcome


def _freeze_survivors() -> None:
    """Collect the garbage of the clients run before, then exempt every object still alive
    (imported modules, Great Expectations once imported, caches) from the garbage collector's
    full passes. Those passes walked half a million long-lived objects, 0.3 to 0.5 s each and
    one or two per client; after this, 0.13 s per client in all. What is frozen is never
    collected: the few thousand objects a client leaves behind, which live on anyway."""
    gc.collect()
    gc.freeze()


def _run_in_worker(home: str, slug: str) -> tuple[ClientOutcome, str]:
    """`run_one_client` in a worker process; its progress lines are returned, not printed, so
    that two clients' lines never interleave."""
    progress = io.StringIO()
    with contextlib.redirect_stdout(progress):
        outcome = run_one_client(Workspace(Path(home)), slug, checked=True)
    return outcome, progress.getvalue()


@cache
def _jobs() -> tuple[dg.JobDefinition, dg.JobDefinition]:
    """The client pipeline and report delivery jobs of the one Definitions."""
    from pipelines.definitions import defs

    return defs.resolve_job_def(JOB_NAME), defs.resolve_job_def(DELIVERY_JOB_NAME)


def _email_if_unchanged(workspace: Workspace, slug: str) -> str | None:
    """None when the client must run; else (inputs unchanged) where its email stands. One
    read-only connection for both: a night without news opens each warehouse once."""
    path = workspace.warehouse(slug)
    if not path.exists():
        return None
    try:
        with open_warehouse(path, read_only=True) as con:
            if not unchanged(workspace, slug, con):
                return None
            return _email_status(workspace, slug, con)[0]
    except OSError:  # e.g. no client.yaml, a damaged warehouse: the run says what is wrong
        return None


def _run_client(
    job: dg.JobDefinition, instance: dg.DagsterInstance, workspace: Workspace, slug: str
) -> ClientOutcome:
    outcome = ClientOutcome(slug)
    started = time.perf_counter()
    try:
        workspace.load_config(slug)
    except ConfigError as error:
        outcome.error = str(error)
        _say(f"    FAILED configuration\n{_indent(str(error))}")
        return outcome
    # Only this machine's own `cap run` runs: the daemon's may live on another machine.
    for run_id in end_dead_runs(instance, slug, untagged=False):
        _say(f"    an earlier run ({run_id}) whose process was killed is marked failed")
    result = job.execute_in_process(
        partition_key=slug,
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"cap_progress": {}}},
        tags={TRIGGER_TAG: "cap run", **process_tags()},
    )
    outcome.seconds = time.perf_counter() - started
    outcome.success = result.success
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            name = materialization.asset_key.to_user_string()
            metadata = {key: value.value for key, value in materialization.metadata.items()}
            if name == "kpi_observations":
                outcome.files_loaded = int(metadata.get("files_loaded", 0))
                outcome.files_rejected = int(metadata.get("files_rejected", 0))
                outcome.values_stored = int(metadata.get("values_stored", 0))
            if metadata.get("status") == WAITING_FOR_FIRST_DELIVERY:
                outcome.waiting = WAITING_FOR_FIRST_DELIVERY
            elif name == "report":
                outcome.reports_built += 1
                outcome.report_pdf = str(metadata.get("pdf", "")) or None
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.asset_check_evaluation_data
            if not evaluation.passed:
                outcome.checks_failed.append(evaluation.check_name)
                if evaluation.severity == dg.AssetCheckSeverity.ERROR and outcome.error is None:
                    quarantined = evaluation.metadata.get("deliveries_quarantined")
                    outcome.error = f"blocking check {evaluation.check_name} failed" + (
                        f"; quarantined: {quarantined.value}" if quarantined else ""
                    )
        elif event.event_type_value == "STEP_FAILURE" and outcome.error is None:
            outcome.error = f"{event.step_key}: {_root_cause(event.step_failure_data.error)}"
    if outcome.error:
        _say(f"    error: {outcome.error}")
    return outcome


def _email_status(
    workspace: Workspace, slug: str, con: duckdb.DuckDBPyConnection | None = None
) -> tuple[str, str | None]:
    """Where the client's latest report email stands, in a few words, and the period to send
    now when the client is in auto mode and it is due (as the nightly run's sensor decides)."""
    config = workspace.load_config(slug)
    periods = report_periods(workspace, slug)
    if not periods:
        return "", None
    if con is None:
        with open_warehouse(workspace.warehouse(slug), read_only=True) as opened:
            return _email_status(workspace, slug, opened)
    done = ledger.already_sent(con, periods[-1])
    if done is not None:
        how = "sent" if done.status == "sent" else "written to the outbox"
        when = done.sent_at or done.created_at
        return f"{periods[-1]} already {how} on {when:%Y-%m-%d %H:%M} (UTC)", None
    if config.report.delivery == "review":
        return f"waiting for approval: cap send --client {slug} --period {periods[-1]}", None
    try:
        period = due_automatically(con, workspace, config, slug, client_today(config))
    except NotSendable as reason:
        return f"not sent: {reason}", None
    return "", period


def send_report(workspace: Workspace, slug: str, period: str | None, resend: bool) -> int:
    """`cap send`: email the client's report of `period` (None: the latest built) as the
    consultant's approval, through the `report_email` asset; 0 when it went out, else 1."""
    from pipelines.definitions import defs

    if slug not in workspace.client_slugs():
        _say(f"No client {slug!r} in {workspace.clients_dir}")
        return 1
    instance = dg.DagsterInstance.get()
    known = set(instance.get_dynamic_partitions("clients"))
    if slug not in known:
        instance.add_dynamic_partitions("clients", [slug])
    try:
        # The consultant approves a period, not "the latest": a re-execution of this run
        # later must send this period again, not one built since.
        period = built_period(workspace, slug, period)
    except NotSendable as reason:
        _say(f"{slug}: not sent: {reason}")
        return 1
    job = defs.resolve_job_def(DELIVERY_JOB_NAME)
    said = _execute_delivery(
        job, instance, slug, period, tags={TRIGGER_TAG: CAP_SEND}, resend=resend
    )
    _say(said)
    return 1 if ": not sent: " in said else 0


def _execute_delivery(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    slug: str,
    period: str,
    tags: dict[str, str],
    resend: bool = False,
) -> str:
    """Run `report_email` for the client in this process; what it did, in a few words."""
    result = job.execute_in_process(
        partition_key=slug,
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"report_email": {"config": {"period": period, "resend": resend}}}},
        tags=tags,
    )
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            metadata = event.event_specific_data.materialization.metadata
            status = metadata["status"].value
            how = "written to the outbox" if status == "written" else "sent"
            return (
                f"{slug}: {how} ({metadata['period'].value}, {metadata['recipients'].value} "
                f"recipients): {metadata['eml'].value}"
            )
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            user = event.step_failure_data.user_failure_data
            return user.description if user else f"{slug}: not sent: {_root_cause(error)}"
    return f"{slug}: not sent: the delivery run did nothing"


def _root_cause(error: object) -> str:
    """The innermost error's message: what went wrong, not Dagster's wrapper around it."""
    if error is None:
        return "unknown error"
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip()


def _print_summary(outcomes: list[ClientOutcome], workspace: Workspace) -> None:
    _say("")
    width = max([7, *(len(_status(outcome)) for outcome in outcomes)])
    header = (
        f"{'client':<22} {'status':<{width}} {'loaded':>6} {'rejected':>8} {'values':>8} "
        f"{'checks failed':>13} {'reports':>7} {'time':>7}"
    )
    _say(header)
    _say("-" * len(header))
    for outcome in outcomes:
        _say(
            f"{outcome.slug:<22} {_status(outcome):<{width}} "
            f"{outcome.files_loaded:>6} {outcome.files_rejected:>8} {outcome.values_stored:>8} "
            f"{len(outcome.checks_failed):>13} {outcome.reports_built:>7} "
            f"{outcome.seconds:>6.1f}s"
        )
    _say("")
    _say(f"Warehouses: {workspace.home / 'warehouse'}")
    for outcome in outcomes:
        if outcome.storage_problem:
            _say(f"  {outcome.slug:<20} {outcome.storage_problem}")
    _say(f"Archive:    {workspace.home / 'archive'}")
    _say(f"Quarantine: {workspace.home / 'quarantine'}")
    for outcome in outcomes:
        if line := _quarantine_waiting(workspace, outcome.slug):
            _say(f"  {outcome.slug:<20} {line}")
    refused = {outcome.slug: list_inbox(workspace, outcome.slug).refused for outcome in outcomes}
    if any(refused.values()):
        _say("Inboxes:")
        for slug, entries in refused.items():
            if entries:
                _say(f"  {slug:<20} {refused_summary(entries)}")
    _say(f"Reports:    {workspace.home / 'reports'}")
    for outcome in outcomes:
        if outcome.report_pdf:
            _say(f"  {outcome.slug:<20} {outcome.report_pdf}")
    _say(f"Emails:     {workspace.outbox}")
    for outcome in outcomes:
        if outcome.email:
            _say(f"  {outcome.slug:<20} {outcome.email}")
    _say("Browse it all: make ui, then http://127.0.0.1:3000")


def _status(outcome: ClientOutcome) -> str:
    if outcome.skipped:
        return "same"
    if not outcome.success:
        return "FAILED"
    return outcome.waiting or "ok"


def _quarantine_waiting(workspace: Workspace, slug: str) -> str:
    """The client's deliveries still waiting in quarantine, on one line ("" for none, or when
    its warehouse cannot be read: the run's own error says why)."""
    path = workspace.warehouse(slug)
    if not path.exists():
        return ""
    try:
        with open_warehouse(path, read_only=True) as con:
            return quarantine_line(waiting_deliveries(con))
    except (duckdb.Error, OSError) as error:
        logger.warning("%s: quarantine not readable for the summary: %s", slug, error)
        return ""


def _indent(text: str) -> str:
    return "\n".join(f"      {line}" for line in text.splitlines())


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
