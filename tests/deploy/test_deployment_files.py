"""The deployment's Dagster files (`pipelines.deployment`) and what the daemon's sensors do on a
deployment whose runs live on other machines. Fast: part of the ordinary `make test` run."""

import subprocess
import sys
from pathlib import Path
from unittest import mock

import dagster as dg
import pytest
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.config import pg_config
from dagster._core.workspace.config_schema import process_workspace_config
from dagster_postgres.utils import pg_url_from_config

from pipelines.defs.dead_runs import PID_TAG
from pipelines.defs.sensors import dead_runs_sensor
from pipelines.deployment import CODE_SERVER_ENV_VARS, PG_ENV_VARS, write_deployment_files
from pipelines.workspace import DAGSTER_YAML

PG_ENV = {
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "s3cr3t",
    "DAGSTER_PG_HOST": "postgres.cap.internal",
    "DAGSTER_PG_PORT": "5433",
    "DAGSTER_PG_DB": "cap",
}


def test_the_module_writes_both_files_with_the_local_limits(tmp_path: Path) -> None:
    """`python -m pipelines.deployment --write DIR` writes a dagster.yaml over PostgreSQL with
    the queued coordinator and the local file's queue limits, monitoring and retries, and a
    workspace.yaml pointing at the gRPC code server; neither holds a secret."""
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.deployment", "--write", str(tmp_path / "home")],
        capture_output=True,
        text=True,
        check=True,
    )
    dagster_yaml = tmp_path / "home" / "dagster.yaml"
    workspace_yaml = tmp_path / "home" / "workspace.yaml"
    assert result.stdout.splitlines() == [str(dagster_yaml), str(workspace_yaml)]
    deployed = yaml.safe_load(dagster_yaml.read_text(encoding="utf-8"))
    local = yaml.safe_load(DAGSTER_YAML)
    for key in ("concurrency", "run_monitoring", "run_retries", "telemetry"):
        assert deployed[key] == local[key], key
    assert deployed["concurrency"]["runs"]["max_concurrent_runs"] == 2
    (limit,) = deployed["concurrency"]["runs"]["tag_concurrency_limits"]
    assert limit == {
        "key": "dagster/partition",
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    }
    assert deployed["run_coordinator"]["class"] == "QueuedRunCoordinator"
    postgres = deployed["storage"]["postgres"]["postgres_db"]
    assert {
        postgres[k]["env"] for k in ("username", "password", "hostname", "port", "db_name")
    } == set(PG_ENV_VARS)
    assert postgres["scheme"] == "postgresql+psycopg2"
    workspace = yaml.safe_load(workspace_yaml.read_text(encoding="utf-8"))
    (server,) = workspace["load_from"]
    assert server["grpc_server"]["location_name"] == "cap"
    assert {server["grpc_server"][k]["env"] for k in ("host", "port")} == set(CODE_SERVER_ENV_VARS)


def test_dagster_accepts_both_files_and_reads_the_connection_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dagster's own schemas validate the files; the storage's URL is built from the variables."""
    dagster_yaml, workspace_yaml = write_deployment_files(tmp_path)
    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CAP_CODE_SERVER_HOST", "cap-code")
    monkeypatch.setenv("CAP_CODE_SERVER_PORT", "4000")
    config, _ = dagster_instance_config(str(tmp_path))
    ref = InstanceRef.from_dir(str(tmp_path), config_dir=str(tmp_path))
    assert ref.storage_data.class_name == "DagsterPostgresStorage"
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 2
    resolved = process_config(resolve_to_config_type(pg_config()), config["storage"]["postgres"])
    assert resolved.success, resolved.errors
    assert pg_url_from_config(resolved.value) == (
        "postgresql+psycopg2://dagster:s3cr3t@postgres.cap.internal:5433/cap"
    )
    workspace = process_workspace_config(yaml.safe_load(workspace_yaml.read_text()))
    assert workspace.success, workspace.errors
    assert dagster_yaml.read_text(encoding="utf-8").count("s3cr3t") == 0


def test_dead_runs_sensor_leaves_runs_alone_when_the_launcher_checks_its_workers(
    tmp_path: Path,
) -> None:
    """With a launcher that checks its workers (the K8sRunLauncher: a pod per run), a started
    run whose RUN_START pid is not a process of the daemon's machine is not failed: the pid is
    the pod's. With Dagster's default launcher, the same run is failed as dead."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        run = instance.create_run_for_job(
            _pod_job, status=dg.DagsterRunStatus.STARTED, tags={PID_TAG: str(dead.pid)}
        )
        checks = mock.PropertyMock(return_value=True)
        with mock.patch.object(
            type(instance.run_launcher), "supports_check_run_worker_health", checks
        ):
            skipped = dead_runs_sensor(dg.build_sensor_context(instance=instance))
        assert "run monitoring fails a run whose worker died" in skipped.skip_message
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        ended = dead_runs_sensor(dg.build_sensor_context(instance=instance))
        assert ended.skip_message == f"marked failed, their process was gone: {run.run_id}"
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE


@dg.op
def _in_a_pod() -> None:
    """Does nothing, in a pod."""


@dg.job
def _pod_job() -> None:
    _in_a_pod()
