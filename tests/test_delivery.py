"""Delivering the report email exactly once, against a real SMTP server (aiosmtpd)."""

import datetime as dt
import email
import email.policy
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import duckdb
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from smtp_recorder import Recorder, free_port

from pipelines.delivery.ledger import deliveries, ensure_ledger, record_attempt
from pipelines.delivery.message import (
    build_message,
    content_hash,
    envelope_recipients,
    make_message_id,
)
from pipelines.delivery.smtp import (
    SmtpSettings,
    deliver,
    send_message,
    smtp_settings_from_env,
    write_eml,
)
from pipelines.warehouse import open_warehouse

NOW = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)
SLUG = "acme"
PERIOD = "2026-10"
SUBJECT = "Rapport Acme : octobre 2026 — productivité"
TEXT = "Bonjour,\n\nLa productivité a progressé de 11,7 %.\n"
HTML = (
    "<html><body><p>La productivité a progressé de 11,7 %.</p>"
    '<img src="cid:summary" alt="Synthèse">'
    '<img src="cid:units_per_hour__total" alt="Unités par heure"></body></html>\n'
)
SENDER = "Cap <cap@cap.example>"
TO = ["Élodie Durand <elodie@acme.example>", "direction@acme.example"]
CC = ["Durand, Paul <paul@acme.example>"]
BCC = ["consultant@cap.example"]
ENVELOPE = [
    "elodie@acme.example",
    "direction@acme.example",
    "paul@acme.example",
    "consultant@cap.example",
]
NO_SLEEP: Callable[[float], None] = lambda seconds: None  # noqa: E731


@dataclass
class Report:
    """What a BuiltReport hands to delivery: subject, bodies, inline charts and the PDF."""

    inline: list[tuple[str, Path]]
    pdf: Path


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., tuple[Recorder, SmtpSettings]]]:
    """Start a real SMTP server on 127.0.0.1 with a given handler; stopped after the test."""
    controllers: list[Controller] = []

    def start(handler: Recorder | None = None, **kwargs) -> tuple[Recorder, SmtpSettings]:
        handler = handler or Recorder()
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        settings = SmtpSettings(
            host="127.0.0.1", port=port, security="none", sender=SENDER, timeout=5
        )
        return handler, settings

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def report(tmp_path: Path) -> Report:
    """Two inline charts as PNG files and a two-page PDF, as the report build writes them."""
    charts = tmp_path / "reports" / SLUG / PERIOD / "charts"
    charts.mkdir(parents=True)
    inline = []
    for name, values in (("summary", [1, 3, 2]), ("units_per_hour__total", [2, 2, 4])):
        figure = Figure(figsize=(2, 1), dpi=50)
        figure.add_subplot().plot(values)
        png = charts / f"{name}.png"
        figure.savefig(png)
        inline.append((name, png))
    pdf = charts.parent / f"rapport-{SLUG}-{PERIOD}.pdf"
    with PdfPages(pdf, metadata={"CreationDate": None}) as pages:
        for values in ([1, 2], [2, 1]):
            figure = Figure(figsize=(3, 2))
            figure.add_subplot().plot(values)
            pages.savefig(figure)
    return Report(inline, pdf)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The client's warehouse, opened as the pipeline opens it."""
    with open_warehouse(tmp_path / "warehouse" / f"{SLUG}.duckdb") as connection:
        yield connection


def make_message(report: Report, *, subject: str = SUBJECT) -> EmailMessage:
    """The report email, as the report asset builds it."""
    digest = content_hash(
        subject=subject,
        html=HTML,
        text=TEXT,
        inline=report.inline,
        pdf=report.pdf,
        recipients=[*TO, *CC, *BCC],
    )
    return build_message(
        subject=subject,
        html=HTML,
        text=TEXT,
        inline=report.inline,
        pdf=report.pdf,
        sender=SENDER,
        to=TO,
        cc=CC,
        bcc=BCC,
        message_id=make_message_id(SLUG, PERIOD, digest, "cap.example"),
        date=NOW,
    )


