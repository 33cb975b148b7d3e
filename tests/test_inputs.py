"""A client's inputs fingerprint: unchanged inputs skip the run, any change brings it back."""

import datetime as dt
import os
from pathlib import Path

import duckdb

from pipelines.inputs import (
    code_fingerprint,
    inputs_fingerprint,
    record_completed,
    record_started,
    unchanged,
)
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

NOW = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)


def _client(home: Path) -> Workspace:
    workspace = Workspace(home)
    workspace.ensure()
    workspace.inbox("acme").mkdir(parents=True)
    workspace.config_path("acme").write_text("name: Acme\n", encoding="utf-8")
    (workspace.inbox("acme") / "export.csv").write_text("a;b\n", encoding="utf-8")
    return workspace


def _complete(workspace: Workspace, run_id: str) -> None:
    """Run `run-N` started N hours after NOW and completed a minute later."""
    started = NOW + dt.timedelta(hours=int(run_id.removeprefix("run-")))
    with open_warehouse(workspace.warehouse("acme")) as con:
        record_started(con, run_id, inputs_fingerprint(workspace, "acme"), started)
        record_completed(con, run_id, started + dt.timedelta(minutes=1))


def test_a_client_never_run_is_not_unchanged(tmp_path: Path) -> None:
    workspace = _client(tmp_path)
    assert not unchanged(workspace, "acme")
    # A warehouse from before runs were recorded has no client_runs table.
    with duckdb.connect(str(workspace.warehouse("acme"))) as con:
        con.execute("create table files (sha256 varchar)")
    assert not unchanged(workspace, "acme")


def test_only_a_completed_run_counts(tmp_path: Path) -> None:
    workspace = _client(tmp_path)
    with open_warehouse(workspace.warehouse("acme")) as con:
        record_started(con, "run-1", inputs_fingerprint(workspace, "acme"), NOW)
    assert not unchanged(workspace, "acme")  # started, never completed (a failed run)
    _complete(workspace, "run-2")
    assert unchanged(workspace, "acme")


def test_a_new_file_a_touched_file_or_a_new_config_is_a_change(tmp_path: Path) -> None:
    workspace = _client(tmp_path)
    _complete(workspace, "run-1")
    (workspace.inbox("acme") / "export (1).csv").write_text("a;b\n", encoding="utf-8")
    assert not unchanged(workspace, "acme")
    _complete(workspace, "run-2")
    assert unchanged(workspace, "acme")
    path = workspace.inbox("acme") / "export.csv"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert not unchanged(workspace, "acme")  # a file replaced under the same name
    _complete(workspace, "run-3")
    workspace.config_path("acme").write_text("name: Acme SA\n", encoding="utf-8")
    assert not unchanged(workspace, "acme")


def test_the_code_fingerprint_is_stable_and_part_of_the_inputs(tmp_path: Path) -> None:
    workspace = _client(tmp_path)
    assert code_fingerprint() == code_fingerprint()
    assert len(code_fingerprint()) == 64
    first = inputs_fingerprint(workspace, "acme")
    code_fingerprint.cache_clear()
    assert inputs_fingerprint(workspace, "acme") == first
