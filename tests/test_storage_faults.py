"""Broken storage and fixes: a damaged warehouse fails its client alone, `cap rebuild` makes it
again from the archive (email ledger included), a fixed `client.yaml` or `cap retry` reads a
rejected file again, and a write failure mid-load leaves the warehouse as it was.

Whole runs go over a copy of the demo portfolio, so that the healthy clients beside the broken
one can be compared with a clean run's values."""

import contextlib
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pypdf import PdfReader

from pipelines import rebuild, storage
from pipelines import warehouse as warehouse_module
from pipelines.cli import main
from pipelines.delivery.digest import survey_clients
from pipelines.demo import write_demo
from pipelines.ingest import load
from pipelines.ingest.archive import archive_inbox
from pipelines.ingest.load import WarehouseWriteError, load_received
from pipelines.ingest.manifest import append_receptions, manifest_path, read_manifest
from pipelines.inputs import unchanged
from pipelines.quality.deliveries import check_deliveries
from pipelines.run import run_clients
from pipelines.storage import warehouse_problem
from pipelines.warehouse import WarehouseUnreadable, open_warehouse
from pipelines.workspace import Workspace

AS_OF = dt.date(2026, 11, 26)
BROKEN = "menuiseries-rhone"
AUTO = "logistique-durand"  # auto delivery: its weekly email is in the outbox
HEALTHY = "helios-services"
SLUGS = [HEALTHY, AUTO, BROKEN]
TABLES = ("files", "kpi_observations", "rejections", "deliveries", "client_runs", "kpi_series")


@pytest.fixture(scope="module")
def clean_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo portfolio after one clean `cap run`."""
    home = tmp_path_factory.mktemp("clean")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CAP_HOME", str(home))
        env.setenv("DAGSTER_HOME", str(home / "dagster"))
        Workspace(home).ensure()
        write_demo(home, AS_OF)
        code, output = run(home)
    assert code == 0, output
    return home


@pytest.fixture
def home(clean_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the clean portfolio, as the workspace of this test."""
    copy = tmp_path / "cap"
    shutil.copytree(clean_home, copy)
    monkeypatch.setenv("CAP_HOME", str(copy))
    monkeypatch.setenv("DAGSTER_HOME", str(copy / "dagster"))
    yield copy


def run(home: Path, **options: object) -> tuple[int, str]:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = run_clients(Workspace(home), **options)
    return code, output.getvalue()


def status(output: str, slug: str) -> list[str]:
    """The summary table's row of `slug`, split."""
    return next(line.split() for line in output.splitlines() if line.startswith(f"{slug} "))


def warehouse(home: Path, slug: str) -> Path:
    return Workspace(home).warehouse(slug)


def values(home: Path, slug: str) -> tuple[list[tuple], pd.DataFrame]:
    """The client's current values (exactly) and impact (a frame, sorted)."""
    with duckdb.connect(str(warehouse(home, slug)), read_only=True) as con:
        current = con.execute("select * from kpi_values order by all").fetchall()
        impact = con.execute("select * from impact order by site, kpi, method").df()
    return current, impact


def assert_same_values(home: Path, clean: Path, slug: str) -> None:
    """The values equal a clean run's; the impact too, to the last bits a sum order changes
    (a clean run forced again differs from itself there)."""
    current, impact = values(home, slug)
    clean_current, clean_impact = values(clean, slug)
    assert current == clean_current, slug
    assert len(impact) == len(clean_impact) > 0, slug
    pd.testing.assert_frame_equal(impact, clean_impact, check_exact=False, rtol=1e-9)


def table(path: Path, name: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"select * from {name} order by all").fetchall()


def truncate_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def truncate_few_kb(path: Path) -> None:
    os.truncate(path, 8192)