def run_deliver(con, message, settings, outbox: Path, **kwargs):
    """`deliver` for the test period, without real sleeps."""
    kwargs.setdefault("sleep", NO_SLEEP)
    return deliver(
        con,
        slug=SLUG,
        period=PERIOD,
        message=message,
        envelope=ENVELOPE,
        settings=settings,
        outbox=outbox,
        now=NOW,
        **kwargs,
    )


def assert_report_email(content: bytes, report: Report, message_id: str) -> None:
    """The structure, headers and bytes of the email as a client's mail program reads it."""
    parsed = email.message_from_bytes(content, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    alternative, attachment = parsed.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, related = alternative.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert plain.get_content().replace("\r\n", "\n") == TEXT
    assert related.get_content_type() == "multipart/related"
    html, *images = related.get_payload()
    assert html.get_content_type() == "text/html"
    assert html.get_content().replace("\r\n", "\n") == HTML
    cids = re.findall(r'src="cid:([^"]+)"', html.get_content())
    assert cids == ["summary", "units_per_hour__total"]
    assert [image["Content-ID"] for image in images] == ["<summary>", "<units_per_hour__total>"]
    for image, (name, png) in zip(images, report.inline, strict=True):
        assert image.get_content_type() == "image/png"
        assert image.get_content_disposition() == "inline"
        assert image.get_filename() == f"{name}.png"
        assert image.get_content() == png.read_bytes()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "rapport-acme-2026-10.pdf"
    assert attachment.get_content() == report.pdf.read_bytes()

    assert parsed["Subject"] == SUBJECT
    assert parsed["From"] == "Cap <cap@cap.example>"
    assert [a.addr_spec for a in parsed["To"].addresses] == [
        "elodie@acme.example",
        "direction@acme.example",
    ]
    assert parsed["To"].addresses[0].display_name == "Élodie Durand"
    assert [(a.display_name, a.addr_spec) for a in parsed["Cc"].addresses] == [
        ("Durand, Paul", "paul@acme.example")
    ]
    assert parsed["Message-ID"] == message_id
    assert parsed["Date"] == "Thu, 26 Nov 2026 02:00:00 +0000"
    assert parsed["Date"].datetime == NOW
    assert "Bcc" not in parsed
    assert b"consultant@cap.example" not in content


def test_sends_the_report_once_with_its_structure_and_records_it(
    smtp_server, report, con, tmp_path
):
    handler, settings = smtp_server()
    message = make_message(report)

    outcome = run_deliver(con, message, settings, tmp_path / "outbox")

    assert (outcome.status, outcome.attempts, outcome.reason) == ("sent", 1, None)
    assert re.fullmatch(r"<cap\.acme\.2026-10\.[0-9a-f]{16}@cap\.example>", outcome.message_id)
    assert len(handler.received) == 1
    mail_from, rcpt_tos, content = handler.received[0]
    assert mail_from == "cap@cap.example"
    assert rcpt_tos == ENVELOPE
    assert_report_email(content, report, outcome.message_id)
    [row] = deliveries(con, PERIOD)
    assert (row.status, row.message_id, row.attempts, row.forced) == (
        "sent",
        outcome.message_id,
        1,
        False,
    )
    assert row.recipients == ENVELOPE
    assert row.sent_at == dt.datetime(2026, 11, 26, 2, 0)
    assert row.last_error is None
    assert not (tmp_path / "outbox").exists()


def test_a_second_delivery_is_skipped_and_force_sends_again(smtp_server, report, con, tmp_path):
    handler, settings = smtp_server()
    message = make_message(report)
    first = run_deliver(con, message, settings, tmp_path)

    again = run_deliver(con, make_message(report), settings, tmp_path)
    assert again.status == "skipped"
    assert again.attempts == 0
    assert again.reason == f"already sent on 2026-11-26 02:00 as {first.message_id}"
    assert len(handler.received) == 1

    forced = run_deliver(con, message, settings, tmp_path, force=True)
    assert (forced.status, forced.message_id) == ("sent", first.message_id)
    assert len(handler.received) == 2
    assert handler.received[1][2] == handler.received[0][2]
    rows = deliveries(con, PERIOD)
    assert [(row.status, row.forced) for row in rows] == [("sent", False), ("sent", True)]


def test_a_changed_report_gets_another_message_id_and_is_still_skipped(
    smtp_server, report, con, tmp_path
):
    handler, settings = smtp_server()
    first = run_deliver(con, make_message(report), settings, tmp_path)

    changed = run_deliver(con, make_message(report, subject="Rapport corrigé"), settings, tmp_path)

    assert changed.status == "skipped"
    assert changed.message_id != first.message_id
    assert changed.reason.endswith("the report has changed since: force to send this version")
    assert len(handler.received) == 1


def test_a_temporary_failure_is_retried_and_the_message_accepted_once(
    smtp_server, report, con, tmp_path
):
    handler, settings = smtp_server(Recorder(replies=["451 4.3.0 Try again later"]))
    waits: list[float] = []

    outcome = run_deliver(con, make_message(report), settings, tmp_path, sleep=waits.append)

    assert (outcome.status, outcome.attempts) == ("sent", 2)
    assert handler.data_calls == 2
    assert len(handler.received) == 1
    assert waits == [1.0]
    [row] = deliveries(con, PERIOD)
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_permanent_failure_is_not_retried_and_a_later_delivery_may_try_again(
    smtp_server, report, con, tmp_path
):
    handler, settings = smtp_server(Recorder(replies=["550 5.1.1 Mailbox unavailable"]))
    waits: list[float] = []

    failed = run_deliver(con, make_message(report), settings, tmp_path, sleep=waits.append)

    assert (failed.status, failed.attempts) == ("failed", 1)
    expected = f"SMTP 127.0.0.1:{settings.port}: message refused: 550 5.1.1 Mailbox unavailable"
    assert failed.reason == expected
    assert waits == []
    assert handler.received == []
    [row] = deliveries(con, PERIOD)
    assert (row.status, row.attempts, row.last_error, row.sent_at) == ("failed", 1, expected, None)

    retried = run_deliver(con, make_message(report), settings, tmp_path)

    assert (retried.status, retried.attempts) == ("sent", 1)
    assert len(handler.received) == 1
    assert [row.status for row in deliveries(con, PERIOD)] == ["failed", "sent"]


def test_server_down_is_retried_with_backoff_then_fails_naming_host_and_port(report, con, tmp_path):
    waits: list[float] = []
    with socket.socket() as bound_not_listening:
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        settings = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=5)

        outcome = run_deliver(con, make_message(report), settings, tmp_path, sleep=waits.append)

    assert (outcome.status, outcome.attempts) == ("failed", 3)
    assert waits == [1.0, 2.0]
    assert outcome.reason.startswith(f"SMTP 127.0.0.1:{port}: could not connect: ")
    assert "Connection refused" in outcome.reason
    [row] = deliveries(con, PERIOD)
    assert (row.status, row.attempts, row.last_error) == ("failed", 3, outcome.reason)


