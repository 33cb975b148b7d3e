"""Every state a run can leave, produced with real runs, and what the run summary and the
consultant's digest then say: a client with nothing delivered yet, a blocked run (a blocking
check failed, the assets downstream skipped, checks planned but never evaluated), a step that
raised, a run skipped as unchanged, a delivery waiting in quarantine until a later one replaces
it, a run whose process was killed; and no report email without the consultant's approval."""

import contextlib
import datetime as dt
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from client_folders import write_client

from pipelines.cli import main
from pipelines.definitions import defs
from pipelines.defs.dead_runs import HOST_TAG, PID_TAG, RETRY_ONCE_TAGS, end_dead_runs
from pipelines.defs.resources import CapWorkspace
from pipelines.defs.sensors import client_inbox_sensor, dead_runs_sensor
from pipelines.delivery.report_email import approved_by, refusal
from pipelines.demo import write_demo
from pipelines.processes import process_gone, this_host
from pipelines.quality.waiting import NotReleasable, release_delivery, waiting_deliveries
from pipelines.report.content import ReportContent
from pipelines.run import run_clients, send_report
from pipelines.sql import execute_sql
from pipelines.warehouse import open_warehouse
from pipelines.workspace import RUN_MONITORING_YAML, Workspace

AS_OF = dt.date(2026, 11, 26)
DEMO = "logistique-durand"
KEPT = ("Export_KPI_2025.csv", "Export_KPI_2026.csv")
"""Two years of the demo's weekly export: go-live in March 2025, enough before and after."""
pytestmark = pytest.mark.filterwarnings("ignore::dagster.PreviewWarning")


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace, written once: its Logistique Durand is copied into each test's."""
    home = tmp_path_factory.mktemp("demo")
    write_demo(home, AS_OF)
    return home


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty workspace of its own, with its own Dagster instance."""
    monkeypatch.setenv("CAP_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    Workspace(tmp_path).ensure()
    yield tmp_path


def add_durand(demo_source: Path, home: Path, slug: str, delivery: str) -> Path:
    """A copy of the demo's Logistique Durand as `slug` (2025 and 2026 exports), in `delivery`
    mode; its inbox."""
    source = demo_source / "clients" / DEMO
    target = home / "clients" / slug
    (target / "inbox").mkdir(parents=True)
    config = (source / "client.yaml").read_text(encoding="utf-8")
    config = config.replace("delivery: auto", f"delivery: {delivery}")
    (target / "client.yaml").write_text(config, encoding="utf-8")
    for name in KEPT:
        shutil.copy2(source / "inbox" / name, target / "inbox" / name)
    return target / "inbox"


def run_cap(home: Path, only: str | None = None, force: bool = False) -> tuple[int, str]:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = run_clients(Workspace(home), only, force=force, workers=1)
    return code, output.getvalue()


def row(output: str, slug: str) -> str:
    """The summary table's row of `slug`."""
    (line,) = [line for line in output.splitlines() if line.startswith(f"{slug} ")]
    return " ".join(line.split())


def digest(instance: dg.DagsterInstance) -> str:
    """The consultant's digest, as the morning job writes it."""
    result = defs.resolve_job_def("consultant_digest_job").execute_in_process(instance=instance)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("consultant_digest")
    return Path(materialization.metadata["digest"].value).read_text(encoding="utf-8")


def week_line(site: str, week: str, code: str, value: str) -> str:
    return f"{site};{week};{code};{value};%"


def write_export(inbox: Path, name: str, lines: list[str]) -> None:
    """A weekly export as the client's system writes it: cp1252, semicolons, decimal commas."""
    text = "Site;Semaine;Indicateur;Valeur;Unité\n" + "\n".join(lines) + "\n"
    (inbox / name).write_text(text, encoding="cp1252")


# --- a client with nothing delivered yet --------------------------------------------------------


