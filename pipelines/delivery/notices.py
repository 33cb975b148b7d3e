"""Notices to the consultant (a failed run, the morning digest): short plain-text emails, sent
over SMTP or written to the outbox.

A notice is never lost: without an SMTP server, without a consultant address (it then has no
To), or when the server cannot be reached, it is written to the outbox instead, with a warning.
Nothing here knows Dagster: the sensor and the digest asset hand in plain values.
"""

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import policy
from email.errors import HeaderParseError
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Literal, Protocol

from pipelines.delivery.message import envelope_recipients, parse_address
from pipelines.delivery.smtp import DEFAULT_SENDER, SmtpSettings, send_message, write_eml
from pipelines.safe_text import one_line

logger = logging.getLogger(__name__)

DAGSTER_UI_URL = "http://127.0.0.1:3000"
"""Where `make ui` serves the Dagster UI; links in notices point there."""
SUBJECT_PREFIX = "[Cap]"
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
_SUBJECT_ERROR_CHARS = 90


class ErrorInfo(Protocol):
    """An error as Dagster stores it (`SerializableErrorInfo`): a message (`Cls: text`), the
    class name, and the error it was raised from (`cause`) or while handling (`context`)."""

    @property
    def message(self) -> str:
        """`Cls: text`, as Python prints the error."""

    @property
    def cls_name(self) -> str | None:
        """The error's class name."""

    @property
    def cause(self) -> "ErrorInfo | None":
        """The error it was raised from (`raise ... from`)."""

    @property
    def context(self) -> "ErrorInfo | None":
        """The error being handled when it was raised."""


@dataclass(frozen=True)
class FailedStep:
    """A failed step of a run, and its error chain, outermost first (without Dagster's
    wrappers)."""

    step_key: str
    errors: tuple[str, ...]

    @property
    def error(self) -> str:
        """The innermost cause: where it went wrong first."""
        return self.errors[-1] if self.errors else "no error recorded"


@dataclass(frozen=True)
class RunFailure:
    """What the consultant needs to know about a failed run."""

    run_id: str
    job_name: str
    client: str | None
    """The client's slug (the run's partition), None for a run that is not a client's."""
    client_name: str | None
    steps: tuple[FailedStep, ...]
    run_errors: tuple[str, ...] = ()
    """The run's own error chain, for a run that failed outside any step."""
    failed_at: dt.datetime | None = None


@dataclass(frozen=True)
class NoticeOutcome:
    """Where a notice went: 'sent' to the server, or 'written' to the outbox (`eml`), with the
    reason when it was meant to be sent."""

    status: Literal["sent", "written"]
    eml: Path | None
    reason: str | None = None


def error_chain(error: ErrorInfo | None) -> tuple[str, ...]:
    """The messages of `error` and of the errors it came from, outermost first, without
    Dagster's wrappers ("Error occurred while executing op ...") that only point further in."""
    chain: list[str] = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        inner = error.cause or error.context
        wrapper = (error.cls_name or "").startswith("Dagster") and inner is not None
        text = error.message.strip()
        if text and not wrapper:
            chain.append(text)
        error = inner
    return tuple(chain)


def failure_notice(failure: RunFailure, ui_url: str = DAGSTER_UI_URL) -> tuple[str, str]:
    """The subject and plain-text body of the email telling the consultant a run failed: the
    client, each failed step with its innermost error (and what it was raised as), the run's
    link."""
    who = failure.client or f"job {failure.job_name}"
    first = failure.steps[0] if failure.steps else None
    error = first.error if first else (failure.run_errors[-1] if failure.run_errors else "")
    where = f" at {first.step_key}" if first else ""
    subject = f"{SUBJECT_PREFIX} Run failed for {who}{where}"
    if error:
        subject += f": {one_line(error, _SUBJECT_ERROR_CHARS)}"
    link = f"{ui_url.rstrip('/')}/runs/{failure.run_id}"
    client = "none (not a client's run)"
    if failure.client:
        client = failure.client
        if failure.client_name and failure.client_name != failure.client:
            client = f"{failure.client_name} ({failure.client})"
    lines = [
        "A run failed and needs you.",
        "",
        f"Client:  {client}",
        f"Job:     {failure.job_name}",
        f"Run:     {failure.run_id}",
        f"Link:    {link}",
    ]
    if failure.failed_at is not None:
        lines.append(f"Failed:  {failure.failed_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC")
    for step in failure.steps:
        lines += ["", f"Failed step: {step.step_key}", *_error_lines(step.errors)]
    if not failure.steps:
        lines += ["", "No step failed: the run itself did.", *_error_lines(failure.run_errors)]
    lines += ["", "The full stack trace is in the run's logs (link above)."]
    if failure.client:
        lines.append("Other clients are not affected: each client runs on its own.")
    return subject, "\n".join(lines) + "\n"


