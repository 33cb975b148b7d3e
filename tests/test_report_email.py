"""The report email end to end: two clients with look-alike names and sites, approved with
`cap send`, received by a real SMTP server; exactly once; nothing sent on pending data."""

import contextlib
import datetime as dt
import email
import email.policy
import io
import re
import shutil
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from aiosmtpd.controller import Controller
from pypdf import PdfReader
from smtp_recorder import Recorder, free_port

from pipelines.defs.delivery.sensors import auto_delivery_sensor
from pipelines.defs.resources import CapWorkspace
from pipelines.delivery import ledger
from pipelines.delivery.message import envelope_recipients
from pipelines.delivery.report_email import NotSendable, due_automatically, refusal
from pipelines.demo import write_demo
from pipelines.run import run_clients, send_report
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

AS_OF = dt.date(2026, 11, 26)
DURAND, DURANT = "logistique-durand", "logistique-durant"
SENDER = "Cabinet Conseil <cap@cabinet.example>"
LOOK_ALIKES = {
    "Logistique Durand": "Logistique Durant",
    "Lille-Lesquin": "Lille Lesquin",
    "Hénin-Beaumont": "Hénin Beaumont",
    "Durand <": "Durant <",
    "logistique-durand.example.fr": "logistique-durant.example.fr",
}


def _look_alike_client(workspace: Workspace) -> None:
    """`logistique-durant`: a copy of the demo's Logistique Durand under a near-identical name,
    with its sites' hyphens as spaces, its own recipients and half as many parcels again."""
    source, target = workspace.client_dir(DURAND), workspace.client_dir(DURANT)
    shutil.copytree(source, target)
    config = (target / "client.yaml").read_text(encoding="utf-8")
    for old, new in LOOK_ALIKES.items():
        config = config.replace(old, new)
    (target / "client.yaml").write_text(config.replace("delivery: auto", "delivery: review"))
    for path in (target / "inbox").glob("*.csv"):
        lines = []
        for line in path.read_text(encoding="cp1252").splitlines():
            site, week, code, value, *rest = line.split(";")
            site = LOOK_ALIKES.get(site, site)
            if code == "COLIS_EXP" and value.isdigit():
                value = str(int(value) * 3 // 2)
            lines.append(";".join([site, week, code, value, *rest]))
        path.write_text("\n".join(lines) + "\n", encoding="cp1252")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace with Logistique Durand (review mode here) and its look-alike, both run."""
    home = tmp_path_factory.mktemp("cap")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CAP_HOME", str(home))
        env.setenv("DAGSTER_HOME", str(home / "dagster"))
        workspace = Workspace(home)
        workspace.ensure()
        write_demo(home, AS_OF)
        for slug in ("menuiseries-rhone", "helios-services"):
            shutil.rmtree(workspace.client_dir(slug))
        config = workspace.config_path(DURAND)
        config.write_text(config.read_text(encoding="utf-8").replace("auto", "review"))
        _look_alike_client(workspace)
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            # Two clients at a time, each in a worker process, as `cap run` on two CPUs.
            assert run_clients(workspace, workers=2) == 0, output.getvalue()
        text = output.getvalue()
        assert "waiting for approval: cap send --client logistique-durant" in text
        # Each worker's progress lines come back as one block under its client's line.
        for slug in (DURAND, DURANT):
            block = re.search(rf"\[\d/2\] {slug}\n((?:    .*\n)+)", text)
            assert block is not None, text
            assert "    ok     report (" in block.group(1)
        yield home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[Recorder]:
    """A real SMTP server on 127.0.0.1, which the mail variables point at."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CAP_SMTP_HOST", "127.0.0.1")
        env.setenv("CAP_SMTP_PORT", str(port))
        env.setenv("CAP_SMTP_SECURITY", "none")
        env.setenv("CAP_SMTP_FROM", SENDER)
        yield recorder
    controller.stop()


def _send(home: Path, slug: str, resend: bool = False) -> tuple[int, str]:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = send_report(Workspace(home), slug, None, resend)
    return code, output.getvalue()


def _received(recorder: Recorder) -> list[tuple[list[str], EmailMessage]]:
    return [
        (rcpt, email.message_from_bytes(content, policy=email.policy.default))
        for _sender, rcpt, content in recorder.received
    ]


def _pdf_text(message: EmailMessage) -> str:
    (attachment,) = list(message.iter_attachments())
    reader = PdfReader(io.BytesIO(attachment.get_content()))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def _all_text(message: EmailMessage) -> str:
    """Headers and every text part, decoded: what a reader sees besides the PDF and charts."""
    parts = [f"{key}: {value}" for key, value in message.items()]
    parts += [
        part.get_content() for part in message.walk() if part.get_content_maintype() == "text"
    ]
    return "\n".join(parts)