def test_a_client_with_nothing_delivered_waits_for_its_first_delivery(home: Path) -> None:
    write_client(home, "nouveau")  # no inbox at all
    write_client(home, "vide")
    (home / "clients" / "vide" / "inbox").mkdir()  # an empty one

    code, output = run_cap(home)

    assert code == 0, output
    assert row(output, "nouveau").startswith("nouveau waiting for the first delivery 0 0 0 0 0 ")
    assert row(output, "vide").startswith("vide waiting for the first delivery 0 0 0 0 0 ")
    assert "FAILED" not in output and "error" not in output
    # No report, no email.
    assert sorted(p.name for p in (home / "reports" / "nouveau").iterdir()) == ["data_quality.html"]
    assert list((home / "outbox").iterdir()) == []
    page = (home / "reports" / "nouveau" / "data_quality.html").read_text(encoding="utf-8")
    assert "not late: waiting for the first delivery (nothing was due yet)" in page
    assert "latest period None" not in page
    instance = dg.DagsterInstance.get()
    freshness = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("kpi_values"), "kpi_values_are_fresh"), limit=10
    )
    assert {record.partition for record in freshness} == {"nouveau", "vide"}
    for record in freshness:
        evaluation = record.evaluation
        assert evaluation.passed
        assert evaluation.description == (
            "Not late: waiting for the first delivery (nothing was due yet)."
        )
    impact = instance.get_latest_materialization_event(dg.AssetKey("impact"))
    assert impact.asset_materialization.metadata["status"].value == (
        "waiting for the first delivery"
    )

    text = digest(instance)

    assert "2 clients: all quiet, nothing needs you." in text
    assert text.endswith(
        "Clients waiting for the first delivery (not late: nothing was due yet) (2)\n"
        "  - Nouveau (nouveau): waiting for the first delivery\n"
        "  - Vide (vide): waiting for the first delivery\n"
    )
    assert "Late clients" not in text


# --- blocked, skipped, quarantined until replaced -----------------------------------------------


def test_the_morning_after_a_blocking_failure(demo_source: Path, home: Path) -> None:
    inbox = add_durand(demo_source, home, "durand", "review")
    code, output = run_cap(home)
    assert code == 0, output
    # A restated export with a service level of 250 %: the blocking rule quarantines it.
    write_export(
        inbox,
        "Export_KPI_2026 corrigé.csv",
        [week_line("Arras", "2026-S10", "TX_SERVICE", "250")],
    )

    code, output = run_cap(home)

    assert code == 1, output
    assert row(output, "durand").startswith("durand FAILED 1 0 ")
    assert "error: blocking check kpi_observations_pass_delivery_rules failed" in output
    instance = dg.DagsterInstance.get()
    (blocked,) = instance.get_runs(
        filters=dg.RunsFilter(tags={"dagster/partition": "durand"}), limit=1
    )
    assert blocked.status == dg.DagsterRunStatus.FAILURE
    planned = [
        record
        for record in instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("kpi_values"), "kpi_values_are_fresh"), limit=5
        )
        if record.run_id == blocked.run_id
    ]
    # The state that crashed the digest: a check planned in the run, never evaluated.
    assert [record.status.value for record in planned] == ["PLANNED"]
    assert planned[0].evaluation is not None and not hasattr(planned[0].evaluation, "passed")
    quarantine = (
        "1 delivery waiting in quarantine: Export_KPI_2026 corrigé.csv "
        "(quarantined by a blocking check: service_level_pct between 0 and 100 (1 values))"
    )
    assert f"  durand               {quarantine}\n" in output

    text = digest(instance)

    assert (
        "Deliveries waiting in quarantine for a correction (1)\n"
        f"  - Logistique Durand (durand): {quarantine}\n"
    ) in text
    # The report of the last good run still waits for approval.
    assert "  - Logistique Durand (durand): the report of 2026-W47" in text

    # The next night: the run succeeds and rejects nothing new, the delivery still waits.
    code, output = run_cap(home)
    assert code == 0, output
    assert row(output, "durand").startswith("durand ok 0 0 0 ")
    assert f"  durand               {quarantine}\n" in output
    # The night after: nothing changed, the client is skipped, the delivery still waits.
    code, output = run_cap(home)
    assert code == 0, output
    assert row(output, "durand").startswith("durand same 0 0 0 0 0 ")
    assert f"  durand               {quarantine}\n" in output

    # The client sends the correction: the quarantined delivery is replaced.
    write_export(
        inbox,
        "Export_KPI_2026 corrigé v2.csv",
        [week_line("Arras", "2026-S10", "TX_SERVICE", "97,9")],
    )
    code, output = run_cap(home)
    assert code == 0, output
    assert row(output, "durand").startswith("durand ok 1 0 1 ")
    assert "waiting in quarantine" not in output
    assert "waiting in quarantine" not in digest(instance)


