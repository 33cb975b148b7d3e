"""The consultant hears about a failed run: which client, which step, which error."""

import datetime as dt
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import dagster as dg
import pytest
from aiosmtpd.controller import Controller
from smtp_recorder import Recorder, free_port

from pipelines.defs.resources import CapWorkspace, Mailer
from pipelines.defs.sensors import run_failure_alert_sensor
from pipelines.delivery.notices import (
    FailedStep,
    RunFailure,
    build_notice,
    deliver_notice,
    error_chain,
    failure_notice,
    recipients_of,
)
from pipelines.delivery.smtp import SmtpSettings

NOW = dt.datetime(2026, 11, 26, 1, 14, tzinfo=dt.UTC)
CONSULTANT = "Claire Conseil <claire@cap.example>"
RUN_ID = "0f6c2b1e-5d4a-4c3b-9a8e-7f6d5c4b3a21"


@dataclass
class Error:
    """A hand-made `SerializableErrorInfo`."""

    message: str
    cls_name: str | None
    cause: "Error | None" = None
    context: "Error | None" = None


WRAPPED = Error(
    "dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while executing op "
    '"kpi_values":\n',
    "DagsterExecutionStepExecutionError",
    cause=Error(
        "ValueError: sheet 'Lyon' has no header row\n",
        "ValueError",
        cause=Error("KeyError: 'Mois'\n", "KeyError"),
    ),
)


def failure(**changes: object) -> RunFailure:
    values: dict = {
        "run_id": RUN_ID,
        "job_name": "client_pipeline",
        "client": "menuiseries-rhone",
        "client_name": "Menuiseries du Rhône",
        "steps": (FailedStep("kpi_values", error_chain(WRAPPED)),),
        "failed_at": NOW,
    }
    values.update(changes)
    return RunFailure(**values)


# --- building the notice, without Dagster ------------------------------------------------------


def test_the_error_chain_leaves_dagster_wrappers_out_and_ends_with_the_root_cause() -> None:
    assert error_chain(WRAPPED) == (
        "ValueError: sheet 'Lyon' has no header row",
        "KeyError: 'Mois'",
    )
    assert FailedStep("kpi_values", error_chain(WRAPPED)).error == "KeyError: 'Mois'"
    # An error raised while handling another one (implicit context) is followed too.
    handled = Error("OSError: disk full\n", "OSError", context=Error("KeyError: 'x'\n", "KeyError"))
    assert error_chain(handled) == ("OSError: disk full", "KeyError: 'x'")
    # A Dagster error with nothing inside is the error itself.
    alone = Error("dagster._core.errors.DagsterInvalidConfigError: bad config\n", "DagsterX")
    assert error_chain(alone) == ("dagster._core.errors.DagsterInvalidConfigError: bad config",)
    assert error_chain(None) == ()


def test_the_notice_names_client_step_error_and_link() -> None:
    subject, text = failure_notice(failure())
    assert subject == "[Cap] Run failed for menuiseries-rhone at kpi_values: KeyError: 'Mois'"
    assert "Client:  Menuiseries du Rhône (menuiseries-rhone)" in text
    assert "Failed step: kpi_values" in text
    assert (
        "Error: KeyError: 'Mois'\n  raised as: ValueError: sheet 'Lyon' has no header row" in text
    )
    assert f"Link:    http://127.0.0.1:3000/runs/{RUN_ID}" in text
    assert "Failed:  2026-11-26 01:14 UTC" in text
    assert "Other clients are not affected" in text


def test_a_run_that_failed_outside_any_step_says_so() -> None:
    subject, text = failure_notice(
        failure(client=None, client_name=None, steps=(), run_errors=("Run worker died",)),
        ui_url="http://cap.internal:3000/",
    )
    assert subject == "[Cap] Run failed for job client_pipeline: Run worker died"
    assert "No step failed: the run itself did.\nError: Run worker died" in text
    assert f"http://cap.internal:3000/runs/{RUN_ID}" in text
    assert "Other clients" not in text


def test_a_long_error_is_cut_in_the_subject_only() -> None:
    long = "ValueError: " + "x" * 300
    subject, text = failure_notice(failure(steps=(FailedStep("report", (long,)),)))
    assert len(subject) < 160 and subject.endswith("…")
    assert long in text


def test_the_consultant_address_is_checked() -> None:
    assert recipients_of("") == [] and recipients_of("  ") == []
    assert recipients_of(CONSULTANT) == [CONSULTANT]
    with pytest.raises(ValueError, match="CAP_CONSULTANT_EMAIL"):
        recipients_of("claire at cap")


def notice(to: list[str]) -> EmailMessage:
    subject, text = failure_notice(failure())
    return build_notice(
        subject=subject,
        text=text,
        sender="Cap <cap@cap.example>",
        to=to,
        date=NOW,
        message_id="<cap.run-failure.x@cap.example>",
    )


def test_without_smtp_or_consultant_the_notice_goes_to_the_outbox(tmp_path: Path) -> None:
    written = deliver_notice(
        notice([CONSULTANT]), to=[CONSULTANT], settings=None, outbox=tmp_path, name="a"
    )
    assert (written.status, written.eml) == ("written", tmp_path / "a.eml")
    parsed = email.message_from_bytes(
        (tmp_path / "a.eml").read_bytes(), policy=email.policy.default
    )
    assert parsed["To"] == CONSULTANT
    assert parsed["Auto-Submitted"] == "auto-generated"
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout=2)
    nobody = deliver_notice(notice([]), to=[], settings=settings, outbox=tmp_path, name="b")
    assert nobody.status == "written" and "CAP_CONSULTANT_EMAIL is empty" in (nobody.reason or "")
    parsed = email.message_from_bytes(
        (tmp_path / "b.eml").read_bytes(), policy=email.policy.default
    )
    assert parsed["To"] is None


