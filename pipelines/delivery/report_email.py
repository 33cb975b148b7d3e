"""A client's report email for one period: read from the report folder, checked against what
may go out (the approval gate), then delivered exactly once through the ledger.

The report stage writes everything the email needs into `reports/<slug>/<period>/` (`email.json`
names the subject, the inline charts and the PDF); sending reads only that folder, the client's
configuration (recipients) and the client's warehouse (ledger, deliveries), so a message for one
client can hold nothing of another.
"""

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.config.model import ClientConfig
from pipelines.delivery import ledger
from pipelines.delivery.message import (
    build_message,
    content_hash,
    envelope_recipients,
    make_message_id,
    parse_address,
)
from pipelines.delivery.smtp import (
    DEFAULT_SENDER,
    DeliveryOutcome,
    SmtpSettings,
    deliver,
    write_eml,
)
from pipelines.quality.deliveries import lateness
from pipelines.sql import execute_sql
from pipelines.workspace import Workspace

logger = logging.getLogger(__name__)

APPROVAL_TAG = "cap/approval"
"""Run tag of a delivery the nightly run started by itself: `auto` (sent only to a client in
auto mode). The consultant's approval is never a tag alone: it names a period."""
AUTO = "auto"
TRIGGER_TAG = "cap/trigger"
CAP_SEND = "cap send"
"""`cap send` tags its runs `cap/trigger: cap send` and puts the period it approves (resolved
before launching) in the run's config: the consultant's approval of that period."""
PARENT_RUN_TAG = "dagster/parent_run_id"
"""Set on a re-execution (a retry) of a run."""
NOT_APPROVED = (
    "not approved: a report is emailed only when the consultant approves it (`cap send "
    "--client {slug}`, or the report_delivery job launched with `approve: true` and the period "
    "in its config) or, for a client in auto mode, by the nightly run"
)
MANIFEST = "email.json"
SENT_COPY = "email"
"""`email.eml` in the report folder: the message as it went out."""


class NotSendable(Exception):
    """The report email may not go out now; the message says why and what to do."""


@dataclass(frozen=True)
class ReportEmail:
    """What the report stage wrote for a period's email."""

    slug: str
    period: str
    folder: Path
    subject: str
    html: str
    text: str
    inline: list[tuple[str, Path]]
    pdf: Path


def approved_by(tags: Mapping[str, str], approve: bool, period: str) -> str | None:
    """Who approved a delivery run (`auto (nightly run)`, `consultant`), from its tags and its
    config; None when nobody did: a "materialize all" or a backfill over every asset must not
    email a report waiting for the consultant's review. The consultant approves a period, never
    "the latest": `approve` or `cap send`'s tag count only with the period named, so a later
    re-execution cannot send a period built since."""
    if tags.get(APPROVAL_TAG) == AUTO:
        return "auto (nightly run)"
    if period and (approve or tags.get(TRIGGER_TAG) == CAP_SEND):
        return "consultant"
    return None


def report_periods(workspace: Workspace, slug: str) -> list[str]:
    """The periods whose report (with its email) is built, oldest first."""
    folder = workspace.reports(slug)
    if not folder.is_dir():
        return []
    return sorted(path.parent.name for path in folder.glob(f"*/{MANIFEST}"))


def built_period(workspace: Workspace, slug: str, period: str | None) -> str:
    """`period` when its report is built, or the latest built for None. Raises NotSendable when
    that report is not built, naming the periods that are."""
    periods = report_periods(workspace, slug)
    if period is None:
        if not periods:
            raise NotSendable("no report is built yet; materialize `report` first")
        return periods[-1]
    if period not in periods:
        built = ", ".join(periods) or "none"
        raise NotSendable(f"no report built for period {period!r} (built: {built})")
    return period


def load_report_email(workspace: Workspace, slug: str, period: str | None) -> ReportEmail:
    """The email of the report of `period` (None: the latest built). Raises NotSendable when
    that report is not built, naming the periods that are."""
    period = built_period(workspace, slug, period)
    folder = workspace.reports(slug) / period
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return ReportEmail(
        slug=slug,
        period=period,
        folder=folder,
        subject=manifest["subject"],
        html=(folder / "email.html").read_text(encoding="utf-8"),
        text=(folder / "email.txt").read_text(encoding="utf-8"),
        inline=[(name, folder / "charts" / f"{name}.png") for name in manifest["inline"]],
        pdf=folder / Path(manifest["pdf"]).name,
    )