def test_the_consultant_releases_a_quarantined_delivery(demo_source: Path, home: Path) -> None:
    inbox = add_durand(demo_source, home, "durand", "review")
    # A service level rounded up past 100 %: the rule quarantines it; the consultant knows it
    # is the client's rounding and accepts the delivery as it is.
    write_export(
        inbox, "Export_KPI_2026 S10.csv", [week_line("Arras", "2026-S10", "TX_SERVICE", "100,4")]
    )
    code, output = run_cap(home)
    assert code == 1, output
    assert "1 delivery waiting in quarantine: Export_KPI_2026 S10.csv" in output

    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        assert main(["release", "--client", "durand", "Export_KPI_2026 S5.csv"]) == 1
    assert said.getvalue() == (
        "durand: not released: no delivery 'Export_KPI_2026 S5.csv' waits in quarantine "
        "(waiting: Export_KPI_2026 S10.csv)\n"
    )
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        assert main(["release", "--client", "durand", "Export_KPI_2026 S10.csv"]) == 0
    output = said.getvalue()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert output.startswith(
        f"durand: Export_KPI_2026 S10.csv released by the consultant on {today} (was "
        "quarantined by a blocking check: service_level_pct between 0 and 100 (1 values)); "
        "running the client\n"
    )
    assert row(output, "durand").startswith("durand ok 0 0 ")
    assert "waiting in quarantine" not in output
    with duckdb.connect(str(home / "warehouse" / "durand.duckdb"), read_only=True) as con:
        assert con.execute(
            "select value from kpi_values where site = 'Arras' and kpi = 'service_level_pct' "
            "and period_start = '2026-03-02'"
        ).fetchall() == [(100.4,)]
        ((status, message),) = con.execute(
            "select status, message from files where original_name = 'Export_KPI_2026 S10.csv'"
        ).fetchall()
    assert status == "loaded"
    assert message.startswith(f"released by the consultant on {today}")
    assert "waiting in quarantine" not in digest(dg.DagsterInstance.get())


def test_a_rejected_file_stays_listed_after_the_next_run(demo_source: Path, home: Path) -> None:
    inbox = add_durand(demo_source, home, "durand", "review")
    write_export(
        inbox, "Export_KPI_Douai.csv", [week_line("Douai", "2026-S12", "TX_SERVICE", "97")]
    )
    code, output = run_cap(home)
    assert code == 0, output
    assert row(output, "durand").startswith("durand ok 2 1 ")

    code, output = run_cap(home, force=True)

    assert code == 0, output
    assert row(output, "durand").startswith("durand ok 0 0 0 ")  # "rejected 0" this run...
    (line,) = [line for line in output.splitlines() if "waiting in quarantine" in line]
    # ...but the file still waits: its name and why.
    assert line.startswith("  durand               1 delivery waiting in quarantine: ")
    assert "Export_KPI_Douai.csv (" in line and "Douai" in line.split("(", 1)[1]
    text = digest(dg.DagsterInstance.get())
    assert "  - Logistique Durand (durand): 1 delivery waiting in quarantine: Export_KPI_Douai" in (
        text
    )


# --- one meaning of "waiting" -------------------------------------------------------------------

NOV_PASS = dt.datetime(2026, 12, 2, 8, 0)
"""One inbox pass: every file it took has this reception time."""
BLOCKED = "quarantined by a blocking check: units_produced >= 0 (3 values)"


def add_file(
    con: duckdb.DuckDBPyConnection,
    name: str,
    source: str | None,
    received_at: dt.datetime,
    delivered_at: dt.datetime,
    status: str,
    message: str | None = None,
    sha256: str | None = None,
) -> None:
    """A row of `files` as the ingest stage leaves it."""
    con.execute(
        "insert into files (sha256, original_name, size_bytes, source, received_at, "
        "delivered_at, status, message) values (?, ?, 48213, ?, ?, ?, ?, ?)",
        [sha256 or f"{abs(hash(name)):064x}"[-64:], name, source, received_at, delivered_at,
         status, message],
    )  # fmt: skip


