"""Assets of the delivery stage."""

import datetime as dt
from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from pipelines.defs.ingest.assets import OWNERS
from pipelines.defs.partitions import clients_partitions
from pipelines.defs.report.assets import report
from pipelines.defs.resources import CapWorkspace, Mailer, client_today
from pipelines.delivery.report_email import (
    APPROVAL_TAG,
    AUTO,
    NOT_APPROVED,
    PARENT_RUN_TAG,
    NotSendable,
    approved_by,
    load_report_email,
    recipients,
    refusal,
    send_report_email,
)


class ReportEmailConfig(dg.Config):
    """Which report to send, whether the consultant approves it, and whether to send a period
    already sent again."""

    period: str = Field(
        default="",
        description="The report's period (`2026-10`, `2026-W47`); empty: the latest built.",
    )
    resend: bool = Field(
        default=False,
        description="Send again a period whose email already went out (the ledger records it). "
        "Ignored on a retry of a run: a retry sends at most once.",
    )
    approve: bool = Field(
        default=False,
        description="The consultant approves the report of `period` (required) for sending. "
        "Without it (or `cap send`, or the nightly run's automatic send to a client in auto "
        "mode), nothing is sent.",
    )


@dg.asset(
    partitions_def=clients_partitions,
    group_name="delivery",
    kinds={"email"},
    owners=OWNERS,
    deps=[report],
    output_required=False,
)
def report_email(
    context: dg.AssetExecutionContext,
    config: ReportEmailConfig,
    cap: CapWorkspace,
    mailer: Mailer,
) -> Iterator[dg.MaterializeResult | dg.AssetObservation]:
    """The client report emailed to the client's leadership (recipients in `client.yaml`), once.

    Sent only with an approval: the consultant's (`cap send`, or the `report_delivery` job
    launched with `approve: true` and the period in its config), or the nightly run's own for a
    client in `auto` mode, after a run whose checks passed, with fresh data. A "materialize
    all" or a backfill without it sends nothing: the step succeeds without a materialization
    and an observation says why. It sends the latest report built (or the config's period)
    over SMTP, or writes it to `outbox/` when no SMTP server is configured. Nothing is sent
    while a delivery waits for a correction after a blocking check, when no new data came since
    the last email, or when the period already went out (the delivery ledger, table
    `deliveries`; `resend` overrides the last two, except on a retry). An approved send that
    is refused fails the run with the reason.
    """
    slug = context.partition_key
    client = cap.client_config(slug)
    tags = context.run.tags
    approval = approved_by(tags, config.approve, config.period)
    if approval is None:
        reason = NOT_APPROVED.format(slug=slug)
        context.log.info("%s: not sent: %s", slug, reason)
        yield dg.AssetObservation(
            asset_key=context.asset_key,
            partition=slug,
            metadata={"status": "not sent", "reason": reason, "period": config.period or "latest"},
        )
        return
    automatic = tags.get(APPROVAL_TAG) == AUTO
    resend = config.resend and PARENT_RUN_TAG not in tags
    try:
        email = load_report_email(cap.workspace, slug, config.period or None)
        to, cc, bcc = recipients(client)
        settings = mailer.settings()
    except (NotSendable, ValueError) as error:
        raise dg.Failure(description=f"{slug}: not sent: {error}", allow_retries=False) from None
    with cap.warehouse(slug) as con:
        reason = refusal(
            con,
            client,
            email.period,
            automatic=automatic,
            today=client_today(client),
            resend=resend,
        )
        if reason is not None:
            raise dg.Failure(
                description=f"{slug} {email.period}: not sent: {reason}", allow_retries=False
            )
        outcome = send_report_email(
            con,
            cap.workspace,
            client,
            email,
            settings=settings,
            now=dt.datetime.now(dt.UTC),
            resend=resend,
        )
    if outcome.status not in ("sent", "written"):
        raise dg.Failure(
            description=f"{slug} {email.period}: not sent: {outcome.reason}",
            metadata={"message_id": outcome.message_id, "attempts": outcome.attempts},
            allow_retries=False,
        )
    context.log.info("%s %s: %s", slug, email.period, outcome.reason or outcome.status)
    yield dg.MaterializeResult(
        metadata={
            "period": email.period,
            "status": outcome.status,
            "approved_by": approval,
            "subject": email.subject,
            "recipients": len(to) + len(cc) + len(bcc),
            "to": ", ".join(to),
            "cc": ", ".join(cc),
            "bcc": len(bcc),
            "message_id": outcome.message_id,
            "attempts": outcome.attempts,
            "resent": resend,
            "smtp": f"{settings.host}:{settings.port}" if settings else "none: outbox",
            "eml": dg.MetadataValue.path(str(outcome.eml or email.folder / "email.eml")),
        }
    )
