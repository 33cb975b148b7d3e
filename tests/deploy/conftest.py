"""A deployment of Cap on this machine, as a production host runs it: PostgreSQL, then Dagster's
gRPC code server, webserver and daemon as separate processes over the deployment's
`dagster.yaml` (`pipelines.deployment`), on a demo workspace; and the same demo run by `cap run`
in one process, for the values to compare."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from deploy.services import (
    Postgres,
    Service,
    free_port,
    graphql,
    http_ok,
    start,
    start_postgres,
    wait_until,
)
from pipelines.delivery.smtp import MAIL_ENV_VARS
from pipelines.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCATION = "cap"
REPOSITORY = "__repository__"
STOPPED_SENSORS = ("client_inbox_sensor",)
"""Stopped before the daemon starts: the test submits the night's runs itself, the inbox sensor
would submit the same clients again."""
STOPPED_SCHEDULES = ("nightly_client_runs",)
"""Stopped too: its hourly tick would run a client whose local 02:00 the test happened to span."""


@dataclass
class Deployment:
    """The running deployment: its workspace, instance, processes and the webserver's API."""

    home: Workspace
    reference: Workspace
    dagster_home: Path
    instance: dg.DagsterInstance
    graphql_url: str
    services: dict[str, Service]
    reference_run: subprocess.Popen[bytes]
    logs: Path
    env: dict[str, str]
    workspace_yaml: str

    def restart_daemon(self) -> None:
        """Kill the daemon with SIGKILL (no clean shutdown) and start another."""
        daemon = self.services["daemon"]
        daemon.stop_signal = signal.SIGKILL
        daemon.stop()
        self.services["daemon"] = _start_daemon(
            self.workspace_yaml, self.env, self.logs, "daemon-restarted"
        )

    def diagnostics(self) -> str:
        """The end of every process's log, for a failure message."""
        return "\n".join(
            f"--- {name} ---\n{service.tail()}" for name, service in self.services.items()
        )


