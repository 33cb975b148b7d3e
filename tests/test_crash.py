"""A load killed with SIGKILL leaves its file stored whole or not at all; the next run finishes."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.workspace import Workspace

SITES = 50
WEEKS = 1000
INDICATORS = {"COLIS": "parcels_shipped", "HEURES": "hours_worked", "INTERIM": "temp_workers"}
EXPECTED = SITES * WEEKS * len(INDICATORS)

CLIENT_YAML = f"""
name: Crash test
cadence: weekly
go_live: 2015-01-05
sites:
{chr(10).join(f"  - name: Site {i}" for i in range(SITES))}
sources:
  - name: wms
    pattern: "*.csv"
    layout: long
    site: Site
    period: Semaine
    indicator: Indicateur
    value: Valeur
    indicators: {INDICATORS}
"""

LOADER = """
import datetime as dt, sys
from pathlib import Path
from pipelines.ingest.archive import archive_inbox
from pipelines.ingest.load import load_received
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

workspace = Workspace(Path(sys.argv[1]))
config = workspace.load_config("crash")
with open_warehouse(workspace.warehouse("crash")) as con:
    archive_inbox(workspace, "crash", config, con, dt.datetime(2026, 11, 26))
    print("loading", flush=True)
    summary = load_received(workspace, "crash", config, con, dt.date(2026, 11, 26))
    print("loaded", summary.values_stored, flush=True)
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path)
    workspace.ensure()
    workspace.client_dir("crash").mkdir(parents=True)
    workspace.config_path("crash").write_text(CLIENT_YAML, encoding="utf-8")
    inbox = workspace.inbox("crash")
    inbox.mkdir()
    lines = ["Site;Semaine;Indicateur;Valeur"]
    for week in range(WEEKS):
        label = f"{2000 + week // 50}-S{week % 50 + 1:02d}"
        for site in range(SITES):
            for code in INDICATORS:
                lines.append(f"Site {site};{label};{code};{site * 7 + week},5")
    (inbox / "export.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return workspace


def load(workspace: Workspace, kill_after: float | None) -> float:
    """Run a load in another process; SIGKILL it `kill_after` seconds into loading. Returns how
    long loading took (when not killed)."""
    process = subprocess.Popen(
        [sys.executable, "-c", LOADER, str(workspace.home)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert process.stdout.readline().strip() == "loading"
    started = time.perf_counter()
    if kill_after is None:
        process.communicate(timeout=120)
        assert process.returncode == 0
        return time.perf_counter() - started
    time.sleep(kill_after)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    return kill_after


def stored(workspace: Workspace) -> tuple[int, list[tuple[str, int | None]]]:
    with duckdb.connect(str(workspace.warehouse("crash"))) as con:
        values = con.execute("select count(*) from kpi_observations").fetchall()[0][0]
        files = con.execute("select status, values_stored from files").fetchall()
    return values, files


def test_a_killed_load_is_all_or_nothing(workspace: Workspace, tmp_path: Path) -> None:
    # Time a whole load once, on a copy, then kill loads at points spread over that time:
    # while the file is read, while its values are written, around the commit.
    calibration = Workspace(tmp_path / "calibration")
    shutil.copytree(workspace.home, calibration.home)
    duration = load(calibration, None)
    outcomes = []
    for fraction in (0.3, 0.6, 0.8, 0.9, 0.97):
        load(workspace, duration * fraction)
        outcome = stored(workspace)
        assert outcome in [(0, [("received", None)]), (EXPECTED, [("loaded", EXPECTED)])]
        outcomes.append(outcome[0])
        if outcome[0]:
            break  # committed: later kills would only find nothing to do
    assert outcomes[0] == 0, "the first kill should land before the commit"
    # The next run finishes the job.
    load(workspace, None)
    assert stored(workspace) == (EXPECTED, [("loaded", EXPECTED)])
