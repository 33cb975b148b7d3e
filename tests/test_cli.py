"""The `cap` command line: configuration checks, the JSON Schema, the demo workspace."""

import datetime as dt
import json
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.demo import write_demo


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CAP_HOME", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    write_demo(tmp_path, dt.date(2026, 11, 26))
    return tmp_path


def test_check_config_passes_the_demo_and_names_each_client(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", "--home", str(home)]) == 0
    output = capsys.readouterr().out
    assert "ok   helios-services: Helios Services, 3 sites, 1 sources" in output
    assert "ok   logistique-durand: Logistique Durand, 4 sites, 1 sources" in output


def test_check_config_fails_on_a_bad_client_and_says_where(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = home / "clients" / "helios-services" / "client.yaml"
    config.write_text(config.read_text().replace("go_live: 2025-06-01", "go_live: 2025-06-31"))
    assert main(["check-config", "--home", str(home)]) == 1
    output = capsys.readouterr().out
    assert f"FAIL {config}: 1 problem" in output
    assert "go_live: expected a date like 2025-03-01, got '2025-06-31'" in output
    assert "ok   menuiseries-rhone" in output


def test_schema_describes_every_key_for_editors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Cap client.yaml"
    assert set(schema["required"]) == {"name", "cadence", "sites", "sources"}
    assert schema["additionalProperties"] is False
    layouts = {
        definition["properties"]["layout"]["const"]
        for definition in schema["$defs"].values()
        if "layout" in definition.get("properties", {})
    }
    assert layouts == {"sheet_per_site", "long", "wide", "records"}
    output = tmp_path / "client.schema.json"
    assert main(["schema", "--output", str(output)]) == 0
    assert json.loads(output.read_text()) == schema


def test_init_writes_dagster_settings_with_telemetry_off(tmp_path: Path) -> None:
    assert main(["init", "--home", str(tmp_path / "ws")]) == 0
    settings = (tmp_path / "ws" / "dagster" / "dagster.yaml").read_text()
    assert "telemetry:\n  enabled: false" in settings
    assert "nux:\n  enabled: false" in settings
    assert (tmp_path / "ws" / "client.schema.json").exists()
    for folder in ("clients", "archive", "quarantine", "warehouse", "reports", "outbox"):
        assert (tmp_path / "ws" / folder).is_dir()