def test_backoff_doubles_from_the_configured_base(report):
    waits: list[float] = []
    with socket.socket() as bound_not_listening:
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        settings = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=5)

        result = send_message(
            make_message(report),
            ENVELOPE,
            settings,
            retries=4,
            backoff_seconds=0.5,
            sleep=waits.append,
        )

    assert (result.status, result.attempts, result.maybe_sent) == ("failed", 4, False)
    assert waits == [0.5, 1.0, 2.0]


def test_a_connection_lost_after_data_is_not_retried_nor_sent_again_without_force(
    smtp_server, report, con, tmp_path
):
    handler, settings = smtp_server(Recorder(drop_connection=True))

    outcome = run_deliver(con, make_message(report), settings, tmp_path)

    assert (outcome.status, outcome.attempts) == ("failed", 1)
    assert "it may have been delivered" in outcome.reason
    assert len(handler.received) == 1
    [row] = deliveries(con, PERIOD)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "connection lost after the message was sent" in row.last_error

    handler.drop_connection = False
    again = run_deliver(con, make_message(report), settings, tmp_path)
    assert (again.status, again.attempts) == ("failed", 0)
    assert again.reason.startswith(f"the attempt of 2026-11-26 02:00 as {outcome.message_id}")
    assert again.reason.endswith("the recipients may have it: check, then force to send again")
    assert len(handler.received) == 1

    forced = run_deliver(con, make_message(report), settings, tmp_path, force=True)
    assert forced.status == "sent"
    assert len(handler.received) == 2


