"""Sending the report email over SMTP, or writing it to the outbox when no server is
configured, behind the exactly-once gate of the delivery ledger.

Transient failures (no connection, a dropped connection, 4xx replies) are retried with
exponential backoff; permanent ones (5xx, authentication, TLS) are not. Once the message has
been handed to the server (DATA), a lost connection is not retried either: the server may have
accepted it, and an email the server accepted is never sent twice.
"""

import datetime as dt
import hashlib
import logging
import os
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

import duckdb

from pipelines.delivery import ledger
from pipelines.delivery.message import parse_address

logger = logging.getLogger(__name__)

Security = Literal["none", "starttls", "ssl"]
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_SENDER = "cap@localhost"
DEFAULT_TIMEOUT_SECONDS = 30.0
MAIL_ENV_VARS = (
    "CAP_SMTP_HOST",
    "CAP_SMTP_PORT",
    "CAP_SMTP_SECURITY",
    "CAP_SMTP_USER",
    "CAP_SMTP_PASSWORD",
    "CAP_SMTP_FROM",
    "CAP_CONSULTANT_EMAIL",
)
"""The environment variables of email delivery; an empty one means not configured (the Dagster
resource reads each through `dg.EnvVar`, which needs it set, if only to empty)."""
_FILE_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the SMTP server, and the From address of the emails."""

    host: str
    port: int
    security: Security = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = DEFAULT_SENDER
    timeout: float = DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True)
class SendResult:
    """The outcome of sending one message: 'sent' (with `error` naming any recipient the server
    refused) or 'failed'. `maybe_sent` marks a failure after the message was handed to the
    server, whose answer never came."""

    status: Literal["sent", "failed"]
    attempts: int
    error: str | None
    maybe_sent: bool = False


@dataclass(frozen=True)
class DeliveryOutcome:
    """What `deliver` did for a period, and why."""

    status: Literal["sent", "written", "skipped", "failed"]
    message_id: str
    attempts: int
    reason: str | None
    eml: Path | None = None


def smtp_settings_from_env(env: Mapping[str, str]) -> SmtpSettings | None:
    """SMTP settings from `CAP_SMTP_*` variables, or None when `CAP_SMTP_HOST` is unset (emails
    then go to the outbox). Raises ValueError naming the variable when a value is invalid."""
    host = env.get("CAP_SMTP_HOST", "").strip()
    if not host:
        return None
    given = env.get("CAP_SMTP_SECURITY", "").strip()
    security = given.lower() or "starttls"
    if security not in DEFAULT_PORTS:
        raise ValueError(f"CAP_SMTP_SECURITY={given!r} is not one of: {', '.join(DEFAULT_PORTS)}")
    user = env.get("CAP_SMTP_USER") or None
    password = env.get("CAP_SMTP_PASSWORD") or None
    if user and password is None:
        raise ValueError("CAP_SMTP_USER is set but CAP_SMTP_PASSWORD is not")
    port = _env_number(env, "CAP_SMTP_PORT", int)
    if port is not None and port > 65535:
        raise ValueError(f"CAP_SMTP_PORT={port} is not a TCP port (1-65535)")
    timeout = _env_number(env, "CAP_SMTP_TIMEOUT", float)
    sender = env.get("CAP_SMTP_FROM", "").strip() or DEFAULT_SENDER
    try:
        parse_address(sender)
    except ValueError as exc:
        raise ValueError(f"CAP_SMTP_FROM={sender!r} is not an email address: {exc}") from None
    return SmtpSettings(
        host=host,
        port=int(port) if port is not None else DEFAULT_PORTS[security],
        security=security,  # type: ignore[arg-type]  # checked against DEFAULT_PORTS above
        user=user,
        password=password,
        sender=sender,
        timeout=timeout if timeout is not None else DEFAULT_TIMEOUT_SECONDS,
    )


def _env_number(env: Mapping[str, str], name: str, parse: Callable[[str], float]) -> float | None:
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        value = parse(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"{name}={text!r} must be positive")
    return value


class _DataTracking:
    """Notes when the message starts going to the server: a connection lost from then on may
    have delivered it."""

    data_started = False

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        """Send the message (the DATA command), noting that it started."""
        self.data_started = True
        return super().data(msg)  # type: ignore[misc]


class _SMTP(_DataTracking, smtplib.SMTP):
    """`smtplib.SMTP` that notes when DATA starts."""


class _SMTPSSL(_DataTracking, smtplib.SMTP_SSL):
    """`smtplib.SMTP_SSL` that notes when DATA starts."""


@dataclass(frozen=True)
class _Try:
    kind: Literal["sent", "transient", "permanent", "unknown"]
    error: str | None


def send_message(
    message: EmailMessage,
    envelope_recipients: list[str],
    settings: SmtpSettings,
    *,
    retries: int = 3,
    backoff_seconds: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> SendResult:
    """Send `message` to the envelope recipients (bcc included) in at most `retries` attempts,
    waiting `backoff_seconds * 2**n` after the n-th (from 0) transient failure."""
    if retries < 1:
        raise ValueError(f"retries must be at least 1, got {retries}")
    if not envelope_recipients:
        raise ValueError("no envelope recipient to send the message to")
    for attempt in range(retries):
        outcome = _send_once(message, envelope_recipients, settings)
        if outcome.kind == "sent":
            where = f"{settings.host}:{settings.port}"
            logger.info("%s sent through %s", message["Message-ID"], where)
            return SendResult("sent", attempt + 1, outcome.error)
        if outcome.kind != "transient" or attempt + 1 == retries:
            logger.warning("%s not sent: %s", message["Message-ID"], outcome.error)
            return SendResult("failed", attempt + 1, outcome.error, outcome.kind == "unknown")
        delay = backoff_seconds * 2**attempt
        logger.warning(
            "%s (attempt %d of %d), retrying in %.1f s", outcome.error, attempt + 1, retries, delay
        )
        sleep(delay)
    raise AssertionError("unreachable: the last attempt returns")


def _send_once(message: EmailMessage, recipients: list[str], settings: SmtpSettings) -> _Try:
    try:
        smtp = _open(settings)
    except (smtplib.SMTPException, OSError) as exc:
        return _failure(exc, settings, stage="connect")
    try:
        refused = smtp.send_message(
            message, from_addr=_envelope_sender(settings), to_addrs=recipients
        )
    except (smtplib.SMTPException, OSError) as exc:
        return _failure(exc, settings, stage="data" if smtp.data_started else "envelope")
    finally:
        _quit(smtp)
    return _Try("sent", _refused_note(refused, settings) if refused else None)


def _open(settings: SmtpSettings) -> _SMTP | _SMTPSSL:
    """A connection, secured and logged in as configured."""
    smtp: _SMTP | _SMTPSSL
    if settings.security == "ssl":
        context = ssl.create_default_context()
        smtp = _SMTPSSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    else:
        smtp = _SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        if settings.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.user:
            smtp.login(settings.user, settings.password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def _quit(smtp: smtplib.SMTP) -> None:
    # After the server's answer to DATA, nothing that goes wrong changes the outcome.
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _envelope_sender(settings: SmtpSettings) -> str:
    return parse_address(settings.sender).addr_spec


def _failure(exc: OSError, settings: SmtpSettings, *, stage: str) -> _Try:
    """Classify a failed attempt: retry it, give up, or stop because the message may be there."""
    where = f"SMTP {settings.host}:{settings.port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        transient = bool(codes) and all(400 <= code < 500 for code in codes)
        text = f"every recipient refused: {_refusals(exc.recipients)}"
        return _Try("transient" if transient else "permanent", f"{where}: {text}")
    if isinstance(exc, smtplib.SMTPResponseException):
        kind = "transient" if 400 <= exc.smtp_code < 500 else "permanent"
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return _Try(kind, f"{where}: {_reply_context(exc)}: {reply}")
    if stage == "data":
        return _Try(
            "unknown",
            f"{where}: connection lost after the message was sent, before the server answered "
            f"(it may have been delivered): {_text(exc)}",
        )
    if isinstance(exc, ssl.SSLError):
        return _Try("permanent", f"{where}: TLS failed: {_text(exc)}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _Try("transient", f"{where}: connection closed by the server: {_text(exc)}")
    if not isinstance(exc, smtplib.SMTPException):
        action = "could not connect" if stage == "connect" else "connection failed"
        return _Try("transient", f"{where}: {action}: {_text(exc)}")
    # STARTTLS or AUTH not offered, no usable AUTH mechanism: retrying cannot help.
    return _Try("permanent", f"{where}: {_text(exc)}")


def _reply_context(exc: smtplib.SMTPResponseException) -> str:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "authentication failed"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"sender {exc.sender} refused"
    if isinstance(exc, smtplib.SMTPDataError):
        return "message refused"
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPHeloError):
        return "server refused the connection"
    return "server replied"


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {message}".strip()


def _refusals(recipients: Mapping[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{address} ({_reply(*reply)})" for address, reply in recipients.items())


def _refused_note(refused: Mapping[str, tuple[int, bytes]], settings: SmtpSettings) -> str:
    where = f"SMTP {settings.host}:{settings.port}"
    note = f"{where}: accepted, except for these refused recipients: {_refusals(refused)}"
    logger.warning(note)
    return note


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def write_eml(message: EmailMessage, folder: Path, name: str) -> Path:
    """Write `message` to `folder/<name>.eml` (the outbox) and return the path; `name` keeps only
    letters, digits, `.`, `_` and `-`, so it cannot leave `folder`. The file appears whole or
    not at all."""
    safe = _FILE_NAME_UNSAFE.sub("-", name).strip(".-") or "message"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{safe}.eml"
    partial = folder / f".{safe}.eml.partial"
    partial.write_bytes(message.as_bytes())
    os.replace(partial, path)
    return path


def deliver(
    con: duckdb.DuckDBPyConnection,
    *,
    slug: str,
    period: str,
    message: EmailMessage,
    envelope: list[str],
    settings: SmtpSettings | None,
    outbox: Path,
    now: dt.datetime,
    force: bool = False,
    retries: int = 3,
    backoff_seconds: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    content_hash: str | None = None,
) -> DeliveryOutcome:
    """Deliver the email of `period` exactly once: send it (or, without SMTP settings, write it
    to `outbox`) unless the ledger says it already went out, or that an earlier attempt may have
    delivered it; `force` sends anyway, and the ledger records it as forced.

    `content_hash` is the hash the Message-ID was made from (default: the message's bytes).
    """
    message_id = str(message["Message-ID"] or "")
    if not message_id:
        raise ValueError("the message has no Message-ID")
    if settings is not None and not envelope:
        raise ValueError(f"no recipient to send the email of {period} to")
    if retries < 1:
        raise ValueError(f"retries must be at least 1, got {retries}")
    ledger.ensure_ledger(con)
    if not force:
        blocked = _blocked(con, period, message_id)
        if blocked is not None:
            logger.info("%s %s for %s: %s", slug, blocked.status, period, blocked.reason)
            return blocked
    delivery_id = ledger.record_attempt(
        con,
        period=period,
        message_id=message_id,
        content_hash=content_hash or hashlib.sha256(message.as_bytes()).hexdigest(),
        recipients=envelope,
        now=now,
        forced=force,
    )
    if settings is None:
        path = write_eml(message, outbox, f"{slug}-{period}")
        ledger.mark_sent(con, delivery_id, attempts=1, now=now, written=True)
        logger.info("%s: no SMTP server configured, %s written to %s", slug, message_id, path)
        return DeliveryOutcome("written", message_id, 1, f"no SMTP server: written to {path}", path)
    result = send_message(
        message, envelope, settings, retries=retries, backoff_seconds=backoff_seconds, sleep=sleep
    )
    return _record(con, delivery_id, message_id, result, now)


def _blocked(
    con: duckdb.DuckDBPyConnection, period: str, message_id: str
) -> DeliveryOutcome | None:
    """Why the email of `period` must not go out without `force`, or None."""
    done = ledger.already_sent(con, period)
    if done is not None:
        how = "sent" if done.status == "sent" else "written to the outbox"
        when = done.sent_at or done.created_at
        reason = f"already {how} on {when:%Y-%m-%d %H:%M} as {done.message_id}"
        if done.message_id != message_id:
            reason += "; the report has changed since: force to send this version"
        return DeliveryOutcome("skipped", message_id, 0, reason)
    pending = ledger.unfinished(con, period)
    if pending is not None:
        reason = (
            f"the attempt of {pending.created_at:%Y-%m-%d %H:%M} as {pending.message_id} did not "
            f"finish ({pending.last_error or 'interrupted'}); the recipients may have it: "
            "check, then force to send again"
        )
        return DeliveryOutcome("failed", message_id, 0, reason)
    return None


def _record(
    con: duckdb.DuckDBPyConnection,
    delivery_id: int,
    message_id: str,
    result: SendResult,
    now: dt.datetime,
) -> DeliveryOutcome:
    """Write the outcome of sending to the ledger."""
    if result.status == "sent":
        ledger.mark_sent(con, delivery_id, attempts=result.attempts, now=now, note=result.error)
        return DeliveryOutcome("sent", message_id, result.attempts, result.error)
    error = result.error or "not sent"
    if result.maybe_sent:
        ledger.mark_unknown(con, delivery_id, attempts=result.attempts, error=error)
        reason = f"{error}; not retried: check whether it arrived, then force to send again"
        return DeliveryOutcome("failed", message_id, result.attempts, reason)
    ledger.mark_failed(con, delivery_id, attempts=result.attempts, error=error)
    return DeliveryOutcome("failed", message_id, result.attempts, error)