def waiting_everywhere(con: duckdb.DuckDBPyConnection, workspace: Workspace) -> dict[str, object]:
    """What each reader says waits: the summary and digest, the email's gate, the PDF."""
    config = workspace.load_config("atelier")
    content = ReportContent(
        slug="atelier",
        config=config,
        latest_period=dt.date(2026, 11, 1),
        data_until=None,
        key_results=[],
        series=pd.DataFrame(columns=["site", "period_start", "kpi", "value"]),
        files=execute_sql(con, "select_report_files").df(),
        coverage=pd.DataFrame(columns=["site", "period_start", "kpis"]),
        lateness=(None, 0, 45),
    )
    return {
        "summary": [item.name for item in waiting_deliveries(con)],
        "gate": refusal(con, config, "2026-11", automatic=False, today=AS_OF),
        "pdf": content.pending_files,
    }


def test_the_summary_the_gate_and_the_pdf_agree_on_what_waits(home: Path) -> None:
    write_client(home, "atelier")
    workspace = Workspace(home)
    october = dt.datetime(2026, 11, 3, 8, 0)
    with open_warehouse(workspace.warehouse("atelier")) as con:
        add_file(con, "Production octobre.xlsx", "production", october, october, "loaded")
        # A bad export and its correction, dropped in the same inbox pass: the correction's
        # file is newer, so it replaces the bad one.
        add_file(con, "Production novembre.xlsx", "production", NOV_PASS,
                 dt.datetime(2026, 12, 1, 18, 0), "quarantined", BLOCKED)  # fmt: skip
        add_file(con, "Production novembre corrigé.xlsx", "production", NOV_PASS,
                 dt.datetime(2026, 12, 1, 18, 40), "loaded")  # fmt: skip
        # Another source's delivery quarantined, then only a third source delivers again: the
        # hours still wait for their correction.
        add_file(con, "Heures novembre.csv", "heures", NOV_PASS,
                 dt.datetime(2026, 12, 1, 9, 5), "quarantined", BLOCKED)  # fmt: skip
        add_file(con, "Ventes novembre.csv", "ventes", dt.datetime(2026, 12, 9, 8, 0),
                 dt.datetime(2026, 12, 8, 17, 0), "loaded")  # fmt: skip

        said = waiting_everywhere(con, workspace)

        assert said == {
            "summary": ["Heures novembre.csv"],
            "gate": "a delivery failed a blocking check and waits for its correction "
            "(Heures novembre.csv): the figures are not final, nothing is sent",
            "pdf": ["Heures novembre.csv"],
        }

        # The consultant releases it: it waits no more, for any reader.
        release_delivery(con, "Heures novembre.csv", dt.datetime(2026, 12, 10, 9, 0))

        assert waiting_everywhere(con, workspace) == {"summary": [], "gate": None, "pdf": []}


def test_release_needs_a_name_or_a_hash_prefix_that_means_one_delivery(home: Path) -> None:
    write_client(home, "atelier")
    workspace = Workspace(home)
    first, second = "ab12cd34ef" + "0" * 54, "ab12cd34aa" + "1" * 54
    with open_warehouse(workspace.warehouse("atelier")) as con:
        add_file(con, "Heures novembre.csv", "heures", NOV_PASS, NOV_PASS, "quarantined",
                 BLOCKED, sha256=first)  # fmt: skip
        add_file(con, "Heures novembre.csv", "heures", dt.datetime(2026, 12, 3, 8, 0),
                 dt.datetime(2026, 12, 3, 7, 0), "quarantined", BLOCKED, sha256=second)  # fmt: skip
        now = dt.datetime(2026, 12, 10, 9, 0)

        for short in ("a", "ab12cd3"):
            with pytest.raises(NotReleasable) as refused:
                release_delivery(con, short, now)
            assert str(refused.value) == (
                f"{short!r} is too short to name a delivery by its SHA-256: give its file name "
                "or at least 8 hex characters of its SHA-256"
            )
        for ambiguous in ("ab12cd34", "Heures novembre.csv"):
            with pytest.raises(NotReleasable) as refused:
                release_delivery(con, ambiguous, now)
            assert str(refused.value) == (
                f"{ambiguous!r} names 2 waiting deliveries: "
                "Heures novembre.csv (SHA-256 ab12cd34ef00…, received 2026-12-02 08:00); "
                "Heures novembre.csv (SHA-256 ab12cd34aa11…, received 2026-12-03 08:00); "
                "give a longer SHA-256 prefix to say which"
            )
        assert len(waiting_deliveries(con)) == 2  # nothing released by a guess

        released = release_delivery(con, "AB12CD34E", now)

        assert released.sha256 == first
        assert con.execute("select sha256, status from files order by status").fetchall() == [
            (first, "loaded"),
            (second, "quarantined"),
        ]