def zero_middle(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(size // 3)
        handle.write(b"\0" * (size // 3))


def zero_head(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.write(b"\0" * 4096)


TRUNCATED = "the file is truncated: a block lies past its end"
CHECKSUM = "a block's checksum does not match: the file was overwritten or damaged"


@pytest.mark.parametrize(
    ("damage", "cause"),
    [(truncate_half, TRUNCATED), (truncate_few_kb, TRUNCATED), (zero_middle, CHECKSUM)],
)
def test_a_damaged_warehouse_fails_its_client_alone_with_one_line(
    home: Path, damage: Callable[[Path], None], cause: str
) -> None:
    damage(warehouse(home, BROKEN))
    code, output = run(home)  # not forced: the skip logic looks at the warehouse first
    reason = (
        f"the warehouse warehouse/{BROKEN}.duckdb cannot be read ({cause}): "
        f"run cap rebuild --client {BROKEN}"
    )
    assert code == 1
    assert status(output, BROKEN)[1] == "FAILED"
    assert f"  {BROKEN:<20} {reason}\n" in output  # the summary's line
    assert "Traceback" not in output and "KeyError" not in output and "IO Error" not in output
    assert [status(output, slug)[1] for slug in (HEALTHY, AUTO)] == ["same", "same"]
    survey = survey_clients(Workspace(home), SLUGS, dt.datetime(2026, 11, 27, 6, tzinfo=dt.UTC))
    assert [(item.client, item.problem) for item in survey.unreadable] == [
        (BROKEN, f"warehouse not readable: {reason}")
    ]
    assert set(survey.names) == set(SLUGS)


def test_the_other_clients_run_as_in_a_clean_run(home: Path, clean_home: Path) -> None:
    zero_middle(warehouse(home, BROKEN))
    code, output = run(home, force=True)
    assert code == 1
    assert status(output, BROKEN)[1] == "FAILED"
    assert [status(output, slug)[1] for slug in (HEALTHY, AUTO)] == ["ok", "ok"]
    for slug in (HEALTHY, AUTO):
        assert_same_values(home, clean_home, slug)


def test_a_warehouse_that_lost_its_files_is_caught_before_it_reads_empty(home: Path) -> None:
    """A warehouse replaced by an empty one (a bad copy) opened fine, had its tables made again
    empty, and the run died in `impact` with `KeyError: 'verdict'`; a missing one reloaded only
    what was still in the inbox. The archive's manifest says what it should hold."""
    workspace = Workspace(home)
    path = warehouse(home, BROKEN)
    path.unlink()
    assert warehouse_problem(workspace, BROKEN) == (
        f"the warehouse warehouse/{BROKEN}.duckdb cannot be read (the file is missing; the "
        f"archive's manifest lists 4 files): run cap rebuild --client {BROKEN}"
    )
    with open_warehouse(path):
        pass  # an empty warehouse, schema and all
    lost = (
        f"the warehouse warehouse/{BROKEN}.duckdb cannot be read (it lost 4 of the 4 files the "
        f"archive's manifest lists): run cap rebuild --client {BROKEN}"
    )
    assert warehouse_problem(workspace, BROKEN) == lost
    code, output = run(home, only=BROKEN, force=True)
    assert code == 1 and f"FAILED, {lost}" in output and "KeyError" not in output
    # The UI's path (a run that never asked): the inbox pass refuses too, before any load.
    config = workspace.load_config(BROKEN)
    with open_warehouse(path) as con, pytest.raises(WarehouseUnreadable, match="it lost 4 of"):
        archive_inbox(workspace, BROKEN, config, con, dt.datetime(2026, 11, 27))


def test_rebuild_gives_back_the_values_the_statuses_and_the_email_ledger(
    home: Path, clean_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = Workspace(home)
    truncate_half(warehouse(home, BROKEN))  # its ledger still reads
    zero_head(warehouse(home, AUTO))  # not a DuckDB file any more: nothing of it reads
    outbox = home / "outbox" / f"{AUTO}-2026-W47.eml"
    sent = outbox.read_bytes()
    assert main(["rebuild", "--client", AUTO]) == 0
    said = capsys.readouterr().out
    assert f"Rebuilt {warehouse(home, AUTO)} from 5 files received: 1 duplicate, 4 loaded" in said
    assert "receptions from the archive's manifest" in said
    assert "email ledger rebuilt from the emails on disk" in said
    assert f"cap run --client {AUTO} --force" in said
    assert warehouse(home, AUTO).with_name(f"{AUTO}.duckdb.before-rebuild").exists()
    summary = rebuild.rebuild_warehouse(workspace, BROKEN)
    assert summary.ledger_origin == "copied from the old warehouse"
    assert summary.statuses == {"loaded": 4}
    for slug in (AUTO, BROKEN):
        assert warehouse_problem(workspace, slug) is None
        for name in ("files", "kpi_observations", "rejections"):
            ours, clean = (
                table(warehouse(home, slug), name),
                table(warehouse(clean_home, slug), name),
            )
            if name == "files":  # validation times are the replay's
                ours, clean = [r[:9] for r in ours], [r[:9] for r in clean]
            assert ours == clean, (slug, name)
    (ledger,) = table(warehouse(home, AUTO), "deliveries")
    (clean_ledger,) = table(warehouse(clean_home, AUTO), "deliveries")
    # The period, Message-ID and status, from the email on disk; the recipients of its headers.
    assert (ledger[1], ledger[2], ledger[5]) == (clean_ledger[1], clean_ledger[2], clean_ledger[5])
    assert set(json.loads(ledger[4])) == set(json.loads(clean_ledger[4]))
    code, output = run(home, force=True)
    assert code == 0, output
    for slug in SLUGS:
        assert_same_values(home, clean_home, slug)
    assert "2026-W47 already written to the outbox on" in output  # never sent again
    assert outbox.read_bytes() == sent
    assert len(table(warehouse(home, AUTO), "deliveries")) == 1


def test_a_rebuild_that_fails_leaves_the_old_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = warehouse(home, BROKEN)
    truncate_half(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()

    def killed(*args: object) -> None:
        raise RuntimeError("killed during the replay")

    monkeypatch.setattr(rebuild, "check_deliveries", killed)
    with pytest.raises(RuntimeError, match="killed"):
        rebuild.rebuild_warehouse(Workspace(home), BROKEN)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(
        p.name
        for p in path.parent.iterdir()
        if p.name.startswith(BROKEN) and p.suffix not in (".lock", ".checked")
    ) == [f"{BROKEN}.duckdb"]


def test_rebuild_without_a_manifest(home: Path, clean_home: Path) -> None:
    """An archive from before the manifest: the old `files` table when it reads, else the
    archived files themselves, saying what is unknown."""
    workspace = Workspace(home)
    manifest_path(workspace, AUTO).unlink()
    summary = rebuild.rebuild_warehouse(workspace, AUTO)
    assert summary.origin == "the old warehouse's files table (no manifest yet)"
    assert len(read_manifest(workspace, AUTO)) == 5  # written again from the rebuilt table
    assert [r[:9] for r in table(warehouse(home, AUTO), "files")] == [
        r[:9] for r in table(warehouse(clean_home, AUTO), "files")
    ]
    manifest_path(workspace, AUTO).unlink()
    zero_head(warehouse(home, AUTO))
    archived = sorted(workspace.archive(AUTO).glob("*.csv"))
    kept = archived[0].name.split(".")[0]  # a file once quarantined: its reason has its name
    workspace.quarantine(AUTO).mkdir(parents=True, exist_ok=True)
    (workspace.quarantine(AUTO) / f"{kept}.reason.json").write_text(
        json.dumps({"file": "Export_KPI_2024.csv", "sha256": kept}), encoding="utf-8"
    )
    summary = rebuild.rebuild_warehouse(workspace, AUTO)
    assert summary.origin.startswith("the archived files (no manifest, old warehouse unreadable)")
    assert "delivery times unknown" in summary.origin
    # Each file in its own pass, on its own day: no later period is taken for a future one
    # (one pass on the oldest file's day rejected all four). The file whose name is known
    # loads; the others' archive names match no source.
    assert summary.statuses == {"loaded": 1, "rejected": 3}
    with duckdb.connect(str(warehouse(home, AUTO)), read_only=True) as con:
        assert con.execute("select distinct rule from rejections").fetchall() == [("no_source",)]
    files = table(warehouse(home, AUTO), "files")
    names = {p: "Export_KPI_2024.csv" if p == archived[0] else p.name for p in archived}
    assert sorted((r[1], r[3], r[5]) for r in files) == sorted(
        (
            names[p],
            "export-kpi" if p == archived[0] else None,  # a pattern needs the original name
            dt.datetime.fromtimestamp(p.stat().st_mtime, dt.UTC).replace(tzinfo=None),
        )
        for p in archived
    )


RESTATEMENT = (
    "Site;Semaine;Indicateur;Valeur;Unité\n"
    "Henin-Bt;2026-S47;COLIS_EXP;52961;colis\n"
    "Henin-Bt;2026-S47;HEURES_TRAV;3434,7;h\n"
    "Henin-Bt;2026-S47;INTERIM;31;pers.\n"
    "Henin-Bt;2026-S47;TX_SERVICE;95,9;%\n"
    "Henin-Bt;2026-S47;COUT_TOTAL;147 826,20;€\n"
)
RESTATED_NAME = "Export_KPI_2026 rectificatif.csv"


def deliver_restatement(home: Path) -> Path:
    """A corrected week for Hénin-Beaumont, written `Henin-Bt` (a spelling client.yaml does not
    know), delivered after the 2026 export."""
    path = Workspace(home).inbox(AUTO) / RESTATED_NAME
    path.write_bytes(RESTATEMENT.encode("cp1252"))
    later = dt.datetime(2026, 11, 27, 9).timestamp()
    os.utime(path, (later, later))
    return path


def appendix(home: Path) -> str:
    """The text of the report's data-quality appendix (to its end: it runs over pages)."""
    (pdf,) = (home / "reports" / AUTO / "2026-W47").glob("*.pdf")
    text = "\n".join(page.extract_text() for page in PdfReader(pdf).pages)
    return text[text.index("Annexe – qualité des données") :]


def parcels(home: Path) -> float:
    with duckdb.connect(str(warehouse(home, AUTO)), read_only=True) as con:
        ((value,),) = con.execute(
            "select value from kpi_values where site = 'Hénin-Beaumont' and kpi = "
            "'parcels_shipped' and period_start = date '2026-11-16'"
        ).fetchall()
    return value


def test_a_fixed_configuration_reads_the_rejected_file_again(home: Path, clean_home: Path) -> None:
    deliver_restatement(home)
    code, output = run(home)
    assert code == 0, output
    assert status(output, AUTO)[1:4] == ["ok", "0", "1"]
    with duckdb.connect(str(warehouse(home, AUTO)), read_only=True) as con:
        rules = con.execute("select distinct rule from rejections").fetchall()
    assert rules == [("unknown_site",)]
    rejected_part = appendix(home).split("Fichiers écartés et raison")[1].split("Couverture")[0]
    assert (
        f"• {RESTATED_NAME} – Ligne 2, colonne A\u00a0: site inconnu («\u00a0Henin-Bt\u00a0»)"
        in (rejected_part)
    )
    assert (home / "quarantine" / AUTO).is_dir() and parcels(home) == 52269
    config = Workspace(home).config_path(AUTO)
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "  - name: Hénin-Beaumont\n", "  - name: Hénin-Beaumont\n    aliases: [Henin-Bt]\n"
        ),
        encoding="utf-8",
    )
    code, output = run(home)
    assert code == 0, output
    assert status(output, AUTO)[1:4] == ["ok", "1", "0"]
    assert [status(output, slug)[1] for slug in (HEALTHY, BROKEN)] == ["same", "same"]
    assert parcels(home) == 52961  # the restated value is current
    assert table(warehouse(home, AUTO), "rejections") == []
    with duckdb.connect(str(warehouse(home, AUTO)), read_only=True) as con:
        ((state,),) = con.execute(
            "select status from files where original_name = ?", [RESTATED_NAME]
        ).fetchall()
    assert state == "loaded"
    assert list((home / "quarantine" / AUTO).iterdir()) == []
    text = appendix(home)
    assert f"• {RESTATED_NAME} – chargé" in text
    rejected_part = text.split("Fichiers écartés et raison")[1].split("Couverture")[0]
    assert RESTATED_NAME not in rejected_part and "Henin-Bt" not in rejected_part
    for slug in (HEALTHY, BROKEN):
        assert_same_values(home, clean_home, slug)


def test_cap_retry_sends_rejected_files_back_to_be_read(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = Workspace(home)
    deliver_restatement(home)
    config = workspace.load_config(AUTO)
    with open_warehouse(warehouse(home, AUTO)) as con:
        archive_inbox(workspace, AUTO, config, con, dt.datetime(2026, 11, 27, 6))
        assert load_received(workspace, AUTO, config, con, AS_OF).rejected == [RESTATED_NAME]
        # Same configuration: not read again by itself.
        assert load_received(workspace, AUTO, config, con, AS_OF).rejected == []
    assert main(["retry", "--client", AUTO, "Export_KPI_2027.csv"]) == 1
    assert capsys.readouterr().out == (
        "Nothing to retry: no rejected or quarantined file named 'Export_KPI_2027.csv' "
        f"(those that are: {RESTATED_NAME})\n"
    )
    assert main(["retry", "--client", AUTO, RESTATED_NAME]) == 0
    assert capsys.readouterr().out == (
        f"1 file to read again at the next run:\n  {RESTATED_NAME}\nNext: cap run --client {AUTO}\n"
    )
    with open_warehouse(warehouse(home, AUTO)) as con:
        summary = load_received(workspace, AUTO, config, con, AS_OF)
    assert summary.rejected == [RESTATED_NAME]  # read again: the data still says Henin-Bt
    assert main(["retry", "--client", HEALTHY]) == 1
    assert capsys.readouterr().out == (
        f"Nothing to retry: {HEALTHY} has no rejected or quarantined file\n"
    )


def test_a_write_failure_mid_load_leaves_the_warehouse_as_it_was(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = Workspace(home)
    path = deliver_restatement(home)
    path.write_bytes(RESTATEMENT.replace("Henin-Bt", "Hénin-Beaumont").encode("cp1252"))
    config = workspace.load_config(AUTO)
    with open_warehouse(warehouse(home, AUTO)) as con:
        archive_inbox(workspace, AUTO, config, con, dt.datetime(2026, 11, 27, 6))
    before = {name: table(warehouse(home, AUTO), name) for name in TABLES}
    real = load.execute_sql

    def disk_full(con: duckdb.DuckDBPyConnection, name: str, *args: object) -> object:
        result = real(con, name, *args)
        if name == "insert_kpi_observations":  # the values are written, the commit is not
            raise duckdb.IOException("Could not write file: No space left on device")
        return result

    monkeypatch.setattr(load, "execute_sql", disk_full)
    with (
        open_warehouse(warehouse(home, AUTO)) as con,
        pytest.raises(WarehouseWriteError) as failure,
    ):
        load_received(workspace, AUTO, config, con, AS_OF)
    assert str(failure.value) == (
        f"{AUTO}: {RESTATED_NAME!r} could not be stored (Could not write file: No space left on "
        "device): nothing of it was written, the warehouse is as it was; free disk space, and "
        "the next run loads it"
    )
    assert {name: table(warehouse(home, AUTO), name) for name in TABLES} == before
    monkeypatch.setattr(load, "execute_sql", real)
    with open_warehouse(warehouse(home, AUTO)) as con:
        summary = load_received(workspace, AUTO, config, con, AS_OF)
    assert summary.loaded == [RESTATED_NAME] and summary.values_stored == 5


def test_the_manifest_keeps_every_reception_and_survives_a_torn_line(home: Path) -> None:
    workspace = Workspace(home)
    receptions = read_manifest(workspace, AUTO)
    assert [(r.original_name, r.duplicate) for r in receptions] == [
        ("Export_KPI_2023.csv", False),
        ("Export_KPI_2024.csv", False),
        ("Export_KPI_2025.csv", False),
        ("Export_KPI_2025 (1).csv", True),
        ("Export_KPI_2026.csv", False),
    ]
    assert {r.source for r in receptions} == {"export-kpi"}
    assert receptions[0].delivered_at == dt.datetime(2024, 1, 5, 8)
    path = manifest_path(workspace, AUTO)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"sha256": "ab')  # a crash in the middle of an append
    append_receptions(workspace, AUTO, receptions[:1])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[-2] == '{"sha256": "ab' and json.loads(lines[-1])["original_name"] == (
        "Export_KPI_2023.csv"
    )
    assert len(read_manifest(workspace, AUTO)) == 6


# --- fixes after review: torn manifests, the write lock, decisions, time zones --------------------


def test_a_manifest_line_cut_inside_a_character_is_one_line_skipped(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash in the middle of `Données…`: the line ends inside the two bytes of `é`."""
    workspace = Workspace(home)
    path = manifest_path(workspace, AUTO)
    with path.open("ab") as handle:
        handle.write(b'{"original_name": "Donn' + "é".encode()[:1])
    assert len(read_manifest(workspace, AUTO)) == 5
    assert "line 6 of" in caplog.text and "skipped" in caplog.text
    assert warehouse_problem(workspace, AUTO) is None
    assert unchanged(workspace, AUTO)
    survey = survey_clients(workspace, SLUGS, dt.datetime(2026, 11, 27, 6, tzinfo=dt.UTC))
    assert survey.unreadable == []
    code, output = run(home)
    assert code == 0, output
    assert [status(output, slug)[1] for slug in SLUGS] == ["same", "same", "same"]


def test_an_unexpected_error_while_checking_fails_that_client_alone(
    home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = storage.read_manifest

    def bug(workspace: Workspace, slug: str) -> list:
        if slug == BROKEN:
            raise RuntimeError("a bug in the check")
        return real(workspace, slug)

    monkeypatch.setattr(storage, "read_manifest", bug)
    for checked in (home / "warehouse").glob("*.checked"):
        checked.unlink()  # the check's cache would skip reading the manifest
    workspace = Workspace(home)
    problem = f"the warehouse of {BROKEN} could not be checked (RuntimeError: a bug in the check)"
    code, output = run(home)
    assert code == 1
    assert f"{BROKEN}: FAILED, {problem}" in output
    assert [status(output, slug)[1] for slug in (HEALTHY, AUTO)] == ["same", "same"]
    traced = [r for r in caplog.records if "could not be checked" in r.getMessage()]
    assert traced and traced[0].exc_info is not None  # logged with its traceback
    assert not unchanged(workspace, BROKEN) and unchanged(workspace, AUTO)
    survey = survey_clients(workspace, SLUGS, dt.datetime(2026, 11, 27, 6, tzinfo=dt.UTC))
    assert [(item.client, item.problem) for item in survey.unreadable] == [
        (BROKEN, f"warehouse not readable: {problem}")
    ]


def lock_file(home: Path, slug: str) -> Path:
    return home / "warehouse" / f"{slug}.lock"


def try_lock(home: Path, slug: str) -> int | None:
    """A descriptor holding the client's write lock, or None when another holder has it."""
    descriptor = os.open(lock_file(home, slug), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def test_a_rebuild_holds_the_write_lock_from_the_old_ledger_to_the_swap(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run writing the old file while the new one is built loses what it writes (an email
    sent twice): every writer takes the lock the rebuild holds."""
    held: list[str] = []

    def spy(name: str) -> Callable[..., object]:
        real = getattr(rebuild, name)

        def wrapped(*args: object) -> object:
            descriptor = try_lock(home, AUTO)
            if descriptor is None:
                held.append(name)
            else:
                os.close(descriptor)
            return real(*args)

        return wrapped

    for name in ("_ledger", "_swap"):
        monkeypatch.setattr(rebuild, name, spy(name))
    rebuild.rebuild_warehouse(Workspace(home), AUTO)
    assert held == ["_ledger", "_swap"]
    descriptor = try_lock(home, AUTO)
    assert descriptor is not None  # released at the end
    os.close(descriptor)


def test_a_writer_waits_for_the_lock_and_a_rebuild_refuses_clearly(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(warehouse_module, "LOCK_RETRY_SECONDS", 0.3)
    path = warehouse(home, AUTO)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    descriptor = try_lock(home, AUTO)
    assert descriptor is not None
    try:
        with open_warehouse(path, read_only=True) as con:  # readers do not take it
            assert con.execute("select count(*) from files").fetchall() == [(5,)]
        assert main(["rebuild", "--client", AUTO]) == 1
        assert capsys.readouterr().out == (
            f"Not rebuilt (the old warehouse is unchanged): the warehouse warehouse/{AUTO}"
            ".duckdb is being written by another run or command: try again when it ends\n"
        )
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before
        monkeypatch.setattr(warehouse_module, "LOCK_RETRY_SECONDS", 10.0)
        threading.Timer(0.6, os.close, [descriptor]).start()
        started = time.monotonic()
        with open_warehouse(path) as con:
            waited = time.monotonic() - started
            con.execute("select count(*) from files").fetchall()
    finally:
        with contextlib.suppress(OSError):
            os.close(descriptor)
    assert waited >= 0.5


def test_a_rebuild_replays_the_consultants_release(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Released by the consultant, a delivery quarantined by a blocking check must stay
    released after a rebuild (else it blocks the report's email again)."""
    workspace = Workspace(home)
    name = "Export_KPI_2026 S47 arrondi.csv"
    inbox_file = workspace.inbox(AUTO) / name
    inbox_file.write_bytes(
        "Site;Semaine;Indicateur;Valeur;Unité\nHénin-Beaumont;2026-S47;TX_SERVICE;100,4;%\n".encode(
            "cp1252"
        )
    )
    config = workspace.load_config(AUTO)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # after the clean run's receptions
    with open_warehouse(warehouse(home, AUTO)) as con:
        archive_inbox(workspace, AUTO, config, con, now)
        load_received(workspace, AUTO, config, con, AS_OF)
        check_deliveries(workspace, AUTO, config, con, AS_OF, now)

    def file_state() -> tuple[str, str]:
        with duckdb.connect(str(warehouse(home, AUTO)), read_only=True) as con:
            ((state, message),) = con.execute(
                "select status, message from files where original_name = ?", [name]
            ).fetchall()
        return state, message

    assert file_state()[0] == "quarantined"
    monkeypatch.setattr("pipelines.run.run_clients", lambda *args, **kwargs: 0)
    assert main(["release", "--client", AUTO, name]) == 0
    capsys.readouterr()
    released = file_state()
    assert released[0] == "loaded" and released[1].startswith("released by the consultant on")
    (event,) = [
        json.loads(line)
        for line in manifest_path(workspace, AUTO).read_text(encoding="utf-8").splitlines()
        if '"event"' in line
    ]
    assert event["event"] == "release" and len(event["target"]) == 64
    summary = rebuild.rebuild_warehouse(workspace, AUTO)
    assert summary.decisions == 1
    assert file_state() == released
    assert summary.statuses == {"duplicate": 1, "loaded": 5}


def test_reception_times_are_utc_whatever_the_machine_zone(home: Path) -> None:
    """A zone-aware `now` stored into a TIMESTAMP was converted to the machine's zone
    (New York: 12:00 UTC stored as 07:00); a rebuild then reads it as UTC."""
    deliver_restatement(home)
    script = (
        "import datetime as dt, sys\n"
        "from pathlib import Path\n"
        "from pipelines.ingest.archive import archive_inbox\n"
        "from pipelines.warehouse import open_warehouse\n"
        "from pipelines.workspace import Workspace\n"
        "workspace, slug = Workspace(Path(sys.argv[1])), sys.argv[2]\n"
        "with open_warehouse(workspace.warehouse(slug)) as con:\n"
        "    archive_inbox(workspace, slug, workspace.load_config(slug), con,\n"
        "                  dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(home), AUTO],
        env={**os.environ, "TZ": "America/New_York"},
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    with duckdb.connect(str(warehouse(home, AUTO)), read_only=True) as con:
        assert con.execute(
            "select received_at from files where original_name = ?", [RESTATED_NAME]
        ).fetchall() == [(dt.datetime(2026, 11, 27, 12),)]
    assert read_manifest(Workspace(home), AUTO)[-1].received_at == dt.datetime(2026, 11, 27, 12)


def test_a_rebuild_skips_a_reception_listed_twice_and_a_lost_archived_copy(home: Path) -> None:
    workspace = Workspace(home)
    receptions = read_manifest(workspace, AUTO)
    append_receptions(workspace, AUTO, receptions[:1])  # a line appended twice
    lost = receptions[2]  # Export_KPI_2025.csv
    (archived,) = workspace.archive(AUTO).glob(f"{lost.sha256}.*")
    archived.unlink()
    summary = rebuild.rebuild_warehouse(workspace, AUTO)
    assert summary.receptions == 5
    with duckdb.connect(str(warehouse(home, AUTO)), read_only=True) as con:
        files = con.execute("select original_name, status from files order by all").fetchall()
        rejected = con.execute("select rule, message from rejections").fetchall()
    assert files == [
        ("Export_KPI_2023.csv", "loaded"),
        ("Export_KPI_2024.csv", "loaded"),
        ("Export_KPI_2025 (1).csv", "duplicate"),
        ("Export_KPI_2025.csv", "rejected"),
        ("Export_KPI_2026.csv", "loaded"),
    ]
    assert rejected == [("archive_missing", "the archived copy is missing")]


def test_a_failed_rebuild_leaves_the_quarantine_and_the_manifest_as_they_were(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a client.yaml changed since the last run, the replay quarantines files the old
    warehouse holds as loaded: nothing of it may show before the new warehouse is in place."""
    workspace = Workspace(home)
    config = workspace.config_path(AUTO)
    config.write_text(
        config.read_text(encoding="utf-8").replace("- name: export-kpi", "- name: export-kpi-v2"),
        encoding="utf-8",
    )
    manifest = manifest_path(workspace, AUTO).read_bytes()

    def killed(*args: object) -> None:
        raise RuntimeError("killed before the swap")

    monkeypatch.setattr(rebuild, "_swap", killed)
    with pytest.raises(RuntimeError, match="killed"):
        rebuild.rebuild_warehouse(workspace, AUTO)
    assert not workspace.quarantine(AUTO).exists()
    assert manifest_path(workspace, AUTO).read_bytes() == manifest
    assert sorted(p.name for p in (home / "quarantine").iterdir()) == []
    monkeypatch.undo()
    summary = rebuild.rebuild_warehouse(workspace, AUTO)
    assert summary.statuses == {"duplicate": 1, "rejected": 4}
    assert len(list(workspace.quarantine(AUTO).glob("*.reason.json"))) == 4


def test_a_quarantine_that_cannot_be_cleaned_is_no_write_failure(
    home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    workspace = Workspace(home)
    deliver_restatement(home)
    config = workspace.load_config(AUTO)
    with open_warehouse(warehouse(home, AUTO)) as con:
        archive_inbox(workspace, AUTO, config, con, dt.datetime(2026, 11, 27, 6))
        assert load_received(workspace, AUTO, config, con, AS_OF).rejected == [RESTATED_NAME]
    quarantine = workspace.quarantine(AUTO)
    kept = sorted(p.name for p in quarantine.iterdir())
    assert len(kept) == 2
    real_unlink = Path.unlink

    def read_only_folder(path: Path, missing_ok: bool = False) -> None:
        if path.parent == quarantine:
            raise PermissionError(13, "Permission denied", str(path))
        real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", read_only_folder)
    fixed = config.model_copy(
        update={
            "sites": [
                site.model_copy(update={"aliases": [*site.aliases, "Henin-Bt"]})
                if site.name == "Hénin-Beaumont"
                else site
                for site in config.sites
            ]
        }
    )
    with open_warehouse(warehouse(home, AUTO)) as con:
        summary = load_received(workspace, AUTO, fixed, con, AS_OF)
    assert summary.loaded == [RESTATED_NAME] and summary.values_stored == 5
    assert "stays in the quarantine folder" in caplog.text
    assert sorted(p.name for p in quarantine.iterdir()) == kept


def test_release_and_retry_say_what_is_wrong_in_one_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zero_head(warehouse(home, AUTO))
    reason = warehouse_problem(Workspace(home), AUTO)
    assert reason is not None and "cap rebuild" in reason
    assert main(["release", "--client", AUTO, "Export_KPI_2026.csv"]) == 1
    said = capsys.readouterr().out
    assert said.startswith(f"{AUTO}: not released: the warehouse warehouse/{AUTO}.duckdb cannot")
    assert said.endswith(f"run cap rebuild --client {AUTO}\n") and said.count("\n") == 1
    assert main(["retry", "--client", AUTO]) == 1
    assert capsys.readouterr().out == f"Not retried: {reason}\n"
    config = Workspace(home).config_path(HEALTHY)
    config.write_text("name: [\n", encoding="utf-8")
    assert main(["retry", "--client", HEALTHY]) == 1
    said = capsys.readouterr().out
    assert said.startswith("Not retried: ") and "client.yaml" in said
    assert main(["retry", "--client", "nobody"]) == 1
    assert capsys.readouterr().out.startswith("No client 'nobody' in ")


def test_the_deep_check_is_made_once_while_nothing_changes(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = Workspace(home)
    opened: list[Path] = []
    real = storage.open_warehouse

    def counting(path: Path, *args: object, **kwargs: object) -> object:
        opened.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(storage, "open_warehouse", counting)
    for _ in range(3):
        assert warehouse_problem(workspace, AUTO) is None
    assert len(opened) <= 1
    opened.clear()
    zero_middle(warehouse(home, AUTO))  # same size, a new modification time
    assert warehouse_problem(workspace, AUTO) is not None
    assert len(opened) == 1
