"""Archiving and loading into the warehouse: nothing lost, nothing twice, latest delivery wins."""

import datetime as dt
import json
import os
from pathlib import Path

import duckdb
import pytest

from pipelines.config.model import ClientConfig
from pipelines.ingest.archive import archive_inbox, sha256_of, unarchived_files
from pipelines.ingest.load import load_received
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

TODAY = dt.date(2026, 11, 26)
SLUG = "acme"
CONFIG = ClientConfig.model_validate(
    {
        "name": "Acme",
        "cadence": "weekly",
        "go_live": "2025-03-03",
        "sites": [{"name": "Lyon"}, {"name": "Vénissieux"}],
        "sources": [
            {
                "name": "wms",
                "pattern": ["export*.csv"],
                "layout": "long",
                "site": "Site",
                "period": "Semaine",
                "indicator": "Indicateur",
                "value": "Valeur",
                "indicators": {"COLIS": "parcels_shipped", "HEURES": "hours_worked"},
            }
        ],
    }
)
HEADER = "Site;Semaine;Indicateur;Valeur\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path)
    workspace.ensure()
    workspace.inbox(SLUG).mkdir(parents=True)
    return workspace


def drop(workspace: Workspace, name: str, body: str, day: int) -> Path:
    """A file in the inbox, delivered on 2026-01-<day>."""
    path = workspace.inbox(SLUG) / name
    path.write_text(HEADER + body, encoding="cp1252")
    stamp = dt.datetime(2026, 1, day, 9, 0, tzinfo=dt.UTC).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def run(workspace: Workspace, con: duckdb.DuckDBPyConnection):
    now = dt.datetime(2026, 11, 26, 2, 0)
    archived = archive_inbox(workspace, SLUG, CONFIG, con, now)
    return archived, load_received(workspace, SLUG, CONFIG, con, TODAY)


def current(con: duckdb.DuckDBPyConnection) -> dict[tuple, float | None]:
    rows = con.execute("select site, period_start, kpi, value from kpi_values").fetchall()
    return {(site, period, kpi): value for site, period, kpi, value in rows}


def test_files_are_archived_by_hash_and_loaded_once(workspace: Workspace) -> None:
    first = drop(workspace, "export_1.csv", "Lyon;2025-S01;COLIS;100\n", day=5)
    drop(workspace, "export_1 (1).csv", "Lyon;2025-S01;COLIS;100\n", day=6)
    with open_warehouse(workspace.warehouse(SLUG)) as con:
        archived, loaded = run(workspace, con)
        assert (archived.received, archived.duplicates) == (["export_1.csv"], ["export_1 (1).csv"])
        assert loaded.values_stored == 1
        again_archived, again_loaded = run(workspace, con)
        assert (again_archived.already_known, again_loaded.values_stored) == (2, 0)
        statuses = con.execute(
            "select original_name, status, message from files order by original_name"
        ).fetchall()
    digest = sha256_of(first)
    assert (workspace.archive(SLUG) / f"{digest}.csv").read_bytes() == first.read_bytes()
    assert statuses[0][1] == "duplicate"
    assert "same bytes as 'export_1.csv'" in statuses[0][2]
    assert statuses[1][:2] == ("export_1.csv", "loaded")
    assert unarchived_files(workspace, SLUG) == []


def test_latest_delivery_wins_and_an_older_one_changes_nothing(workspace: Workspace) -> None:
    week = dt.date(2025, 1, 6)
    with open_warehouse(workspace.warehouse(SLUG)) as con:
        drop(workspace, "export_jan.csv", "Lyon;2025-S02;COLIS;100\nLyon;2025-S02;HEURES;10\n", 10)
        run(workspace, con)
        drop(workspace, "export_restated.csv", "Lyon;2025-S02;COLIS;120\n", 20)
        run(workspace, con)
        assert current(con) == {
            ("Lyon", week, "parcels_shipped"): 120.0,
            ("Lyon", week, "hours_worked"): 10.0,
        }
        drop(workspace, "export_old.csv", "Lyon;2025-S02;COLIS;90\n", 2)
        run(workspace, con)
        assert current(con)[("Lyon", week, "parcels_shipped")] == 120.0
        history = con.execute(
            "select value from kpi_observations where kpi = 'parcels_shipped' order by value"
        ).fetchall()
    assert history == [(90.0,), (100.0,), (120.0,)]


def test_a_rejected_file_is_quarantined_whole_with_its_reason(workspace: Workspace) -> None:
    bad = drop(workspace, "export_bad.csv", "Lyon;2025-S01;COLIS;100\nParis;2025-S01;COLIS;5\n", 5)
    with open_warehouse(workspace.warehouse(SLUG)) as con:
        _, loaded = run(workspace, con)
        assert loaded.rejected == ["export_bad.csv"]
        assert con.execute("select count(*) from kpi_observations").fetchall() == [(0,)]
        rejection = con.execute(
            'select sheet, "row", "column", value, rule from rejections'
        ).fetchall()
        status = con.execute("select status, message from files").fetchall()
    assert rejection == [(None, 3, "A", "Paris", "unknown_site")]
    assert status[0][0] == "rejected"
    assert status[0][1].startswith("line 3, column A: unknown site 'Paris'")
    digest = sha256_of(bad)
    assert (workspace.quarantine(SLUG) / f"{digest}.csv").read_bytes() == bad.read_bytes()
    reason = json.loads((workspace.quarantine(SLUG) / f"{digest}.reason.json").read_text())
    assert reason["file"] == "export_bad.csv"
    assert reason["rejections"][0]["rule"] == "unknown_site"
    assert reason["rejections"][0]["row"] == 3


def test_a_file_left_received_by_a_crash_is_loaded_by_the_next_run(workspace: Workspace) -> None:
    drop(workspace, "export_1.csv", "Lyon;2025-S01;COLIS;100\n", day=5)
    with open_warehouse(workspace.warehouse(SLUG)) as con:
        archive_inbox(workspace, SLUG, CONFIG, con, dt.datetime(2026, 11, 26))
        assert con.execute("select status from files").fetchall() == [("received",)]
        _, loaded = run(workspace, con)
        assert loaded.loaded == ["export_1.csv"]
        assert con.execute("select status, values_stored from files").fetchall() == [("loaded", 1)]