def _env(home: Path, dagster_home: Path, extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(dict.fromkeys(MAIL_ENV_VARS, ""))
    env.update(
        {
            "CAP_HOME": str(home),
            "DAGSTER_HOME": str(dagster_home),
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def deployment() -> Iterator[Deployment]:
    """Start PostgreSQL, write the deployment's Dagster files, make the demo workspace, start
    the single-process reference run, the code server and the webserver, stop the inbox sensor
    and the nightly schedule through the API, then start the daemon. Stops everything it started,
    also when a step fails."""
    root = Path(tempfile.mkdtemp(prefix="cap-deploy-"))
    root.chmod(0o755)  # PostgreSQL's account must reach its data folder inside
    logs = root / "logs"
    logs.mkdir()
    services: dict[str, Service] = {}
    reference_run: subprocess.Popen[bytes] | None = None
    saved_env = dict(os.environ)
    try:
        postgres: Postgres = start_postgres(root / "pg", logs)
        services["postgres"] = postgres.service
        code_port, web_port = free_port(), free_port()
        home, dagster_home = root / "home", root / "dagster"
        env = _env(
            home,
            dagster_home,
            {
                **postgres.env(),
                "CAP_CODE_SERVER_HOST": "127.0.0.1",
                "CAP_CODE_SERVER_PORT": str(code_port),
            },
        )
        # This process reads the same instance (run records, events) as the deployment.
        os.environ.update({k: env[k] for k in (*postgres.env(), "DAGSTER_HOME")})
        _run([str(BIN / "python"), "-m", "pipelines.deployment", "--write", str(dagster_home)], env)
        _run([str(BIN / "cap"), "demo", "--home", str(home)], env)
        reference = root / "reference"
        shutil.copytree(home, reference, ignore=shutil.ignore_patterns("dagster"))
        # The same demo in one process, on its own local (SQLite) instance, meanwhile.
        reference_run = subprocess.Popen(
            [str(BIN / "cap"), "run", "--home", str(reference)],
            env=_env(reference, reference / "dagster", {}),
            stdout=(logs / "reference.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        services["code-server"] = start(
            "code-server",
            [
                str(BIN / "dagster"),
                "api",
                "grpc",
                "-m",
                "pipelines.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(code_port),
            ],
            env,
            logs,
            cwd=REPO,
        )
        wait_until(
            "the code server",
            lambda: _serving(services["code-server"], code_port, env),
            timeout=180,
            every=2,
        )
        workspace_yaml = str(dagster_home / "workspace.yaml")
        services["webserver"] = start(
            "webserver",
            [
                str(BIN / "dagster-webserver"),
                "-w",
                workspace_yaml,
                "-h",
                "127.0.0.1",
                "-p",
                str(web_port),
            ],
            env,
            logs,
            cwd=root,
        )
        base = f"http://127.0.0.1:{web_port}"
        wait_until("the webserver", lambda: http_ok(f"{base}/server_info"), timeout=180, every=1)
        url = f"{base}/graphql"
        wait_until("the code location in the webserver", lambda: _loaded(url), timeout=120)
        for sensor in STOPPED_SENSORS:
            _stop_sensor(url, sensor)
        for schedule in STOPPED_SCHEDULES:
            _stop_schedule(url, schedule)
        instance = dg.DagsterInstance.from_config(str(dagster_home))
        services["daemon"] = _start_daemon(workspace_yaml, env, logs)
        yield Deployment(
            home=Workspace(home),
            reference=Workspace(reference),
            dagster_home=dagster_home,
            instance=instance,
            graphql_url=url,
            services=services,
            reference_run=reference_run,
            logs=logs,
            env=env,
            workspace_yaml=workspace_yaml,
        )
        instance.dispose()
    finally:
        if reference_run is not None and reference_run.poll() is None:
            os.killpg(reference_run.pid, 9)
            reference_run.wait()
        # The daemon first (nothing new launched), PostgreSQL last.
        for name in ("daemon", "webserver", "code-server", "postgres"):
            if name in services:
                services[name].stop()
        os.environ.clear()
        os.environ.update(saved_env)
        shutil.rmtree(root, ignore_errors=True)


def _start_daemon(
    workspace_yaml: str, env: dict[str, str], logs: Path, name: str = "daemon"
) -> Service:
    return start(
        name,
        [str(BIN / "dagster-daemon"), "run", "-w", workspace_yaml],
        env,
        logs,
        cwd=logs.parent,
    )


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")


def _serving(service: Service, port: int, env: dict[str, str]) -> bool:
    if not service.alive():
        raise RuntimeError(f"the code server exited:\n{service.tail()}")
    check = subprocess.run(
        [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(port), "-h", "127.0.0.1"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    return check.returncode == 0


def _loaded(url: str) -> bool:
    data = graphql(
        url,
        """{ workspaceOrError { ... on Workspace { locationEntries { name
        locationOrLoadError { __typename ... on PythonError { message } } } } } }""",
    )
    entries = data["workspaceOrError"]["locationEntries"]
    for entry in entries:
        error = entry["locationOrLoadError"]
        if error and error["__typename"] == "PythonError":
            raise RuntimeError(f"code location {entry['name']}: {error['message']}")
    return any(
        entry["name"] == LOCATION
        and (entry["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation"
        for entry in entries
    )


def _stop_sensor(url: str, name: str) -> None:
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
    found = graphql(
        url,
        "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename "
        "... on Sensor { id } } }",
        {"s": {**selector, "sensorName": name}},
    )["sensorOrError"]
    assert found["__typename"] == "Sensor", found
    stopped = graphql(
        url,
        "mutation($id: String) { stopSensor(id: $id) { __typename "
        "... on StopSensorMutationResult { instigationState { status } } "
        "... on PythonError { message } } }",
        {"id": found["id"]},
    )["stopSensor"]
    assert stopped.get("instigationState", {}).get("status") == "STOPPED", stopped


def _stop_schedule(url: str, name: str) -> None:
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
    found = graphql(
        url,
        "query($s: ScheduleSelector!) { scheduleOrError(scheduleSelector: $s) { __typename "
        "... on Schedule { id } } }",
        {"s": {**selector, "scheduleName": name}},
    )["scheduleOrError"]
    assert found["__typename"] == "Schedule", found
    stopped = graphql(
        url,
        "mutation($id: String) { stopRunningSchedule(id: $id) { __typename "
        "... on ScheduleStateResult { scheduleState { status } } "
        "... on PythonError { message } } }",
        {"id": found["id"]},
    )["stopRunningSchedule"]
    assert stopped.get("scheduleState", {}).get("status") == "STOPPED", stopped
