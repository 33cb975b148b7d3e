"""`make test-deploy`: the night of the demo clients on a deployment (PostgreSQL, queued runs,
daemon, gRPC code server, webserver as separate processes), one run's worker killed with SIGKILL
while it runs."""

import email
import logging
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from deploy.conftest import LOCATION, REPOSITORY, Deployment
from deploy.services import graphql
from pipelines.definitions import defs
from pipelines.defs.dead_runs import RETRY_ONCE_TAGS
from pipelines.defs.jobs import CLIENT_STAGES, client_pipeline, report_delivery
from pipelines.defs.partitions import clients_partitions

pytestmark = pytest.mark.deploy
logger = logging.getLogger(__name__)

NIGHT_TIMEOUT_SECONDS = 480
"""The whole night, kill and retry included; about 2-3 minutes on a 2-core machine."""
UNFINISHED = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}"""


@dataclass
class Night:
    """What the deployment did with the night's runs."""

    deployment: Deployment
    slugs: list[str]
    auto: list[str]
    submitted: dict[str, str]
    duplicate: str
    killed: str
    killed_pid: int
    queued_at_restart: list[str]
    records: list[dg.RunRecord]
    seconds: float


def _submit(deployment: Deployment, slug: str) -> str:
    """Queue the nightly run of `slug` through the webserver's API, tagged as the schedule tags
    it; the run id."""
    tags = {"dagster/partition": slug, **RETRY_ONCE_TAGS}
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
            "jobName": client_pipeline.name,
        },
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    launched = graphql(deployment.graphql_url, LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the run's worker process, from its RUN_START event."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START):
        if entry.dagster_event is not None and entry.dagster_event.pid is not None:
            return entry.dagster_event.pid
    return None


def _kill_first_worker(deployment: Deployment, run_ids: list[str]) -> tuple[str, int]:
    """Wait until one of `run_ids` is started and has finished a step (its files are archived
    and loaded), then SIGKILL its worker process; the run and the pid."""
    instance = deployment.instance
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        for record in instance.get_run_records(
            filters=dg.RunsFilter(run_ids=run_ids, statuses=[dg.DagsterRunStatus.STARTED])
        ):
            run_id = record.dagster_run.run_id
            pid = _worker_pid(instance, run_id)
            done = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
            if pid is not None and done:
                os.kill(pid, signal.SIGKILL)
                return run_id, pid
        time.sleep(0.2)
    raise AssertionError(f"no run started a step in 240 s\n{deployment.diagnostics()}")


def _settled(instance: dg.DagsterInstance, slugs: list[str], auto: list[str], killed: str) -> bool:
    """Whether the night is over: nothing queued or running, every client's run succeeded, the
    killed run retried, every auto client's delivery run done."""
    records = instance.get_run_records()
    if any(record.dagster_run.status in UNFINISHED for record in records):
        return False
    succeeded = {
        record.dagster_run.tags.get("dagster/partition")
        for record in records
        if record.dagster_run.job_name == client_pipeline.name
        and record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    }
    delivered = {
        record.dagster_run.tags.get("dagster/partition")
        for record in records
        if record.dagster_run.job_name == report_delivery.name
    }
    retried = any(record.dagster_run.parent_run_id == killed for record in records)
    return set(slugs) <= succeeded and set(auto) <= delivered and retried


@pytest.fixture(scope="module")
def night(deployment: Deployment) -> Iterator[Night]:
    """Queue one nightly run per demo client, kill a running worker, wait for the night's end."""
    instance = deployment.instance
    slugs = deployment.home.client_slugs()
    auto = [s for s in slugs if deployment.home.load_config(s).report.delivery == "auto"]
    assert len(slugs) == 3 and auto, (slugs, auto)
    instance.add_dynamic_partitions(clients_partitions.name, slugs)
    started = time.monotonic()
    submitted = {slug: _submit(deployment, slug) for slug in slugs[:1]}
    # A second run of the first client queued right behind its first (as a materialization
    # launched from the UI during the night): the queue must hold it back, not the others.
    duplicate = _submit(deployment, slugs[0])
    submitted.update({slug: _submit(deployment, slug) for slug in slugs[1:]})
    queued = instance.get_runs(filters=dg.RunsFilter(run_ids=[*submitted.values(), duplicate]))
    assert {run.status for run in queued} <= {
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
    }, [run.status for run in queued]
    # An auto-mode client's run: its retry then sends the email the killed run did not.
    killed, pid = _kill_first_worker(deployment, [submitted[auto[0]]])
    # The killed run still counts as started: the third client waits in the queue. The daemon
    # dies too, without a clean shutdown; another one takes over the queue from PostgreSQL.
    queued = [
        run.run_id
        for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
    ]
    deployment.restart_daemon()
    deadline = started + NIGHT_TIMEOUT_SECONDS
    while not _settled(instance, slugs, auto, killed):
        if time.monotonic() > deadline:
            states = [(r.dagster_run.job_name, r.dagster_run.status) for r in instance.get_runs()]
            raise AssertionError(
                f"the night did not settle in {NIGHT_TIMEOUT_SECONDS} s: {states}\n"
                f"{deployment.diagnostics()}"
            )
        time.sleep(1)
    records = list(instance.get_run_records())
    for record in sorted(records, key=lambda r: r.start_time or 0):
        run = record.dagster_run
        logger.info(
            "%s %s %s %s: %.1f -> %.1f s",
            run.run_id[:8],
            run.job_name,
            run.tags.get("dagster/partition"),
            run.status.value,
            (record.start_time or 0) - record.create_timestamp.timestamp(),
            (record.end_time or 0) - record.create_timestamp.timestamp(),
        )
    yield Night(
        deployment=deployment,
        slugs=slugs,
        auto=auto,
        submitted=submitted,
        duplicate=duplicate,
        killed=killed,
        killed_pid=pid,
        queued_at_restart=queued,
        records=records,
        seconds=time.monotonic() - started,
    )


def _table(path: Path, query: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(query).df()


def test_every_client_materialized_with_the_values_of_a_single_process_run(night: Night) -> None:
    """Each client's assets are materialized in the deployment, and its KPI values and impact
    results are those `cap run` computes in one process from the same demo."""
    deployment = night.deployment
    assert deployment.reference_run.wait(timeout=300) == 0, (
        deployment.logs / "reference.log"
    ).read_text(encoding="utf-8", errors="replace")[-3000:]
    keys = dg.AssetSelection.groups(*CLIENT_STAGES).resolve(defs.resolve_asset_graph())
    assert {key.to_user_string() for key in keys} >= {"kpi_values", "impact", "report"}
    for key in keys:
        materialized = deployment.instance.get_materialized_partitions(key)
        assert set(night.slugs) <= materialized, (key, materialized)
    for slug in night.slugs:
        # delivered_at is when each run archived the files: the only column that differs.
        for query in (
            "select * exclude (delivered_at) from kpi_values "
            "order by client, site, period_start, grain, kpi",
            "select * from impact order by client, site, kpi, method",
        ):
            deployed = _table(deployment.home.warehouse(slug), query)
            single = _table(deployment.reference.warehouse(slug), query)
            assert len(deployed) > 0, (slug, query)
            pd.testing.assert_frame_equal(deployed, single, obj=f"{slug}: {query}")


def test_the_killed_run_failed_and_its_retry_succeeded(night: Night) -> None:
    """The run whose worker was killed ends FAILURE, its log saying the process died of SIGKILL;
    the daemon's retry of it (one, as the tags allow) succeeds."""
    by_id = {record.dagster_run.run_id: record.dagster_run for record in night.records}
    killed = by_id[night.killed]
    assert killed.status == dg.DagsterRunStatus.FAILURE
    events = night.deployment.instance.all_logs(night.killed)
    ended = [e for e in events if e.dagster_event_type == dg.DagsterEventType.RUN_FAILURE]
    assert len(ended) == 1, events
    messages = [entry.message for entry in events]
    # The code server that launched the run's process sees it end and says how.
    said = [message for message in messages if "process" in message.lower()]
    assert any("was terminated by signal 9 (SIGKILL)" in message for message in messages), said
    retries = [run for run in by_id.values() if run.parent_run_id == night.killed]
    assert len(retries) == 1, retries
    assert retries[0].status == dg.DagsterRunStatus.SUCCESS
    assert retries[0].tags["dagster/partition"] == killed.tags["dagster/partition"]
    assert retries[0].tags.get("dagster/retry_number") == "1"
    others = [run for run in night.submitted.values() if run != night.killed]
    assert all(by_id[run].status == dg.DagsterRunStatus.SUCCESS for run in others)


def test_no_run_stays_started_or_queued(night: Night) -> None:
    """Every run the night made ended: none queued, starting or started; the runs queued when
    the daemon was killed ran under the next daemon."""
    states = {record.dagster_run.run_id: record.dagster_run.status for record in night.records}
    assert night.queued_at_restart, "no run was queued when the daemon was killed"
    assert {states[run] for run in night.queued_at_restart} == {dg.DagsterRunStatus.SUCCESS}
    assert not [run for run, status in states.items() if status in UNFINISHED], states
    # Three nightly runs, the duplicate, a retry and one delivery per auto client: nothing else.
    jobs = sorted(record.dagster_run.job_name for record in night.records)
    expected = [client_pipeline.name] * 5 + [report_delivery.name] * len(night.auto)
    assert jobs == sorted(expected), jobs


def test_the_queue_held_two_runs_at_most_and_one_per_client(night: Night) -> None:
    """From the run records' start and end times: never more than two runs in progress at once
    (`max_concurrent_runs: 2`), never two of one client (the tag limit on `dagster/partition`)."""
    spans = [
        (r.start_time, r.end_time, r.dagster_run.tags["dagster/partition"])
        for r in night.records
        if r.start_time is not None
    ]
    assert len(spans) == len(night.records)
    assert all(end is not None and end >= start for start, end, _ in spans), spans
    peak = 0
    for start, _, slug in spans:
        running = [s for s in spans if s[0] <= start < s[1]]
        peak = max(peak, len(running))
        assert len(running) <= 2, running
        assert [s[2] for s in running].count(slug) == 1, running
    # The limit was reached: the three clients were queued at once.
    assert peak == 2, spans
    # The duplicate, queued second, waited for its client's first run while others went ahead.
    by_id = {r.dagster_run.run_id: r for r in night.records}
    first, duplicate = by_id[night.submitted[night.slugs[0]]], by_id[night.duplicate]
    assert duplicate.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    assert duplicate.start_time >= first.end_time
    others = [by_id[night.submitted[slug]].start_time for slug in night.slugs[1:]]
    assert min(others) < duplicate.start_time, (others, duplicate.start_time)


def test_each_auto_client_was_emailed_once(night: Night) -> None:
    """The outbox holds one report email (`<slug>-<period>.eml`) per client in `auto` mode,
    across the killed run and its retry (the delivery ledger), none for a client in review mode,
    and the consultant's notice of the killed run."""
    outbox = night.deployment.home.outbox
    names = sorted(path.name for path in outbox.glob("*.eml"))
    for slug in night.slugs:
        reports = [name for name in names if name.startswith(f"{slug}-")]
        assert len(reports) == (1 if slug in night.auto else 0), (slug, names)
    for name in (name for name in names if not name.startswith("run-failure-")):
        message = email.message_from_bytes((outbox / name).read_bytes())
        assert message["To"] and message["Subject"], name
    killed = next(r.dagster_run for r in night.records if r.dagster_run.run_id == night.killed)
    notice = f"run-failure-{killed.tags['dagster/partition']}-{night.killed}.eml"
    assert notice in names, names
    assert sum(name.startswith("run-failure-") for name in names) == 1, names


def test_the_webserver_lists_the_runs(night: Night) -> None:
    """The deployed webserver's GraphQL API (what the UI shows) lists every run of the night,
    with its client and status."""
    data = graphql(
        night.deployment.graphql_url,
        """{ runsOrError(limit: 50) { __typename ... on Runs { results {
             runId jobName status tags { key value } } } } }""",
    )["runsOrError"]
    assert data["__typename"] == "Runs", data
    listed = {run["runId"]: run for run in data["results"]}
    assert set(listed) == {record.dagster_run.run_id for record in night.records}
    for slug, run_id in night.submitted.items():
        tags = {tag["key"]: tag["value"] for tag in listed[run_id]["tags"]}
        assert tags["dagster/partition"] == slug
        assert listed[run_id]["jobName"] == client_pipeline.name
    assert listed[night.killed]["status"] == "FAILURE"
