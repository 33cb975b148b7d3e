"""The one Definitions object: what the UI, schedules, sensors and `cap run` load."""

import ast
import itertools
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.definitions import defs

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
        "report_email",
        "consultant_digest",
    }
    checks = {key.name for key in repository.asset_graph.asset_check_keys}
    assert checks == {
        "raw_files_are_regular_files",
        "kpi_observations_all_files_accepted",
        "kpi_observations_pass_delivery_rules",
        "kpi_values_have_no_outliers",
        "kpi_values_are_fresh",
        "kpi_values_are_complete",
    }
    assert {schedule.name for schedule in repository.schedule_defs} == {
        "nightly_client_runs",
        "daily_digest_0700_paris",
    }
    assert {sensor.name for sensor in repository.sensor_defs} == {
        "auto_delivery_sensor",
        "client_inbox_sensor",
        "dead_runs_sensor",
        "run_failure_alert_sensor",
    }


def test_every_asset_says_what_it_is_for_the_ui() -> None:
    graph = defs.get_repository_def().asset_graph
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and len(node.description) > 40, key
        assert node.owners == ["team:consulting"], key
        assert node.kinds, key
        assert node.group_name in {
            "ingest",
            "kpis",
            "impact",
            "report",
            "delivery",
            "consultant",
        }, key


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


def test_schedules_tick_hourly_for_the_clients_and_at_seven_in_paris_for_the_digest() -> None:
    nightly = defs.resolve_schedule_def("nightly_client_runs")
    assert (nightly.cron_schedule, nightly.execution_timezone) == ("0 * * * *", "UTC")
    assert nightly.job_name == "client_pipeline"
    digest = defs.resolve_schedule_def("daily_digest_0700_paris")
    assert (digest.cron_schedule, digest.execution_timezone) == ("0 7 * * *", "Europe/Paris")
    assert digest.job_name == "consultant_digest_job"
    for schedule in (nightly, digest):
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    alert = defs.resolve_sensor_def("run_failure_alert_sensor")
    assert alert.default_status == dg.DefaultSensorStatus.RUNNING


def test_the_digest_is_not_part_of_a_client_run() -> None:
    repository = defs.get_repository_def()
    selected = repository.get_job("client_pipeline").asset_layer.selected_asset_keys
    assert dg.AssetKey("consultant_digest") not in selected
    digest = repository.get_job("consultant_digest_job").asset_layer.selected_asset_keys
    assert digest == {dg.AssetKey("consultant_digest")}


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


def _is_text(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def test_every_docstring_sits_under_its_own_name() -> None:
    """A docstring right after another one belongs to a name a later insertion pushed away
    (`COUNTERFACTUAL_COLUMNS`'s under `PROBLEMS_SHOWN`'s): the UI and readers show it wrongly."""
    misplaced = []
    for path in sorted((ROOT / "pipelines").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            body = getattr(node, "body", None)
            if isinstance(body, list):
                misplaced += [
                    f"{path.name}:{after.lineno}"
                    for before, after in itertools.pairwise(body)
                    if _is_text(before) and _is_text(after)
                ]
    assert misplaced == []