def test_when_the_server_cannot_be_reached_the_notice_is_kept_in_the_outbox(tmp_path: Path) -> None:
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout=2)
    outcome = deliver_notice(
        notice([CONSULTANT]),
        to=[CONSULTANT],
        settings=settings,
        outbox=tmp_path,
        name="c",
        sleep=lambda seconds: None,
    )
    assert outcome.status == "written" and outcome.eml == tmp_path / "c.eml"
    assert "could not connect" in (outcome.reason or "")


# --- the sensor, on a real failed run ----------------------------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    """A real SMTP server on 127.0.0.1, stopped after the test."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


clients = dg.DynamicPartitionsDefinition(name="clients")


@dg.asset(partitions_def=clients)
def kpi_values() -> None:
    """Fails the way a bad spreadsheet makes a step fail."""
    try:
        {}["Mois"]
    except KeyError as exc:
        raise ValueError("sheet 'Lyon' has no header row") from exc


@pytest.fixture(scope="module")
def failed_run() -> Iterator[tuple[dg.DagsterInstance, dg.ExecuteInProcessResult]]:
    """A run of the client `menuiseries-rhone` whose step `kpi_values` failed."""
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("clients", ["menuiseries-rhone"])
        result = dg.materialize(
            [kpi_values], instance=instance, partition_key="menuiseries-rhone", raise_on_error=False
        )
        assert not result.success
        yield instance, result


def evaluate(
    failed: tuple[dg.DagsterInstance, dg.ExecuteInProcessResult], home: Path, mailer: Mailer
) -> None:
    instance, result = failed
    context = dg.build_run_status_sensor_context(
        sensor_name=run_failure_alert_sensor.name,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"cap": CapWorkspace(home=str(home)), "mailer": mailer},
    )
    run_failure_alert_sensor(context)


def test_the_sensor_emails_the_consultant(
    tmp_path: Path,
    smtp_server: tuple[Recorder, int],
    failed_run: tuple[dg.DagsterInstance, dg.ExecuteInProcessResult],
) -> None:
    recorder, port = smtp_server
    mailer = Mailer(
        smtp_host="127.0.0.1",
        smtp_port=str(port),
        smtp_security="none",
        sender="Cap <cap@cap.example>",
        consultant=CONSULTANT,
    )
    evaluate(failed_run, tmp_path, mailer)
    (mail_from, rcpt_tos, content), *others = recorder.received
    assert others == []
    assert (mail_from, rcpt_tos) == ("cap@cap.example", ["claire@cap.example"])
    received = email.message_from_bytes(content, policy=email.policy.default)
    run_id = failed_run[1].run_id
    # The header is folded as "Subject:" CRLF SP value, which the parser keeps a space of.
    assert received["Subject"].strip() == (
        "[Cap] Run failed for menuiseries-rhone at kpi_values: KeyError: 'Mois'"
    )
    assert received["Message-ID"] == f"<cap.run-failure.menuiseries-rhone-{run_id}@cap.example>"
    body = received.get_content().replace("\r\n", "\n")
    assert "Client:  menuiseries-rhone" in body
    assert "Failed step: kpi_values" in body
    assert (
        "Error: KeyError: 'Mois'\n  raised as: ValueError: sheet 'Lyon' has no header row" in body
    )
    assert f"http://127.0.0.1:3000/runs/{run_id}" in body
    assert not (tmp_path / "outbox").exists()


def test_without_a_consultant_address_the_sensor_writes_to_the_outbox(
    tmp_path: Path,
    smtp_server: tuple[Recorder, int],
    failed_run: tuple[dg.DagsterInstance, dg.ExecuteInProcessResult],
) -> None:
    recorder, port = smtp_server
    mailer = Mailer(smtp_host="127.0.0.1", smtp_port=str(port), smtp_security="none")
    evaluate(failed_run, tmp_path, mailer)
    assert recorder.received == []
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    assert eml.name.startswith("run-failure-menuiseries-rhone-")
    written = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert written["To"] is None
    assert "Failed step: kpi_values" in written.get_content()


@pytest.mark.parametrize(("tags", "notices"), [({}, 0), ({"cap/approval": "auto"}, 1)])
def test_a_refused_send_is_notified_only_when_nobody_launched_it(
    tmp_path: Path, tags: dict[str, str], notices: int
) -> None:
    """A send the consultant launched fails where they see it: no notice; an automatic one
    (after the nightly run) that fails is notified."""

    @dg.asset(partitions_def=clients, name="report_email")
    def refused() -> None:
        raise dg.Failure(description="menuiseries-rhone 2026-10: not sent: already sent")

    job = dg.Definitions(
        assets=[refused],
        jobs=[dg.define_asset_job("report_delivery", partitions_def=clients)],
    ).resolve_job_def("report_delivery")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("clients", ["menuiseries-rhone"])
        result = job.execute_in_process(
            instance=instance, partition_key="menuiseries-rhone", tags=tags, raise_on_error=False
        )
        assert not result.success
        evaluate((instance, result), tmp_path, Mailer(consultant=CONSULTANT))
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == notices
