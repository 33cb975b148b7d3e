"""The consultant's morning digest: what needs them, and an "all quiet" morning."""

import datetime as dt
import email
import email.policy
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from client_folders import write_client

from pipelines.delivery.digest import (
    AwaitingApproval,
    CheckEvaluation,
    ClientProblem,
    ClientSurvey,
    Digest,
    LateClient,
    digest_text,
    failed_warnings,
    metadata_summary,
    survey_clients,
    write_digest,
)
from pipelines.delivery.ledger import mark_sent, record_attempt
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

NOW = dt.datetime(2026, 11, 26, 6, 0, tzinfo=dt.UTC)
"""07:00 in Paris."""


def evaluation(
    client: str, check: str, hours_ago: float, passed: bool, severity: str = "WARN"
) -> CheckEvaluation:
    return CheckEvaluation(
        client=client,
        check=check,
        asset="kpi_values",
        passed=passed,
        severity=severity,
        at=NOW - dt.timedelta(hours=hours_ago),
        summary="outliers: 3, limit: 5.0",
        run_id="r",
    )


# --- shaping, without Dagster ------------------------------------------------------------------


def test_only_warnings_still_failing_in_the_last_24_hours_are_news() -> None:
    found = failed_warnings(
        [
            evaluation("beta", "kpi_values_are_complete", 3, passed=False),
            evaluation("alpha", "kpi_values_have_no_outliers", 20, passed=False),
            # Fixed by a later run: not news.
            evaluation("alpha", "kpi_values_are_complete", 20, passed=False),
            evaluation("alpha", "kpi_values_are_complete", 2, passed=True),
            # Older than 24 hours.
            evaluation("gamma", "kpi_values_are_fresh", 25, passed=False),
            # Blocking checks fail the run: the failure alert tells about them.
            evaluation("gamma", "kpi_observations_pass_delivery_rules", 1, False, "ERROR"),
            # The latest of two failures.
            evaluation("beta", "kpi_values_are_complete", 1, passed=False),
        ],
        NOW,
    )
    assert [(item.client, item.check, NOW - item.at) for item in found] == [
        ("alpha", "kpi_values_have_no_outliers", dt.timedelta(hours=20)),
        ("beta", "kpi_values_are_complete", dt.timedelta(hours=1)),
    ]


def test_a_check_result_summed_up_on_one_line() -> None:
    assert metadata_summary("  Values far from history  ", {"outliers": 3}) == (
        "Values far from history"
    )
    table = "| site | kpi |\n|---|---|\n| Lyon | x |"
    assert metadata_summary(None, {"outliers": 3, "limit": 5.0, "values": table}) == (
        "outliers: 3, limit: 5.0"
    )
    assert metadata_summary(None, {}) == "no detail recorded"
    assert len(metadata_summary("x" * 500, {})) == 160


def full_digest() -> Digest:
    return Digest(
        now=NOW,
        clients=["alpha", "beta", "gamma", "delta"],
        warnings=[evaluation("beta", "kpi_values_have_no_outliers", 4, passed=False)],
        survey=ClientSurvey(
            names={"alpha": "Alpha Industries", "beta": "Beta Logistique", "delta": "delta"},
            late=[LateClient("beta", dt.date(2026, 8, 1), 86, 45)],
            invalid=[
                ClientProblem("gamma", "clients/gamma/client.yaml: 1 problem\n  line 2, cadence")
            ],
            awaiting=[AwaitingApproval("alpha", "2026-10", Path("/cap/reports/alpha/2026-10"))],
            unreadable=[],
            quarantined=[
                ClientProblem(
                    "beta",
                    "1 delivery waiting in quarantine: export-octobre.csv (unknown site 'Lyon 3')",
                )
            ],
            first_delivery=["delta"],
        ),
    )