def test_an_interrupted_attempt_blocks_until_forced(smtp_server, report, con, tmp_path):
    handler, settings = smtp_server()
    message = make_message(report)
    # A run killed after recording its attempt and before recording the outcome.
    ensure_ledger(con)
    record_attempt(
        con,
        period=PERIOD,
        message_id=message["Message-ID"],
        content_hash="0" * 64,
        recipients=ENVELOPE,
        now=NOW - dt.timedelta(days=1),
    )

    blocked = run_deliver(con, message, settings, tmp_path)

    assert blocked.status == "failed"
    assert "(interrupted)" in blocked.reason
    assert handler.received == []
    assert run_deliver(con, message, settings, tmp_path, force=True).status == "sent"


def test_refused_recipients_are_noted_and_the_others_receive_it(smtp_server, report, con, tmp_path):
    handler, settings = smtp_server(Recorder(refuse={"paul@acme.example"}))

    outcome = run_deliver(con, make_message(report), settings, tmp_path)

    assert outcome.status == "sent"
    assert handler.received[0][1] == [
        "elodie@acme.example",
        "direction@acme.example",
        "consultant@cap.example",
    ]
    assert outcome.reason.endswith("refused recipients: paul@acme.example (550 5.1.1 No such user)")
    [row] = deliveries(con, PERIOD)
    assert (row.status, row.last_error) == ("sent", outcome.reason)


def test_every_recipient_refused_for_good_is_not_retried(smtp_server, report, tmp_path):
    handler, settings = smtp_server(Recorder(refuse=set(ENVELOPE)))
    waits: list[float] = []

    result = send_message(make_message(report), ENVELOPE, settings, sleep=waits.append)

    assert (result.status, result.attempts, waits) == ("failed", 1, [])
    assert "every recipient refused: elodie@acme.example (550 5.1.1 No such user)" in result.error
    assert handler.data_calls == 0


def test_login_and_a_refused_login(smtp_server, report):
    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data == (b"cap", b"s3cret")
        # handled=False: aiosmtpd then answers a failure with its 535 reply itself.
        return AuthResult(success=ok, handled=False)

    handler, settings = smtp_server(authenticator=authenticator, auth_require_tls=False)
    good = SmtpSettings(**{**vars(settings), "user": "cap", "password": "s3cret"})
    bad = SmtpSettings(**{**vars(settings), "user": "cap", "password": "wrong"})

    refused = send_message(make_message(report), ENVELOPE, bad, sleep=NO_SLEEP)
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert refused.error.startswith(f"SMTP 127.0.0.1:{settings.port}: authentication failed: 535")
    assert "wrong" not in repr(bad)
    assert handler.received == []

    assert send_message(make_message(report), ENVELOPE, good).status == "sent"
    assert len(handler.received) == 1


def test_starttls_required_but_not_offered_fails_without_retrying(smtp_server, report):
    handler, settings = smtp_server()
    tls = SmtpSettings(**{**vars(settings), "security": "starttls"})

    result = send_message(make_message(report), ENVELOPE, tls, sleep=NO_SLEEP)

    assert (result.status, result.attempts) == ("failed", 1)
    assert "STARTTLS extension not supported by server" in result.error
    assert handler.received == []


def test_without_smtp_the_email_is_written_to_the_outbox_once(report, con, tmp_path):
    outbox = tmp_path / "outbox"
    message = make_message(report)

    outcome = run_deliver(con, message, None, outbox)

    assert outcome.status == "written"
    assert outcome.eml == outbox / "acme-2026-10.eml"
    assert sorted(path.name for path in outbox.iterdir()) == ["acme-2026-10.eml"]
    assert_report_email(outcome.eml.read_bytes(), report, outcome.message_id)
    [row] = deliveries(con, PERIOD)
    assert (row.status, row.message_id, row.sent_at) == (
        "written",
        outcome.message_id,
        dt.datetime(2026, 11, 26, 2, 0),
    )

    again = run_deliver(con, make_message(report), None, outbox)
    assert again.status == "skipped"
    expected = f"already written to the outbox on 2026-11-26 02:00 as {outcome.message_id}"
    assert again.reason == expected