def _error_lines(errors: Sequence[str]) -> list[str]:
    if not errors:
        return ["Error: none recorded"]
    lines = [f"Error: {_indent(errors[-1])}"]
    lines += [f"  raised as: {_indent(outer)}" for outer in reversed(errors[:-1])]
    return lines


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")


def notice_message_id(kind: str, key: str, sender: str) -> str:
    """`<cap.{kind}.{key}@{sender's domain}>`: the same notice (same run, same day) has the
    same Message-ID, so a mail client shows a notice sent twice once."""
    safe = _ID_UNSAFE.sub("-", f"{kind}.{key}").strip(".-") or "notice"
    domain = _ID_UNSAFE.sub("-", parse_address(sender).domain).strip(".-") or "localhost"
    return f"<cap.{safe}@{domain}>"


def recipients_of(text: str) -> list[str]:
    """The notice's recipients from the consultant's address (`CAP_CONSULTANT_EMAIL`, a bare
    address or `Name <address>`): [] when it is empty; raises ValueError when it is not an
    address."""
    if not text.strip():
        return []
    try:
        address = parse_address(text)
    except (ValueError, HeaderParseError) as exc:
        raise ValueError(f"CAP_CONSULTANT_EMAIL={text!r} is not an email address: {exc}") from None
    if not address.username or not address.domain:
        raise ValueError(f"CAP_CONSULTANT_EMAIL={text!r} is not an email address")
    return [text.strip()]


def build_notice(
    *,
    subject: str,
    text: str,
    sender: str,
    to: list[str],
    date: dt.datetime,
    message_id: str,
) -> EmailMessage:
    """A plain-text notice. Without `to` it has no To header (it goes to the outbox only)."""
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = subject
    message["From"] = parse_address(sender)
    if to:
        message["To"] = [parse_address(address) for address in to]
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    # RFC 3834: no out-of-office reply to a machine.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, cte="quoted-printable")
    return message


def deliver_notice(
    message: EmailMessage,
    *,
    to: list[str],
    settings: SmtpSettings | None,
    outbox: Path,
    name: str,
    retries: int = 2,
    backoff_seconds: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> NoticeOutcome:
    """Send the notice to `to` over SMTP; write it to `outbox/<name>.eml` instead when no server
    is configured, when there is no recipient, or when sending failed (with a warning)."""
    if settings is None:
        path = write_eml(message, outbox, name)
        logger.info("no SMTP server configured: notice written to %s", path)
        return NoticeOutcome("written", path)
    if not to:
        path = write_eml(message, outbox, name)
        reason = "no consultant address (CAP_CONSULTANT_EMAIL is empty)"
        logger.warning("%s: notice written to %s instead of being sent", reason, path)
        return NoticeOutcome("written", path, reason)
    envelope = envelope_recipients(to, (), ())
    result = send_message(
        message, envelope, settings, retries=retries, backoff_seconds=backoff_seconds, sleep=sleep
    )
    if result.status == "sent":
        return NoticeOutcome("sent", None, result.error)
    path = write_eml(message, outbox, name)
    logger.warning("notice not sent (%s): written to %s", result.error, path)
    return NoticeOutcome("written", path, f"not sent: {result.error}")


def usable_settings(read: Callable[[], SmtpSettings | None]) -> SmtpSettings | None:
    """The SMTP settings `read` returns (the mailer's), or None (the outbox) when they are
    invalid, with an error logged: a notice about a problem must not fail on another one."""
    try:
        return read()
    except ValueError as exc:
        logger.error("SMTP settings invalid (%s): the notice goes to the outbox", exc)
        return None


def send_notice(
    *,
    subject: str,
    text: str,
    kind: str,
    key: str,
    consultant: str,
    settings: SmtpSettings | None,
    outbox: Path,
    now: dt.datetime,
    retries: int = 2,
    sleep: Callable[[float], None] = time.sleep,
) -> NoticeOutcome:
    """Build the notice (`kind`, `key`: what its Message-ID and outbox file are named after) and
    deliver it to the consultant; an invalid consultant address sends it to the outbox."""
    try:
        to = recipients_of(consultant)
    except ValueError as exc:
        logger.warning("%s; the notice goes to the outbox", exc)
        to = []
    sender = settings.sender if settings is not None else DEFAULT_SENDER
    message = build_notice(
        subject=subject,
        text=text,
        sender=sender,
        to=to,
        date=now,
        message_id=notice_message_id(kind, key, sender),
    )
    return deliver_notice(
        message,
        to=to,
        settings=settings,
        outbox=outbox,
        name=f"{kind}-{key}",
        retries=retries,
        sleep=sleep,
    )