def test_the_digest_lists_what_needs_the_consultant() -> None:
    subject, text = digest_text(full_digest())
    assert subject == "[Cap] Daily digest, Thu 26 Nov 2026: 5 items need you"
    assert text.startswith(
        "Cap daily digest, Thu 26 Nov 2026 (07:00 CET)\n4 clients, 5 items need you.\n"
    )
    assert (
        "Reports waiting for your approval (1)\n"
        "  - Alpha Industries (alpha): the report of 2026-10 (/cap/reports/alpha/2026-10)\n"
        "    approve: `cap send --client alpha`, or in the UI launch the report_delivery job for "
        "this client with `approve: true`\n"
    ) in text
    assert (
        "Invalid configurations, skipped by the nightly run (1)\n"
        "  - gamma: clients/gamma/client.yaml: 1 problem\n        line 2, cadence\n"
    ) in text
    assert (
        "Deliveries waiting in quarantine for a correction (1)\n"
        "  - Beta Logistique (beta): 1 delivery waiting in quarantine: export-octobre.csv "
        "(unknown site 'Lyon 3')\n"
    ) in text
    assert (
        "Late clients (1)\n"
        "  - Beta Logistique (beta): latest period 2026-08-01, 86 days after it ended "
        "(45 allowed)\n"
    ) in text
    # Not late, not an item: nothing was due yet.
    assert text.endswith(
        "Clients waiting for the first delivery (not late: nothing was due yet) (1)\n"
        "  - delta: waiting for the first delivery\n"
    )
    assert (
        "Warning checks that failed in the last 24 h (1)\n"
        "  - Beta Logistique (beta): kpi_values_have_no_outliers on kpi_values, 26 Nov 03:00: "
        "outliers: 3, limit: 5.0\n"
    ) in text
    assert "could not read" not in text


def test_a_quiet_morning_still_gets_a_short_digest() -> None:
    quiet = Digest(now=NOW, clients=["alpha"], warnings=[], survey=ClientSurvey())
    subject, text = digest_text(quiet)
    assert subject == "[Cap] Daily digest, Thu 26 Nov 2026: all quiet"
    assert text == (
        "Cap daily digest, Thu 26 Nov 2026 (07:00 CET)\n1 client: all quiet, nothing needs you.\n"
    )


def test_the_digest_is_kept_under_reports(tmp_path: Path) -> None:
    path = write_digest(Workspace(tmp_path), dt.date(2026, 11, 26), "text\n")
    assert path == tmp_path / "reports" / "_digest" / "2026-11-26.txt"
    assert path.read_text(encoding="utf-8") == "text\n"
    assert [p.name for p in path.parent.iterdir()] == ["2026-11-26.txt"]


# --- reading the workspace ---------------------------------------------------------------------


def write_report(home: Path, slug: str, period: str) -> None:
    folder = home / "reports" / slug / period
    folder.mkdir(parents=True)
    (folder / "email.json").write_text(json.dumps({"subject": "s"}), encoding="utf-8")


def write_values(home: Path, slug: str, latest: dt.date, *, ledger: bool = True) -> None:
    """A warehouse whose latest value is for `latest` (monthly); without the ledger table when
    it predates it."""
    with open_warehouse(Workspace(home).warehouse(slug)) as con:
        delivered = dt.datetime(2026, 11, 1)
        con.execute(
            "insert into files values ('sha', 'a.xlsx', 1, 'production', ?, ?, 'loaded', null, 1,"
            " null)",
            [delivered, delivered],
        )
        con.execute(
            "insert into kpi_observations values (?, 'Lyon', ?, 'month', 'units_produced', 1.0,"
            " 'units', 'sha', null, null, null, ?)",
            [slug, latest, delivered],
        )
        if not ledger:
            con.execute("drop table deliveries")