# --- a step that raises -------------------------------------------------------------------------


def test_a_failed_step_leaves_a_summary_and_a_digest(
    demo_source: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_durand(demo_source, home, "durand", "review")

    def diverges(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the impact model diverged")

    monkeypatch.setattr("pipelines.defs.impact.assets.analyse_with_counterfactuals", diverges)

    code, output = run_cap(home)

    assert code == 1, output
    assert row(output, "durand").startswith("durand FAILED 2 0 ")
    assert "error: impact: RuntimeError: the impact model diverged" in output
    instance = dg.DagsterInstance.get()
    (failed,) = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": "durand"}))
    assert failed.status == dg.DagsterRunStatus.FAILURE
    materialized = instance.get_records_for_run(
        failed.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    # The report, downstream of the failed step, did not run.
    assert [record.event_log_entry.step_key for record in materialized] == [
        "raw_files",
        "kpi_observations",
        "kpi_values",
        "kpi_series",
    ]

    text = digest(instance)

    # No report was built: nothing waits for approval; the values loaded are fresh.
    assert "1 client: all quiet, nothing needs you." in text
    assert "waiting for the first delivery" not in text


# --- no email without approval ------------------------------------------------------------------


def outbox_emails(home: Path) -> list[str]:
    """The client emails in the outbox (the consultant's digest goes there too)."""
    return sorted(path.name for path in (home / "outbox").glob("durand-*.eml"))


def test_materializing_everything_sends_nothing_without_approval(
    demo_source: Path, home: Path
) -> None:
    add_durand(demo_source, home, "durand", "review")
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("clients", ["durand"])
    # "Materialize all" on the lineage page, for the client's partition.
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("consultant"),
        partition_key="durand",
        instance=instance,
        resources={"cap": CapWorkspace(home=str(home)), "mailer": defs.resources["mailer"]},
    )

    assert result.success
    (built,) = result.asset_materializations_for_node("report")
    assert built.metadata["period"].value == "2026-W47"
    assert result.asset_materializations_for_node("report_email") == []
    (observation,) = result.asset_observations_for_node("report_email")
    assert observation.metadata["status"].value == "not sent"
    assert observation.metadata["reason"].value.startswith(
        "not approved: a report is emailed only when the consultant approves it "
        "(`cap send --client durand`"
    )
    assert outbox_emails(home) == []
    with duckdb.connect(str(home / "warehouse" / "durand.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from deliveries").fetchall() == [(0,)]
    assert "  - Logistique Durand (durand): the report of 2026-W47" in digest(instance)

    # The consultant approves: sent once; a second approval of the same period sends nothing.
    with contextlib.redirect_stdout(io.StringIO()) as said:
        assert send_report(Workspace(home), "durand", None, resend=False) == 0
    assert said.getvalue().startswith("durand: written to the outbox (2026-W47, 2 recipients)")
    assert outbox_emails(home) == ["durand-2026-W47.eml"]
    # `cap send` without --period approved the period it resolved, named in the run's config.
    (sent,) = instance.get_runs(filters=dg.RunsFilter(job_name="report_delivery"))
    assert sent.tags["cap/trigger"] == "cap send"
    assert sent.run_config["ops"]["report_email"]["config"]["period"] == "2026-W47"
    with contextlib.redirect_stdout(io.StringIO()) as said:
        assert send_report(Workspace(home), "durand", None, resend=False) == 1
    assert outbox_emails(home) == ["durand-2026-W47.eml"]

    # A retry of an approved run with `resend` (a re-execution) sends at most once.
    retried = defs.resolve_job_def("report_delivery").execute_in_process(
        partition_key="durand",
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"report_email": {"config": {"period": "2026-W47", "resend": True}}}},
        tags={"cap/trigger": "cap send", "dagster/parent_run_id": "an-earlier-run"},
    )
    assert not retried.success
    assert retried.asset_materializations_for_node("report_email") == []
    with duckdb.connect(str(home / "warehouse" / "durand.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from deliveries").fetchall() == [(1,)]

    # A re-execution of an old `cap send` of "the latest" (no period in its config), or a tag
    # added by hand in the UI, approves no period: nothing is sent, even with `resend`.
    for tags, period in (
        ({"cap/trigger": "cap send"}, ""),
        ({"cap/approval": "consultant"}, "2026-W47"),
    ):
        unapproved = defs.resolve_job_def("report_delivery").execute_in_process(
            partition_key="durand",
            instance=instance,
            run_config={"ops": {"report_email": {"config": {"period": period, "resend": True}}}},
            tags=tags,
        )
        assert unapproved.asset_materializations_for_node("report_email") == []
        (observation,) = unapproved.asset_observations_for_node("report_email")
        assert observation.metadata["status"].value == "not sent"
    assert outbox_emails(home) == ["durand-2026-W47.eml"]
    with duckdb.connect(str(home / "warehouse" / "durand.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from deliveries").fetchall() == [(1,)]

    # The approval in the UI: the report_delivery job with the period and `approve: true`.
    approved = defs.resolve_job_def("report_delivery").execute_in_process(
        partition_key="durand",
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"report_email": {"config": {"period": "2026-W47", "approve": True}}}},
    )
    failure = approved.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert "2026-W47" in failure.description and "not sent" in failure.description


def test_the_consultant_approves_a_period_never_the_latest() -> None:
    cap_send = {"cap/trigger": "cap send", "dagster/partition": "durand"}
    assert approved_by(cap_send, approve=False, period="2026-W47") == "consultant"
    assert approved_by({}, approve=True, period="2026-W47") == "consultant"
    assert approved_by({"cap/approval": "auto"}, approve=False, period="") == "auto (nightly run)"
    # "The latest" is no period: whatever is latest when a re-execution runs was never seen.
    assert approved_by(cap_send, approve=False, period="") is None
    assert approved_by({}, approve=True, period="") is None
    # Cap never sets it: a tag typed in the UI is no approval.
    assert approved_by({"cap/approval": "consultant"}, approve=False, period="2026-W47") is None


def test_an_auto_client_still_sends_by_itself(demo_source: Path, home: Path) -> None:
    add_durand(demo_source, home, "durand", "auto")

    code, output = run_cap(home)

    assert code == 0, output
    assert "durand               written to the outbox (2026-W47, 2 recipients)" in output
    assert outbox_emails(home) == ["durand-2026-W47.eml"]


# --- killed runs end ----------------------------------------------------------------------------

SLOW_RUN = """
import sys
import time
import dagster as dg
from pipelines.defs.dead_runs import process_tags

@dg.op
def slow() -> None:
    time.sleep(120)

@dg.job
def slow_job() -> None:
    slow()

tags = {"dagster/partition": "nouveau", **(process_tags() if "tagged" in sys.argv else {})}
slow_job.execute_in_process(instance=dg.DagsterInstance.get(), tags=tags)
"""


def start_and_kill(home: Path, *args: str) -> list[subprocess.Popen[bytes]]:
    """Start a slow run in a process of its own per `args` entry (`tagged` names the process in
    the run's tags, as `cap run` does; else its RUN_START event does, as for the daemon's)."""
    script = home / "slow_run.py"
    script.write_text(SLOW_RUN, encoding="utf-8")
    return [
        subprocess.Popen(
            [sys.executable, str(script), arg], env=dict(os.environ), start_new_session=True
        )
        for arg in args
    ]


def wait_started(instance: dg.DagsterInstance, count: int) -> list[dg.DagsterRun]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        started = [
            run
            for run in runs
            if instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
        ]
        if len(started) == count:
            return started
        time.sleep(0.3)
    raise AssertionError("the slow runs did not start")


def test_a_run_whose_process_was_killed_ends_as_failed(home: Path) -> None:
    write_client(home, "nouveau")
    instance = dg.DagsterInstance.get()
    processes = start_and_kill(home, "tagged", "untagged")
    try:
        runs = wait_started(instance, 2)
        tagged = {run.run_id: PID_TAG in run.tags for run in runs}
        assert sorted(tagged.values()) == [False, True]
        # Alive: nothing to end.
        assert end_dead_runs(instance) == []
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for run in runs:
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED

    # `cap run` ends its client's dead runs before it runs the client: only those its own
    # host tag names. A run without it (the UI's, the daemon's) may live on another machine
    # sharing the Dagster storage: it is left to the sensor, which runs beside the launcher.
    (own,) = [run_id for run_id, has_pid in tagged.items() if has_pid]
    (launched,) = [run_id for run_id, has_pid in tagged.items() if not has_pid]
    code, output = run_cap(home, "nouveau")
    assert code == 0, output
    assert f"an earlier run ({own}) whose process was killed is marked failed" in output
    assert launched not in output
    assert instance.get_run_by_id(own).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(launched).status == dg.DagsterRunStatus.STARTED
    skipped = dead_runs_sensor(dg.build_sensor_context(instance=instance))
    assert skipped.skip_message == f"marked failed, their process was gone: {launched}"
    for run_id in tagged:
        ended = instance.get_run_by_id(run_id)
        assert ended.status == dg.DagsterRunStatus.FAILURE
        (failure,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert failure.dagster_event.message.startswith(
            "The process that ran this run (pid "
        ) and "is gone: it was killed or crashed before the run ended" in (
            failure.dagster_event.message
        )
    assert end_dead_runs(instance) == []


@dg.op
def noop() -> None:
    """Does nothing, on another machine."""


@dg.job
def elsewhere_job() -> None:
    noop()


def test_the_sensor_ends_dead_runs_and_leaves_other_hosts_alone(home: Path) -> None:
    instance = dg.DagsterInstance.get()
    (process,) = start_and_kill(home, "untagged")
    try:
        (started,) = wait_started(instance, 1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process_gone(process.pid)
    # A run of another machine whose pid means nothing here.
    elsewhere = instance.create_run_for_job(
        elsewhere_job,
        status=dg.DagsterRunStatus.STARTED,
        tags={HOST_TAG: f"not-{this_host()}", PID_TAG: str(process.pid)},
    )

    skipped = dead_runs_sensor(dg.build_sensor_context(instance=instance))

    assert skipped.skip_message == (f"marked failed, their process was gone: {started.run_id}")
    assert instance.get_run_by_id(started.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(elsewhere.run_id).status == dg.DagsterRunStatus.STARTED
    quiet = dead_runs_sensor(dg.build_sensor_context(instance=instance))
    assert quiet.skip_message == "no started run has lost its process"


def test_a_reused_pid_or_a_zombie_is_not_the_process_that_ran() -> None:
    assert not process_gone(os.getpid())
    assert not process_gone(os.getpid(), started_by=time.time())
    # This process started long after: it cannot be the one a run started a day ago.
    assert process_gone(os.getpid(), started_by=time.time() - 86_400)
    assert process_gone(0)
    # Killed but not yet reaped by its parent (as a run worker of the code server): gone.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not process_gone(child.pid)
        child.kill()
        deadline = time.monotonic() + 10
        while not process_gone(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process_gone(child.pid)
    finally:
        child.wait()


def test_nightly_and_inbox_runs_are_retried_once_when_their_process_dies(home: Path) -> None:
    write_client(home, "nouveau")
    (home / "clients" / "nouveau" / "inbox").mkdir()
    (home / "clients" / "nouveau" / "inbox" / "Production janvier.xlsx").write_bytes(b"bytes")
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, cursor=None, resources={"cap": CapWorkspace(home=str(home))}
        )
        (request,) = client_inbox_sensor(context).run_requests
    assert request.tags == {
        "dagster/max_retries": "1",
        "dagster/retry_on_asset_or_op_failure": "false",
    }
    assert request.tags == RETRY_ONCE_TAGS
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_start_timeout_seconds == 180
        assert instance.run_retries_enabled
        assert instance.run_retries_max_retries == 0  # only runs tagged for it
        assert not instance.run_retries_retry_on_asset_or_op_failure


def test_a_dagster_yaml_with_its_own_monitoring_is_left_alone(tmp_path: Path) -> None:
    settings = tmp_path / "dagster" / "dagster.yaml"
    settings.parent.mkdir(parents=True)
    mine = "run_queue:\n  max_concurrent_runs: 1\nrun_monitoring:\n  enabled: false\n"
    settings.write_text(mine, encoding="utf-8")
    Workspace(tmp_path).ensure()
    Workspace(tmp_path).ensure()
    assert settings.read_text(encoding="utf-8") == mine
    older = tmp_path / "older"
    (older / "dagster").mkdir(parents=True)
    (older / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    Workspace(older).ensure()
    Workspace(older).ensure()
    assert (older / "dagster" / "dagster.yaml").read_text().count(RUN_MONITORING_YAML) == 1
