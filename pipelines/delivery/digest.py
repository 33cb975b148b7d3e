"""The consultant's morning digest: what needs them across every client, in one short email.

Five lists: warning checks that failed in the last 24 hours (their latest evaluation per client
and check), late clients, clients whose `client.yaml` is invalid (the nightly run skips them),
reports waiting for the consultant's approval, and deliveries waiting in quarantine for their
correction. Clients that have not sent anything yet are listed apart: they wait for their first
delivery, which is not late (nothing was ever due). Plain text, in English; a morning with
nothing to say still gets an "all quiet" digest, so that silence never means a broken digest.

`survey_clients` reads the workspace (configurations, warehouses read-only, report folders);
`failed_warnings` and `digest_text` only shape values, and never touch Dagster.
"""

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from pipelines.config.loader import ConfigError
from pipelines.config.model import ClientConfig
from pipelines.delivery.ledger import already_sent
from pipelines.delivery.notices import one_line
from pipelines.delivery.report_email import report_periods
from pipelines.quality.deliveries import lateness
from pipelines.quality.waiting import (
    WAITING_FOR_FIRST_DELIVERY,
    awaiting_first_delivery,
    quarantine_line,
    waiting_deliveries,
)
from pipelines.storage import ensure_sound
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

logger = logging.getLogger(__name__)

DIGEST_TIMEZONE = "Europe/Paris"
"""The consultant's time zone: when the digest goes out (07:00) and how its times read."""
LOOKBACK = dt.timedelta(hours=24)
DIGEST_FOLDER = "_digest"
"""`reports/_digest/<date>.txt`: a name no client slug can take (slugs start with a letter or
a digit), so the digest never lands in a client's report folder."""
_SUMMARY_CHARS = 160


@dataclass(frozen=True)
class CheckEvaluation:
    """One evaluation of an asset check on a client's partition, as the event log holds it."""

    client: str
    check: str
    asset: str
    passed: bool
    severity: str
    """`WARN` (a warning) or `ERROR` (blocking)."""
    at: dt.datetime
    summary: str
    run_id: str


@dataclass(frozen=True)
class LateClient:
    """A client whose latest period is older than its cadence allows (or who sent nothing)."""

    client: str
    latest_period: dt.date | None
    days_since_end: int
    days_allowed: int


@dataclass(frozen=True)
class ClientProblem:
    """A client the digest could not look at as it should, and why."""

    client: str
    problem: str


@dataclass(frozen=True)
class AwaitingApproval:
    """A client in review mode whose latest report has not gone out."""

    client: str
    period: str
    folder: Path


@dataclass(frozen=True)
class ClientSurvey:
    """What the workspace says about each client this morning."""

    names: dict[str, str] = field(default_factory=dict)
    late: list[LateClient] = field(default_factory=list)
    invalid: list[ClientProblem] = field(default_factory=list)
    awaiting: list[AwaitingApproval] = field(default_factory=list)
    unreadable: list[ClientProblem] = field(default_factory=list)
    quarantined: list[ClientProblem] = field(default_factory=list)
    """Clients with deliveries set aside that no later delivery replaced (the problem: which)."""
    first_delivery: list[str] = field(default_factory=list)
    """Clients with no value yet: waiting for their first delivery (not late, not an item)."""


@dataclass(frozen=True)
class Digest:
    """Everything one morning's digest says."""

    now: dt.datetime
    clients: list[str]
    warnings: list[CheckEvaluation]
    survey: ClientSurvey

    @property
    def day(self) -> dt.date:
        """The digest's date, in the consultant's time zone."""
        return self.now.astimezone(ZoneInfo(DIGEST_TIMEZONE)).date()

    @property
    def items(self) -> int:
        """How many things need the consultant."""
        survey = self.survey
        return len(self.warnings) + sum(
            len(part)
            for part in (
                survey.late,
                survey.invalid,
                survey.awaiting,
                survey.unreadable,
                survey.quarantined,
            )
        )


def survey_clients(workspace: Workspace, slugs: Iterable[str], now: dt.datetime) -> ClientSurvey:
    """For each client: whether its `client.yaml` is valid, whether its data is late (on its own
    calendar) or waits for its first delivery, which deliveries wait in quarantine, and whether
    its latest report waits for approval (review mode, no sent or written email in the ledger).
    A client whose warehouse cannot be read is listed with the error; the others are still
    surveyed."""
    survey = ClientSurvey()
    for slug in sorted(set(slugs)):
        try:
            config = workspace.load_config(slug)
        except (ConfigError, OSError, ValueError) as exc:
            survey.invalid.append(ClientProblem(slug, str(exc)))
            continue
        survey.names[slug] = config.name
        try:
            ensure_sound(workspace, slug)
            _survey_client(workspace, slug, config, now, survey)
        except (duckdb.Error, OSError) as exc:
            logger.warning("%s: warehouse not readable for the digest: %s", slug, exc)
            survey.unreadable.append(ClientProblem(slug, f"warehouse not readable: {exc}"))
    return survey