def test_the_auto_sensor_requests_a_send_only_when_due(home: Path) -> None:
    """After a client's successful run: a review client waits; an auto client whose report
    has not gone out gets a delivery run, tagged as automatic, for its latest period."""
    instance = dg.DagsterInstance.get()

    def evaluate(slug: str) -> dg.RunRequest | dg.SkipReason:
        (run,) = instance.get_runs(
            filters=dg.RunsFilter(
                job_name="client_pipeline",
                tags={"dagster/partition": slug},
                statuses=[dg.DagsterRunStatus.SUCCESS],
            ),
            limit=1,
        )
        records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
        context = dg.build_run_status_sensor_context(
            sensor_name="auto_delivery_sensor",
            dagster_event=records.records[0].event_log_entry.dagster_event,
            dagster_instance=instance,
            dagster_run=run,
            resources={"cap": CapWorkspace(home=str(home))},
        )
        return auto_delivery_sensor(context)

    skipped = evaluate(DURANT)
    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message == (
        "logistique-durant: delivery mode is review: the report waits for the consultant's approval"
    )
    config = Workspace(home).config_path(DURAND)
    review = config.read_text(encoding="utf-8")
    config.write_text(review.replace("delivery: review", "delivery: auto"), encoding="utf-8")
    try:
        request = evaluate(DURAND)
    finally:
        config.write_text(review, encoding="utf-8")
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == DURAND
    assert request.tags == {"cap/approval": "auto"}
    assert request.run_config == {"ops": {"report_email": {"config": {"period": "2026-W47"}}}}


def test_each_client_receives_only_its_own_report(home: Path, server: Recorder) -> None:
    workspace = Workspace(home)
    for slug in (DURAND, DURANT):
        code, said = _send(home, slug)
        assert code == 0, said
        assert said.startswith(f"{slug}: sent (2026-W47, ")
    received = _received(server)
    assert len(received) == 2
    for (rcpt, message), slug, other in (
        (received[0], DURAND, DURANT),
        (received[1], DURANT, DURAND),
    ):
        config = workspace.load_config(slug)
        chosen = config.report.recipients
        assert rcpt == envelope_recipients(chosen.to, chosen.cc, chosen.bcc)
        assert all(address.endswith(f"@{slug}.example.fr") for address in rcpt)
        assert message["From"] == SENDER
        assert message["To"] == ", ".join(chosen.to)
        assert message["Subject"].startswith(f"{config.name} – ")
        assert re.fullmatch(
            rf"<cap\.{slug}\.2026-W47\.[0-9a-f]{{16}}@cabinet\.example>", message["Message-ID"]
        )
        assert email.utils.parsedate_to_datetime(message["Date"]).tzinfo is not None
        text = _all_text(message)
        pdf = _pdf_text(message)
        own_name, other_name = config.name, workspace.load_config(other).name
        assert own_name in text and own_name in pdf
        assert other_name not in text and other_name not in pdf
        own_sites = [site.name for site in config.sites if not site.control]
        assert all(site in pdf for site in own_sites)
        other_sites = {"Lille-Lesquin", "Lille Lesquin"} - set(own_sites)
        assert not any(site in pdf or site in text for site in other_sites)
        # multipart/mixed: (alternative: text, related: html + inline charts), the PDF
        assert message.get_content_type() == "multipart/mixed"
        body, attachment = message.get_payload()
        assert body.get_content_type() == "multipart/alternative"
        plain, related = body.get_payload()
        assert plain.get_content_type() == "text/plain"
        html, *images = related.get_payload()
        assert html.get_content_type() == "text/html"
        cids = re.findall(r'src="cid:([^"]+)"', html.get_content())
        assert [image["Content-ID"] for image in images] == [f"<{cid}>" for cid in cids]
        assert len(images) >= 2 and all(i.get_content_type() == "image/png" for i in images)
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_filename() == f"rapport-{slug}-2026-W47.pdf"
    # The two clients' numbers differ (half as many parcels again): no figure was shared.
    assert _pdf_text(received[0][1]) != _pdf_text(received[1][1])


def test_a_report_goes_out_once_unless_resent(home: Path, server: Recorder) -> None:
    before = len(server.received)
    if before == 0:
        assert _send(home, DURAND)[0] == 0
        before = 1
    code, said = _send(home, DURAND)
    assert code == 1
    assert "logistique-durand 2026-W47: not sent: already sent on " in said
    assert len(server.received) == before
    code, said = _send(home, DURAND, resend=True)
    assert code == 0, said
    assert len(server.received) == before + 1
    # The same report again: the same Message-ID, and the ledger says it was forced.
    ids = {
        email.message_from_bytes(c)["Message-ID"] for _s, r, c in server.received if DURAND in r[0]
    }
    assert len(ids) == 1
    with open_warehouse(Workspace(home).warehouse(DURAND), read_only=True) as con:
        rows = ledger.deliveries(con, "2026-W47")
    assert [row.status for row in rows] == ["sent"] * len(rows)
    assert rows[-1].forced and not rows[0].forced
    assert rows[-1].recipients == rows[0].recipients


