"""Assets of the delivery stage."""

import datetime as dt

import dagster as dg
from pydantic import Field

from pipelines.defs.ingest.assets import OWNERS
from pipelines.defs.partitions import clients_partitions
from pipelines.defs.report.assets import report
from pipelines.defs.resources import CapWorkspace, Mailer, client_today
from pipelines.delivery.report_email import (
    APPROVAL_TAG,
    AUTO,
    NotSendable,
    load_report_email,
    recipients,
    refusal,
    send_report_email,
)


class ReportEmailConfig(dg.Config):
    """Which report to send, and whether to send a period already sent again."""

    period: str = Field(
        default="",
        description="The report's period (`2026-10`, `2026-W47`); empty: the latest built.",
    )
    resend: bool = Field(
        default=False,
        description="Send again a period whose email already went out (the ledger records it).",
    )


@dg.asset(
    partitions_def=clients_partitions,
    group_name="delivery",
    kinds={"email"},
    owners=OWNERS,
    deps=[report],
)
def report_email(
    context: dg.AssetExecutionContext,
    config: ReportEmailConfig,
    cap: CapWorkspace,
    mailer: Mailer,
) -> dg.MaterializeResult:
    """The client report emailed to the client's leadership (recipients in `client.yaml`), once.

    Materializing it is the consultant's approval: it sends the latest report built (or the
    period in the run config) over SMTP, or writes it to `outbox/` when no SMTP server is
    configured. A client in `auto` mode gets it after a nightly run whose checks passed, with
    fresh data. Nothing is sent while a delivery waits for a correction after a blocking check,
    when no new data came since the last email, or when the period already went out (the
    delivery ledger, table `deliveries`; `resend` overrides the last two). The run fails with
    the reason instead.
    """
    slug = context.partition_key
    client = cap.client_config(slug)
    automatic = context.run.tags.get(APPROVAL_TAG) == AUTO
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
            resend=config.resend,
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
            resend=config.resend,
        )
    if outcome.status not in ("sent", "written"):
        raise dg.Failure(
            description=f"{slug} {email.period}: not sent: {outcome.reason}",
            metadata={"message_id": outcome.message_id, "attempts": outcome.attempts},
            allow_retries=False,
        )
    context.log.info("%s %s: %s", slug, email.period, outcome.reason or outcome.status)
    return dg.MaterializeResult(
        metadata={
            "period": email.period,
            "status": outcome.status,
            "approved_by": "auto (nightly run)" if automatic else "consultant",
            "subject": email.subject,
            "recipients": len(to) + len(cc) + len(bcc),
            "to": ", ".join(to),
            "cc": ", ".join(cc),
            "bcc": len(bcc),
            "message_id": outcome.message_id,
            "attempts": outcome.attempts,
            "resent": config.resend,
            "smtp": f"{settings.host}:{settings.port}" if settings else "none: outbox",
            "eml": dg.MetadataValue.path(str(outcome.eml or email.folder / "email.eml")),
        }
    )
