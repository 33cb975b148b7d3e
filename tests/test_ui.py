"""The Dagster UI in a real browser, and the run queue's one run at a time per client.

`make ui`'s command (`dagster dev -m pipelines.definitions`) is started once for the module, over
a demo workspace where `cap run` already ran, and opened in headless Chromium (Debian's, through
Playwright). Each view is saved as a screenshot in `test-artifacts/ui/`. The same `dagster dev`
then takes three runs at once through GraphQL, as the UI's "Materialize" would: two for one
client, which must wait for each other, and one for another client, which must not wait.
"""

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster_graphql import DagsterGraphQLClient
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from pipelines.delivery.smtp import MAIL_ENV_VARS
from pipelines.workspace import RUN_MONITORING_YAML, RUN_QUEUE_YAML, Workspace

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts" / "ui"
BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AS_OF = "2026-11-26"
CLIENT = "menuiseries-rhone"
OTHER_CLIENT = "helios-services"
DEMO_CLIENTS = (CLIENT, "logistique-durand", OTHER_CLIENT)
ASSETS = ("raw_files", "kpi_observations", "kpi_values", "kpi_series", "impact", "report")
KPI_VALUES_CHECKS = (
    "kpi_values_are_complete",
    "kpi_values_are_fresh",
    "kpi_values_have_no_outliers",
)
PARTITION_TAG = "dagster/partition"
STARTUP_TIMEOUT = 120.0
RUNS_TIMEOUT = 240.0
UI_TIMEOUT_MS = 30_000
LOCK_ERROR = re.compile(r"conflicting lock|could not set lock", re.IGNORECASE)
LOCATION_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


@dataclass(frozen=True)
class DagsterDev:
    """A running `dagster dev` over a demo workspace."""

    home: Path
    port: int
    log: Path

    @property
    def address(self) -> list[str]:
        """`dagster dev`'s host and port options."""
        return ["-h", "127.0.0.1", "-p", str(self.port)]

    @property
    def url(self) -> str:
        """The UI's address."""
        return f"http://127.0.0.1:{self.port}"


def cap_env(home: Path) -> dict[str, str]:
    """The environment `make ui` gives `cap` and `dagster dev`: the workspace, its Dagster
    instance, no telemetry, and every mail variable set (empty: emails go to the outbox)."""
    env = dict(os.environ)
    env.update(
        CAP_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
        DAGSTER_DISABLE_TELEMETRY="1",
    )
    env.update(dict.fromkeys(MAIL_ENV_VARS, ""))
    return env


def free_port() -> int:
    """A TCP port nobody listens on at the moment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(log: Path, lines: int = 40) -> str:
    """The last lines `dagster dev` wrote, for error messages."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def graphql(url: str, query: str) -> dict:
    """The `data` of a GraphQL query to the webserver at `url`."""
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