def test_nothing_is_sent_while_a_delivery_waits_for_its_correction(
    home: Path, server: Recorder
) -> None:
    workspace = Workspace(home)
    bad = workspace.client_dir(DURANT) / "inbox" / "Export_KPI_2026 corrigé.csv"
    bad.write_text(
        "Site;Semaine;Indicateur;Valeur;Unité\nLille Lesquin;2026-S40;COLIS_EXP;-250;colis\n",
        encoding="cp1252",
    )
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert run_clients(workspace, DURANT) == 1
    assert "quarantined: Export_KPI_2026 corrigé.csv" in output.getvalue()
    before = len(server.received)
    code, said = _send(home, DURANT, resend=True)
    assert code == 1
    assert "not sent: a delivery failed a blocking check and waits for its correction" in said
    assert "Export_KPI_2026 corrigé.csv" in said
    assert len(server.received) == before


def test_the_gate_says_why_a_report_may_not_go_out(home: Path, tmp_path: Path) -> None:
    """On a copy of a warehouse: no new data since the last email, review mode, late data."""
    workspace = Workspace(home)
    copy = tmp_path / "copy.duckdb"
    shutil.copy(workspace.warehouse(DURAND), copy)
    config = workspace.load_config(DURAND)
    today = AS_OF
    with duckdb.connect(str(copy)) as con:
        ledger.ensure_ledger(con)
        con.execute("delete from deliveries")
        assert refusal(con, config, "2026-W47", automatic=False, today=today) is None
        last_loaded = con.execute("select max(received_at) from files where status = 'loaded'")
        (loaded_at,) = last_loaded.fetchone()
        attempt = ledger.record_attempt(
            con,
            period="2026-W46",
            message_id="<cap.x.2026-W46.0123456789abcdef@cabinet.example>",
            content_hash="0" * 64,
            recipients=["a@b.example"],
            now=loaded_at + dt.timedelta(hours=1),
        )
        ledger.mark_sent(con, attempt, attempts=1, now=loaded_at + dt.timedelta(hours=1))
        reason = refusal(con, config, "2026-W47", automatic=False, today=today)
        assert reason is not None and reason.startswith("no new data since the report of 2026-W46")
        assert refusal(con, config, "2026-W47", automatic=False, today=today, resend=True) is None
        # A file loaded after that email: new data, the next report may go out.
        con.execute(
            "update files set received_at = ? where received_at = ?",
            [loaded_at + dt.timedelta(hours=2), loaded_at],
        )
        assert refusal(con, config, "2026-W47", automatic=False, today=today) is None
        review = refusal(con, config, "2026-W47", automatic=True, today=today)
        assert review == "delivery mode is review: the report waits for the consultant's approval"
        auto = config.model_copy(
            update={"report": config.report.model_copy(update={"delivery": "auto"})}
        )
        assert refusal(con, auto, "2026-W47", automatic=True, today=today) is None
        late = refusal(con, auto, "2026-W47", automatic=True, today=today + dt.timedelta(days=60))
        assert late is not None and late.startswith("the data is late (latest period 2026-11-16")
        with pytest.raises(NotSendable, match="the data is late"):
            due_automatically(con, workspace, auto, DURAND, today + dt.timedelta(days=60))
        assert due_automatically(con, workspace, auto, DURAND, today) == "2026-W47"


def test_an_auto_client_is_sent_after_its_run_once(tmp_path: Path) -> None:
    """The demo's weekly client is in auto mode: its run writes the email to the outbox (no SMTP
    server), and the next run with nothing new does not write it again."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CAP_HOME", str(tmp_path))
        env.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
        env.setenv("CAP_SMTP_HOST", "")  # whatever another test set: no SMTP server
        workspace = Workspace(tmp_path)
        workspace.ensure()
        write_demo(tmp_path, AS_OF)
        for slug in ("menuiseries-rhone", "helios-services"):
            shutil.rmtree(workspace.client_dir(slug))
        outputs = []
        for _night in range(2):
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                assert run_clients(workspace) == 0, output.getvalue()
            outputs.append(output.getvalue())
    outbox = sorted(path.name for path in workspace.outbox.glob("*.eml"))
    assert outbox == ["logistique-durand-2026-W47.eml"]
    assert f"written to the outbox (2026-W47, 2 recipients): {workspace.outbox}" in outputs[0]
    assert "2026-W47 already written to the outbox on " in outputs[1]
    message = email.message_from_bytes(
        (workspace.outbox / outbox[0]).read_bytes(), policy=email.policy.default
    )
    assert message["To"].addresses[0].addr_spec == "marc.durand@logistique-durand.example.fr"
    assert (workspace.reports(DURAND) / "2026-W47" / "email.eml").read_bytes() == (
        workspace.outbox / outbox[0]
    ).read_bytes()