def test_the_same_report_gives_the_same_bytes(report):
    first, second = make_message(report), make_message(report)

    assert first.as_bytes() == second.as_bytes()
    assert b"===============" not in first.as_bytes()  # no random stdlib boundary
    assert make_message(report, subject="Autre")["Message-ID"] != first["Message-ID"]


def test_eml_names_cannot_leave_the_outbox(report, tmp_path):
    outbox = tmp_path / "outbox"

    path = write_eml(make_message(report), outbox, "../../etc/pass wd\n")

    assert path.parent == outbox
    assert path.name == "etc-pass-wd.eml"
    assert [p.name for p in outbox.iterdir()] == ["etc-pass-wd.eml"]


def test_addresses_with_line_breaks_are_refused(report):
    with pytest.raises(ValueError, match="control characters"):
        build_message(
            subject=SUBJECT,
            html=HTML,
            text=TEXT,
            inline=report.inline,
            pdf=report.pdf,
            sender=SENDER,
            to=["Boss\nBcc: spy@evil.example <boss@acme.example>"],
            cc=[],
            bcc=[],
            message_id="<x@cap.example>",
            date=NOW,
        )


def test_envelope_recipients_are_bare_and_unique():
    assert envelope_recipients(TO, [*CC, "elodie@acme.example"], BCC) == ENVELOPE


def test_message_id_is_deterministic():
    digest = "ab" * 32
    assert make_message_id("acme", "2026-W47", digest, "cap.example") == (
        "<cap.acme.2026-W47.abababababababab@cap.example>"
    )
    with pytest.raises(ValueError, match="slug"):
        make_message_id("acme>\r\nBcc: x", "2026-10", digest, "cap.example")


def test_smtp_settings_from_env():
    assert smtp_settings_from_env({}) is None
    assert smtp_settings_from_env({"CAP_SMTP_HOST": ""}) is None
    defaults = smtp_settings_from_env({"CAP_SMTP_HOST": "smtp.example"})
    assert defaults == SmtpSettings(
        host="smtp.example",
        port=587,
        security="starttls",
        user=None,
        password=None,
        sender="cap@localhost",
        timeout=30.0,
    )
    ssl_settings = smtp_settings_from_env({"CAP_SMTP_HOST": "h", "CAP_SMTP_SECURITY": "ssl"})
    assert ssl_settings.port == 465
    plain = smtp_settings_from_env({"CAP_SMTP_HOST": "h", "CAP_SMTP_SECURITY": "none"})
    assert plain.port == 25
    full = smtp_settings_from_env(
        {
            "CAP_SMTP_HOST": "h",
            "CAP_SMTP_PORT": "2525",
            "CAP_SMTP_USER": "cap",
            "CAP_SMTP_PASSWORD": "s3cret",
            "CAP_SMTP_FROM": "Cap <reports@cap.example>",
        }
    )
    assert (full.port, full.user, full.password, full.sender) == (
        2525,
        "cap",
        "s3cret",
        "Cap <reports@cap.example>",
    )
    assert "s3cret" not in repr(full)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CAP_SMTP_SECURITY": "tls1"}, "CAP_SMTP_SECURITY='tls1'"),
        ({"CAP_SMTP_PORT": "smtp"}, "CAP_SMTP_PORT='smtp' is not a number"),
        ({"CAP_SMTP_SECURITY": "TLS"}, "CAP_SMTP_SECURITY='TLS' is not one of: starttls, ssl"),
        ({"CAP_SMTP_PORT": "0"}, "CAP_SMTP_PORT='0' must be positive"),
        ({"CAP_SMTP_USER": "cap"}, "CAP_SMTP_PASSWORD is not"),
        ({"CAP_SMTP_FROM": "Cap <cap>"}, "CAP_SMTP_FROM='Cap <cap>' is not an email address"),
    ],
)
def test_smtp_settings_from_env_errors_name_the_variable(env, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        smtp_settings_from_env({"CAP_SMTP_HOST": "h", **env})