def wait_until_ready(process: subprocess.Popen, server: DagsterDev, timeout: float) -> None:
    """Poll `/server_info`, then the code location's load status, until the UI can show Cap's
    definitions; fail with the tail of `dagster dev`'s output if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(
                f"dagster dev exited with code {process.returncode} before it was ready:\n"
                f"{log_tail(server.log)}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/server_info", timeout=5):
                pass
            entries = graphql(server.url, LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
        except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, TypeError):
            entries = []
        errors = [
            entry["locationOrLoadError"].get("message", "")
            for entry in entries
            if (entry["locationOrLoadError"] or {}).get("__typename") == "PythonError"
        ]
        if errors:
            pytest.fail(f"Cap's definitions failed to load in dagster dev:\n{errors[0]}")
        if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"dagster dev was not ready on {server.url} after {timeout:.0f} s:\n"
                f"{log_tail(server.log)}"
            )
        time.sleep(0.5)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to `dagster dev`'s process group (webserver, daemon, code server, run workers),
    then SIGKILL if it is still there after 20 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    """`cap demo` and `cap run` over a new workspace, then `make ui`'s `dagster dev` over it."""
    home = tmp_path_factory.mktemp("ui") / "cap"
    env = cap_env(home)
    for command in (["demo", "--as-of", AS_OF], ["run"]):
        done = subprocess.run(
            [str(BIN / "cap"), command[0], "--home", str(home), *command[1:]],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"cap {command[0]} failed:\n{done.stdout}\n{done.stderr}"
    server = DagsterDev(home=home, port=free_port(), log=home / "dagster-dev.log")
    started = time.monotonic()
    with server.log.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-m", "pipelines.definitions", *server.address],
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_ready(process, server, STARTUP_TIMEOUT)
        logger.info("dagster dev ready in %.1f s", time.monotonic() - started)
        yield server
    finally:
        stop(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (never `playwright install`)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing ({CHROMIUM}): `make test` installs it (DEBIAN_PACKAGES in the "
            "Makefile), or run `sudo apt-get install -y chromium`."
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    playwright: Playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, dagster_dev: DagsterDev) -> Iterator[Page]:
    """A new browser tab on the UI, in a context of its own (no UI state kept between tests)."""
    context = browser.new_context(base_url=dagster_dev.url, viewport={"width": 1600, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    # Assertions wait as long as actions: on a loaded 2-core machine the UI's first render of a
    # page took more than `expect`'s default 5 s.
    expect.set_options(timeout=UI_TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


def screenshot(page: Page, name: str) -> None:
    """Save what the tab shows as `test-artifacts/ui/<name>.png`."""
    page.screenshot(path=ARTIFACTS / f"{name}.png")


def test_asset_graph_shows_caps_assets(page: Page) -> None:
    page.goto("/asset-groups")
    expect(page.get_by_role("button", name="ingest")).to_be_visible()
    # Room for the graph: the navigation and the sidebar folded, as a user would on a laptop.
    page.get_by_role("button", name="Hide navigation").click()
    page.get_by_role("button").filter(has=page.get_by_role("img", name="panel_show_right")).click()
    graph = page.locator("svg")
    if not graph.get_by_text("raw_files", exact=True).is_visible():
        page.keyboard.press("Alt+e")  # "Expand all groups" (⌥E in the graph's settings menu)
    for name in ASSETS:
        node = graph.get_by_text(name, exact=True).last  # last: the node, after a group's name
        expect(node).to_be_visible()
        # Drawn green once the UI has the asset's status: every client partition materialized.
        box = node.locator("xpath=..")
        expect(box).to_have_attribute("style", re.compile(r"--minimal-bg: var\(--[\w-]*green"))
    page.wait_for_timeout(500)  # the end of the graph's zoom-to-fit animation
    screenshot(page, "asset-graph")


def test_a_client_partition_is_materialized(page: Page) -> None:
    page.goto(f"/assets/report?view=partitions&partition={CLIENT}")
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    # The partition's header: its name beside its status tag (the innermost box holding both).
    header = (
        page.locator("div")
        .filter(has=page.get_by_text(CLIENT, exact=True))
        .filter(has=page.get_by_text("Materialized", exact=True))
        .last
    )
    expect(header).to_be_visible()
    expect(page.get_by_role("link", name="client_pipeline")).to_be_visible()
    expect(page.get_by_text("Materialized (3)")).to_be_visible()
    screenshot(page, "report-partition")


def test_asset_check_results_show(page: Page) -> None:
    page.goto("/assets/kpi_values?view=checks")
    expect(page.get_by_text(f"Checks ({len(KPI_VALUES_CHECKS)})")).to_be_visible()
    for name in KPI_VALUES_CHECKS:
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^(Succeeded|Failed)$"))).to_have_count(
        len(KPI_VALUES_CHECKS)
    )
    page.get_by_text("kpi_values_are_fresh", exact=True).first.click()
    expect(page).to_have_url(re.compile(r"kpi_values_are_fresh"))  # its details are shown
    expect(page.get_by_text("Evaluation result")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^(Passed|Failed)$")).first).to_be_visible()
    # The partition the latest evaluation was for: a demo client.
    expect(page.get_by_text(re.compile(f"^({'|'.join(DEMO_CLIENTS)})$")).last).to_be_visible()
    screenshot(page, "kpi-values-checks")


def test_report_metadata_shows_a_chart(page: Page) -> None:
    page.goto(f"/assets/report?view=partitions&partition={CLIENT}")
    page.get_by_role("row").filter(has_text="preview").get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("preview", exact=True)).to_be_visible()
    chart = dialog.locator("img[src^='data:image/png;base64,']").first
    expect(chart).to_be_visible()
    page.wait_for_function(
        "image => image.complete && image.naturalWidth > 0", arg=chart.element_handle()
    )
    screenshot(page, "report-preview-chart")


def test_the_run_queue_holds_one_run_per_client(tmp_path: Path) -> None:
    """Dagster reads the settings `cap` writes: two runs at a time, one per `dagster/partition`."""
    Workspace(tmp_path).ensure()
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        queue = instance.get_concurrency_config().run_queue_config
    assert queue.max_concurrent_runs == 2
    assert queue.tag_concurrency_limits == [
        {"key": PARTITION_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]


def test_an_older_dagster_yaml_gets_the_limit_once(tmp_path: Path) -> None:
    settings = tmp_path / "dagster" / "dagster.yaml"
    settings.parent.mkdir(parents=True)
    settings.write_text("telemetry:\n  enabled: false", encoding="utf-8")
    Workspace(tmp_path).ensure()
    Workspace(tmp_path).ensure()
    assert settings.read_text(encoding="utf-8") == (
        "telemetry:\n  enabled: false\n" + RUN_QUEUE_YAML + RUN_MONITORING_YAML
    )


def test_a_dagster_yaml_with_its_own_run_queue_is_left_alone(tmp_path: Path) -> None:
    settings = tmp_path / "dagster" / "dagster.yaml"
    settings.parent.mkdir(parents=True)
    mine = "run_queue:\n  max_concurrent_runs: 2\n"
    settings.write_text(mine, encoding="utf-8")
    Workspace(tmp_path).ensure()
    assert settings.read_text(encoding="utf-8") == mine + RUN_MONITORING_YAML


def test_runs_of_one_client_wait_for_each_other_not_for_other_clients(
    dagster_dev: DagsterDev,
) -> None:
    client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_dev.port)
    slugs = (CLIENT, CLIENT, OTHER_CLIENT)
    run_ids = [
        client.submit_job_execution("client_pipeline", run_config={}, tags={PARTITION_TAG: slug})
        for slug in slugs
    ]
    with dg.DagsterInstance.from_config(str(dagster_dev.home / "dagster")) as instance:
        records = wait_for_runs(instance, run_ids, dagster_dev, RUNS_TIMEOUT)
        launched = {run_id: launch_time(instance, run_id) for run_id in run_ids}
        logs = {run_id: run_log_text(instance, run_id, dagster_dev.home) for run_id in run_ids}
    runs = {record.dagster_run.run_id: record for record in records}
    for run_id, slug in zip(run_ids, slugs, strict=True):
        record = runs[run_id]
        assert record.dagster_run.tags[PARTITION_TAG] == slug
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS, (
            f"run {run_id} ({slug}) ended {record.dagster_run.status}:\n{logs[run_id][-3000:]}"
        )
        assert not LOCK_ERROR.search(logs[run_id]), f"run {run_id} ({slug}) met a DuckDB lock"
    first, second = sorted((runs[run_ids[0]], runs[run_ids[1]]), key=lambda r: r.start_time)
    other = runs[run_ids[2]]
    t0 = min(record.create_timestamp.timestamp() for record in records)
    timeline = "\n".join(
        f"  {record.dagster_run.tags[PARTITION_TAG]:<18} {record.dagster_run.run_id[:8]} "
        f"launched {launched[record.dagster_run.run_id] - t0:6.1f} s, "
        f"started {record.start_time - t0:6.1f} s, ended {record.end_time - t0:6.1f} s"
        for record in (first, second, other)
    )
    logger.info("runs, from their submission:\n%s", timeline)
    # Same client: the second run is launched only once the first has ended (it waited in the
    # queue), so both never write the client's DuckDB file at the same time.
    assert launched[second.dagster_run.run_id] >= first.end_time, timeline
    assert second.start_time >= first.end_time, timeline
    # Another client: launched while the first client's run was in progress, not held behind
    # it. Launch time is measured rather than execution overlap, which on 2 shared cores
    # depends on how long each run worker takes to import the code; the launch happens in the
    # queue daemon's first or second pass (a few seconds), long before a run ends.
    assert launched[other.dagster_run.run_id] < first.end_time, timeline
    assert launched[other.dagster_run.run_id] < launched[second.dagster_run.run_id], timeline


def wait_for_runs(
    instance: dg.DagsterInstance, run_ids: list[str], server: DagsterDev, timeout: float
) -> list[dg.RunRecord]:
    """The runs' records once all of them have finished; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        records = instance.get_run_records(filters=dg.RunsFilter(run_ids=run_ids))
        if len(records) == len(run_ids) and all(r.dagster_run.is_finished for r in records):
            return records
        if time.monotonic() > deadline:
            states = {r.dagster_run.run_id[:8]: r.dagster_run.status.value for r in records}
            pytest.fail(
                f"runs not finished after {timeout:.0f} s: {states}\n{log_tail(server.log)}"
            )
        time.sleep(1)


def launch_time(instance: dg.DagsterInstance, run_id: str) -> float:
    """When the run queue launched the run (its RUN_STARTING event): before the run worker
    loads the code, so it says when the queue let the run go."""
    (entry,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_STARTING)
    return entry.timestamp


def run_log_text(instance: dg.DagsterInstance, run_id: str, home: Path) -> str:
    """Everything the run logged: its event messages, the errors they carry, and the stdout
    and stderr captured from its steps."""
    parts = []
    for entry in instance.all_logs(run_id):
        parts.append(entry.message)
        if entry.dagster_event is not None:
            parts.append(repr(entry.dagster_event.event_specific_data))
    captured = home / "dagster" / "storage" / run_id
    if captured.is_dir():
        parts.extend(
            path.read_text(encoding="utf-8", errors="replace")
            for path in sorted(captured.rglob("*"))
            if path.is_file()
        )
    return "\n".join(parts)