def test_the_survey_reads_configurations_warehouses_and_report_folders(tmp_path: Path) -> None:
    # alpha: review mode, fresh data, its latest report not sent (the ledger is empty).
    write_client(tmp_path, "alpha")
    write_values(tmp_path, "alpha", dt.date(2026, 10, 1))
    write_report(tmp_path, "alpha", "2026-09")
    write_report(tmp_path, "alpha", "2026-10")
    # beta: review mode, late data, its latest report sent.
    write_client(tmp_path, "beta")
    write_values(tmp_path, "beta", dt.date(2026, 8, 1))
    write_report(tmp_path, "beta", "2026-08")
    with open_warehouse(Workspace(tmp_path).warehouse("beta")) as con:
        attempt = record_attempt(
            con, period="2026-08", message_id="<m>", content_hash="h", recipients=[], now=NOW
        )
        mark_sent(con, attempt, attempts=1, now=NOW)
    # delta: auto mode, never run: no warehouse; its report is not the consultant's to approve.
    write_client(tmp_path, "delta", delivery="auto")
    write_report(tmp_path, "delta", "2026-10")
    # epsilon: a warehouse from before the ledger, in review mode: nothing sent.
    write_client(tmp_path, "epsilon")
    write_values(tmp_path, "epsilon", dt.date(2026, 10, 1), ledger=False)
    write_report(tmp_path, "epsilon", "2026-10")
    # gamma: invalid configuration.
    write_client(tmp_path, "gamma", text="name: Gamma\ncadence: daily\n")

    workspace = Workspace(tmp_path)
    survey = survey_clients(workspace, workspace.client_slugs(), NOW)

    assert survey.names == {
        "alpha": "Alpha",
        "beta": "Beta",
        "delta": "Delta",
        "epsilon": "Epsilon",
    }
    assert [(item.client, item.period) for item in survey.awaiting] == [
        ("alpha", "2026-10"),
        ("epsilon", "2026-10"),
    ]
    assert survey.awaiting[0].folder == tmp_path / "reports" / "alpha" / "2026-10"
    assert survey.late == [LateClient("beta", dt.date(2026, 8, 1), 86, 45)]
    assert survey.first_delivery == ["delta"]
    assert survey.quarantined == []
    ((client, problem),) = [(item.client, item.problem) for item in survey.invalid]
    assert client == "gamma" and "got 'daily'" in problem
    assert survey.unreadable == []


# --- the Dagster asset -------------------------------------------------------------------------

clients = dg.DynamicPartitionsDefinition(name="clients")


@dg.asset(partitions_def=clients, name="kpi_values")
def fake_kpi_values() -> None:
    """Stands for the client's current values."""


@dg.asset_check(asset=fake_kpi_values, partitions_def=clients, name="kpi_values_have_no_outliers")
def fake_outliers() -> dg.AssetCheckResult:
    """Fails as a warning, like a strike month would."""
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"outliers": 3, "limit": 5.0, "values": dg.MetadataValue.md("| a |\n|---|")},
    )


@pytest.mark.filterwarnings("ignore::dagster.PreviewWarning")
def test_the_digest_job_reads_the_event_log_and_tells_the_consultant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.definitions import defs

    monkeypatch.setenv("CAP_HOME", str(tmp_path))
    monkeypatch.setenv("CAP_CONSULTANT_EMAIL", "Claire <claire@cap.example>")
    write_client(tmp_path, "alpha")
    write_report(tmp_path, "alpha", "2026-10")
    write_client(tmp_path, "gamma", text="name: Gamma\ncadence: daily\n")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("clients", ["alpha", "gamma"])
        checked = dg.materialize(
            [fake_kpi_values, fake_outliers], instance=instance, partition_key="alpha"
        )
        assert checked.success
        result = defs.resolve_job_def("consultant_digest_job").execute_in_process(instance=instance)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("consultant_digest")
    metadata = materialization.metadata
    assert metadata["items"].value == 3
    assert metadata["waiting_for_first_delivery"].value == 1
    assert metadata["failed_warnings"].value == 1
    digest_path = Path(metadata["digest"].value)
    assert digest_path.parent == tmp_path / "reports" / "_digest"
    text = digest_path.read_text(encoding="utf-8")
    assert "Alpha (alpha): kpi_values_have_no_outliers on kpi_values, " in text
    assert ": limit: 5.0, outliers: 3\n" in text  # the event log keeps metadata sorted
    assert "  - Alpha (alpha): the report of 2026-10" in text
    assert "  - Alpha (alpha): waiting for the first delivery" in text
    assert "Late clients" not in text
    assert "  - gamma: " in text and "got 'daily'" in text
    (eml,) = (tmp_path / "outbox").glob("digest-*.eml")
    written = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert written["To"] == "Claire <claire@cap.example>"
    assert written["Subject"].strip().endswith(": 3 items need you")
    assert written.get_content().replace("\r\n", "\n") == text
    assert digest_path.stem == dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