def refusal(
    con: duckdb.DuckDBPyConnection,
    config: ClientConfig,
    period: str,
    *,
    automatic: bool,
    today: dt.date,
    resend: bool = False,
) -> str | None:
    """Why the report email of `period` may not go out now, or None when it may.

    Never: while a delivery quarantined by a blocking check waits for its correction (the report
    says the data is pending). Not without `resend`: when no file was loaded since the last
    email went out for another period (no empty or duplicate report). The ledger decides for the
    period itself (already sent). `automatic` (delivery mode auto, after the nightly run) also
    needs the client in auto mode and its data fresh.
    """
    ((last_loaded_at, pending),) = execute_sql(con, "select_delivery_readiness").fetchall()
    if pending:
        return (
            f"a delivery failed a blocking check and waits for its correction "
            f"({', '.join(pending)}): the figures are not final, nothing is sent"
        )
    if automatic:
        if config.report.delivery != "auto":
            return "delivery mode is review: the report waits for the consultant's approval"
        latest, days, allowed = lateness(con, config, today)
        if latest is not None and days > allowed:
            return (
                f"the data is late (latest period {latest:%Y-%m-%d}, {days} days after it "
                f"ended, {allowed} allowed): auto mode sends fresh data only"
            )
    last = ledger.latest_sent(con)
    if (
        not resend
        and last is not None
        and last.period != period
        and (last_loaded_at is None or last_loaded_at <= (last.sent_at or last.created_at))
    ):
        when = last.sent_at or last.created_at
        return (
            f"no new data since the report of {last.period} went out on {when:%Y-%m-%d %H:%M}"
            f" (UTC): nothing new to send"
        )
    return None


def due_automatically(
    con: duckdb.DuckDBPyConnection,
    workspace: Workspace,
    config: ClientConfig,
    slug: str,
    today: dt.date,
) -> str:
    """The period whose report a nightly run may send by itself (auto mode, fresh data, new
    since the last email, not sent yet); raises NotSendable saying why not."""
    if config.report.delivery != "auto":
        raise NotSendable("delivery mode is review: the report waits for the consultant's approval")
    periods = report_periods(workspace, slug)
    if not periods:
        raise NotSendable("no report is built yet")
    period = periods[-1]
    reason = refusal(con, config, period, automatic=True, today=today)
    if reason is None and ledger.already_sent(con, period) is not None:
        reason = f"the report of {period} already went out"
    if reason is not None:
        raise NotSendable(reason)
    return period


def recipients(config: ClientConfig) -> tuple[list[str], list[str], list[str]]:
    """The client's (to, cc, bcc) from `client.yaml`; raises NotSendable when there is none."""
    chosen = config.report.recipients
    to, cc, bcc = list(chosen.to), list(chosen.cc), list(chosen.bcc)
    if not (to or cc or bcc):
        raise NotSendable("client.yaml has no recipient under report.recipients (to, cc, bcc)")
    return to, cc, bcc


def send_report_email(
    con: duckdb.DuckDBPyConnection,
    workspace: Workspace,
    config: ClientConfig,
    email: ReportEmail,
    *,
    settings: SmtpSettings | None,
    now: dt.datetime,
    resend: bool = False,
    retries: int = 3,
    backoff_seconds: float = 1.0,
) -> DeliveryOutcome:
    """Build the message of `email` for the client's recipients and deliver it exactly once
    (SMTP, or the outbox without `settings`); `resend` sends again a period already sent, and
    the ledger records it. The message as delivered is kept as `email.eml` in the report folder.
    """
    to, cc, bcc = recipients(config)
    sender = settings.sender if settings is not None else DEFAULT_SENDER
    envelope = envelope_recipients(to, cc, bcc)
    digest = content_hash(
        subject=email.subject,
        html=email.html,
        text=email.text,
        inline=email.inline,
        pdf=email.pdf,
        recipients=[*to, *cc, *bcc],
    )
    domain = parse_address(sender).domain or "localhost"
    message = build_message(
        subject=email.subject,
        html=email.html,
        text=email.text,
        inline=email.inline,
        pdf=email.pdf,
        sender=sender,
        to=to,
        cc=cc,
        bcc=bcc,
        message_id=make_message_id(email.slug, email.period, digest, domain),
        date=now,
    )
    outcome = deliver(
        con,
        slug=email.slug,
        period=email.period,
        message=message,
        envelope=envelope,
        settings=settings,
        outbox=workspace.outbox,
        now=now,
        force=resend,
        retries=retries,
        backoff_seconds=backoff_seconds,
        content_hash=digest,
    )
    if outcome.status in ("sent", "written"):
        write_eml(message, email.folder, SENT_COPY)
        logger.info(
            "%s %s: %s to %d recipients as %s",
            email.slug,
            email.period,
            outcome.status,
            len(envelope),
            outcome.message_id,
        )
    return outcome
