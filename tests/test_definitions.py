"""The one Definitions object: what the UI, schedules, sensors and `cap run` load."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.definitions import defs
from pipelines.defs.schedules import nightly_0200_paris

ROOT = Path(__file__).resolve().parent.parent


def test_assets_checks_schedules_and_sensors() -> None:
    repository = defs.get_repository_def()
    assets = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert assets == {
        "raw_files",
        "kpi_observations",
        "kpi_values",
        "kpi_series",
        "impact",
        "report",
    }
    checks = {key.name for key in repository.asset_graph.asset_check_keys}
    assert checks == {
        "kpi_observations_all_files_accepted",
        "kpi_observations_pass_delivery_rules",
        "kpi_values_have_no_outliers",
        "kpi_values_are_fresh",
        "kpi_values_are_complete",
    }
    assert {schedule.name for schedule in repository.schedule_defs} == {"nightly_0200_paris"}
    assert {sensor.name for sensor in repository.sensor_defs} == {"client_inbox_sensor"}


def test_every_asset_says_what_it_is_for_the_ui() -> None:
    graph = defs.get_repository_def().asset_graph
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and len(node.description) > 40, key
        assert node.owners == ["team:consulting"], key
        assert node.kinds, key
        assert node.group_name in {"ingest", "kpis", "impact", "report"}, key


def test_only_the_delivery_rules_block() -> None:
    checks = {check.name: check for check in defs.get_repository_def().asset_graph.asset_check_keys}
    specs = {
        spec.name: spec
        for assets_def in defs.get_repository_def().asset_graph.assets_defs
        for spec in assets_def.check_specs
    }
    assert set(specs) == set(checks)
    assert {name for name, spec in specs.items() if spec.blocking} == {
        "kpi_observations_pass_delivery_rules"
    }


def test_nightly_schedule_runs_at_two_in_paris() -> None:
    schedule = defs.resolve_schedule_def("nightly_0200_paris")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Europe/Paris"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_schedule_requests_one_run_per_client() -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("clients", ["alpha", "beta"])
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=dt.datetime(2026, 3, 29, 2, 0),
        )
        requests = nightly_0200_paris(context)
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("alpha", "nightly:2026-03-29:alpha"),
        ("beta", "nightly:2026-03-29:beta"),
    ]


def test_dagster_validates_the_definitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAP_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-m",
            "pipelines.definitions",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr
