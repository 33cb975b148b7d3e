"""Assets of the consultant's view: the morning digest."""

import datetime as dt
from typing import Any

import dagster as dg

from pipelines.defs.consultant.jobs import CONSULTANT_GROUP
from pipelines.defs.ingest.assets import OWNERS
from pipelines.defs.partitions import clients_partitions
from pipelines.defs.resources import CapWorkspace, Mailer
from pipelines.delivery.digest import (
    LOOKBACK,
    CheckEvaluation,
    Digest,
    digest_text,
    failed_warnings,
    metadata_summary,
    survey_clients,
    write_digest,
)
from pipelines.delivery.notices import send_notice, usable_settings

HISTORY_PAGE = 100
"""Check evaluations read from the event log per query, newest first."""
_PLAIN_METADATA = (
    dg.IntMetadataValue,
    dg.FloatMetadataValue,
    dg.TextMetadataValue,
    dg.BoolMetadataValue,
)


@dg.asset(group_name=CONSULTANT_GROUP, kinds={"email"}, owners=OWNERS)
def consultant_digest(
    context: dg.AssetExecutionContext, cap: CapWorkspace, mailer: Mailer
) -> dg.MaterializeResult:
    """The consultant's morning digest (07:00 Paris time), emailed to `CAP_CONSULTANT_EMAIL` and
    kept as `reports/_digest/<date>.txt`: warning checks whose latest evaluation in the last 24 h
    failed (per client and check; checks planned but never evaluated, in a run that stopped
    before them, are left out), late clients, clients whose `client.yaml` is invalid (the
    nightly run skips them), reports waiting for approval (review mode, not sent yet),
    deliveries waiting in quarantine, and clients waiting for their first delivery.

    A quiet morning still gets a short "all quiet" digest: silence would look the same as a
    broken digest. Without an SMTP server or a consultant address, it goes to `outbox/`.
    """
    now = dt.datetime.now(dt.UTC)
    workspace = cap.workspace
    partitions = context.instance.get_dynamic_partitions(clients_partitions.name)
    clients = sorted({*workspace.client_slugs(), *partitions})
    evaluations = _check_evaluations(context.instance, _check_keys(), now - LOOKBACK)
    digest = Digest(
        now=now,
        clients=clients,
        warnings=failed_warnings(evaluations, now),
        survey=survey_clients(workspace, clients, now),
    )
    subject, text = digest_text(digest)
    path = write_digest(workspace, digest.day, text)
    outcome = send_notice(
        subject=subject,
        text=text,
        kind="digest",
        key=digest.day.isoformat(),
        consultant=mailer.consultant,
        settings=usable_settings(mailer.settings),
        outbox=workspace.outbox,
        now=now,
    )
    delivered = "sent" if outcome.status == "sent" else f"written to {outcome.eml}"
    context.log.info("digest of %s (%d items): %s", digest.day, digest.items, delivered)
    survey = digest.survey
    return dg.MaterializeResult(
        metadata={
            "digest": dg.MetadataValue.path(str(path)),
            "items": digest.items,
            "clients": len(clients),
            "failed_warnings": len(digest.warnings),
            "late_clients": len(survey.late),
            "invalid_configurations": len(survey.invalid),
            "awaiting_approval": len(survey.awaiting),
            "waiting_in_quarantine": len(survey.quarantined),
            "waiting_for_first_delivery": len(survey.first_delivery),
            "email": delivered,
            "preview": dg.MetadataValue.md(f"**{subject}**\n\n```\n{text}```"),
        }
    )


def _check_keys() -> set[dg.AssetCheckKey]:
    """Every asset check of the Definitions (which import this module, hence the late import;
    `context.repository_def` is not set when a job is executed in process)."""
    from pipelines.definitions import defs

    return set(defs.get_repository_def().asset_graph.asset_check_keys)


def _check_evaluations(
    instance: dg.DagsterInstance, check_keys: set[dg.AssetCheckKey], since: dt.datetime
) -> list[CheckEvaluation]:
    """Every evaluation of `check_keys` on a client's partition since `since`, from the event
    log (newest first, page by page, until older than `since`)."""
    found: list[CheckEvaluation] = []
    storage = instance.event_log_storage
    for key in sorted(check_keys, key=lambda key: key.to_user_string()):
        cursor: int | None = None
        while True:
            records = storage.get_asset_check_execution_history(
                key, limit=HISTORY_PAGE, cursor=cursor
            )
            for record in records:
                at = _recorded_at(record)
                if not _evaluated(record) or at <= since:
                    continue
                evaluation = record.evaluation
                client = record.partition or evaluation.partition
                if client is None:
                    continue
                found.append(
                    CheckEvaluation(
                        client=client,
                        check=key.name,
                        asset=key.asset_key.to_user_string(),
                        passed=evaluation.passed,
                        severity=evaluation.severity.value,
                        at=at,
                        summary=metadata_summary(
                            evaluation.description, _plain(evaluation.metadata)
                        ),
                        run_id=record.run_id,
                    )
                )
            if len(records) < HISTORY_PAGE or _recorded_at(records[-1]) <= since:
                break
            cursor = records[-1].id
    return found


def _evaluated(record: Any) -> bool:
    """Whether the record holds a result: a check planned in a run that stopped before it (a
    blocking check failed upstream, a step failed, the run was killed) holds only its plan."""
    event = record.event
    return (
        event is not None
        and event.dagster_event is not None
        and event.dagster_event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    )


def _recorded_at(record: Any) -> dt.datetime:
    """When an asset check execution record's evaluation was recorded (its event's time, else
    the record's)."""
    timestamp = record.event.timestamp if record.event is not None else record.create_timestamp
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def _plain(metadata: dict[str, dg.MetadataValue]) -> dict[str, object]:
    """The metadata values a line of text can show (numbers, short text, booleans)."""
    return {
        key: value.value for key, value in metadata.items() if isinstance(value, _PLAIN_METADATA)
    }