def _survey_client(
    workspace: Workspace, slug: str, config: ClientConfig, now: dt.datetime, survey: ClientSurvey
) -> None:
    periods = report_periods(workspace, slug)
    report = periods[-1] if periods and config.report.delivery == "review" else None
    went_out = False
    path = workspace.warehouse(slug)
    if path.exists():
        today = now.astimezone(ZoneInfo(config.timezone)).date()
        with open_warehouse(path, read_only=True) as con:
            first = awaiting_first_delivery(con)
            latest, days, allowed = lateness(con, config, today)
            went_out = report is not None and _went_out(con, report)
            waiting = quarantine_line(waiting_deliveries(con))
        if first:
            survey.first_delivery.append(slug)
        elif latest is not None and days > allowed:
            survey.late.append(LateClient(slug, latest, days, allowed))
        if waiting:
            survey.quarantined.append(ClientProblem(slug, waiting))
    else:
        survey.first_delivery.append(slug)
    if report is not None and not went_out:
        survey.awaiting.append(AwaitingApproval(slug, report, workspace.reports(slug) / report))


def _went_out(con: duckdb.DuckDBPyConnection, period: str) -> bool:
    """Whether the ledger has the period's email as sent or written; a warehouse without the
    ledger (read-only: it cannot be created here) has sent nothing."""
    try:
        return already_sent(con, period) is not None
    except duckdb.CatalogException:
        return False


def failed_warnings(
    evaluations: Iterable[CheckEvaluation], now: dt.datetime, lookback: dt.timedelta = LOOKBACK
) -> list[CheckEvaluation]:
    """The warning checks whose latest evaluation in `(now - lookback, now]`, per client and
    check, failed: a warning fixed by a later run is not news. Sorted by client, then check."""
    since = now - lookback
    latest: dict[tuple[str, str, str], CheckEvaluation] = {}
    for evaluation in evaluations:
        if not since < evaluation.at <= now:
            continue
        key = (evaluation.client, evaluation.asset, evaluation.check)
        if key not in latest or evaluation.at > latest[key].at:
            latest[key] = evaluation
    return [
        evaluation
        for key, evaluation in sorted(latest.items())
        if not evaluation.passed and evaluation.severity == "WARN"
    ]


def metadata_summary(description: str | None, metadata: Mapping[str, object]) -> str:
    """One line about a check's result: its description, else its plain values
    (`outliers: 3, limit: 5.0`), shortened."""
    if description and description.strip():
        text = description.strip()
    else:
        text = ", ".join(
            f"{key}: {value}"
            for key, value in metadata.items()
            if isinstance(value, str | int | float | bool) and "\n" not in str(value)
        )
    return one_line(text or "no detail recorded", _SUMMARY_CHARS)


def digest_text(digest: Digest) -> tuple[str, str]:
    """The digest's subject and plain-text body."""
    zone = ZoneInfo(DIGEST_TIMEZONE)
    day = f"{digest.day:%a} {digest.day.day} {digest.day:%b %Y}"
    count = digest.items
    need = "all quiet" if count == 0 else f"{count} item{'s' if count > 1 else ''} need you"
    subject = f"[Cap] Daily digest, {day}: {need}"
    survey = digest.survey
    clients = len(digest.clients)
    lines = [
        f"Cap daily digest, {day} ({digest.now.astimezone(zone):%H:%M %Z})",
        f"{clients} client{'s' if clients != 1 else ''}"
        + (": all quiet, nothing needs you." if count == 0 else f", {need}."),
    ]

    def section(title: str, entries: list[str]) -> None:
        if entries:
            lines.extend(["", f"{title} ({len(entries)})", *entries])

    def who(slug: str) -> str:
        name = survey.names.get(slug)
        return f"{name} ({slug})" if name and name != slug else slug

    section(
        "Reports waiting for your approval",
        [
            f"  - {who(item.client)}: the report of {item.period} ({item.folder})\n"
            f"    approve: `cap send --client {item.client}`, or in the UI launch the "
            "report_delivery job for this client with `approve: true`"
            for item in survey.awaiting
        ],
    )
    section(
        "Deliveries waiting in quarantine for a correction",
        [f"  - {who(item.client)}: {item.problem}" for item in survey.quarantined],
    )
    section(
        "Invalid configurations, skipped by the nightly run",
        [f"  - {item.client}: {_indent(item.problem)}" for item in survey.invalid],
    )
    section(
        "Late clients",
        [f"  - {who(item.client)}: {_late(item)}" for item in survey.late],
    )
    section(
        "Warning checks that failed in the last 24 h",
        [
            f"  - {who(item.client)}: {item.check} on {item.asset}, "
            f"{item.at.astimezone(zone):%d %b %H:%M}: {item.summary}"
            for item in digest.warnings
        ],
    )
    section(
        "Clients the digest could not read",
        [f"  - {who(item.client)}: {_indent(item.problem)}" for item in survey.unreadable],
    )
    section(
        "Clients waiting for the first delivery (not late: nothing was due yet)",
        [f"  - {who(slug)}: {WAITING_FOR_FIRST_DELIVERY}" for slug in survey.first_delivery],
    )
    return subject, "\n".join(lines) + "\n"


def write_digest(workspace: Workspace, day: dt.date, text: str) -> Path:
    """Write the digest to `reports/_digest/<date>.txt` (replacing that day's) and return it."""
    folder = workspace.home / "reports" / DIGEST_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{day.isoformat()}.txt"
    partial = folder / f".{path.name}.partial"
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path


def _late(item: LateClient) -> str:
    if item.latest_period is None:
        return WAITING_FOR_FIRST_DELIVERY
    return (
        f"latest period {item.latest_period:%Y-%m-%d}, {item.days_since_end} days after it "
        f"ended ({item.days_allowed} allowed)"
    )


def _indent(text: str) -> str:
    return text.replace("\n", "\n      ")
