"""Assets of the report stage."""

import base64
import datetime as dt
from pathlib import Path

import dagster as dg

from pipelines.defs.impact.assets import impact
from pipelines.defs.ingest.assets import OWNERS
from pipelines.defs.partitions import clients_partitions
from pipelines.defs.resources import CapWorkspace, client_today
from pipelines.inputs import record_completed
from pipelines.quality.waiting import WAITING_FOR_FIRST_DELIVERY
from pipelines.report.build import build_report, charts_folder
from pipelines.report.content import NothingToReport, gather

CHARTS_SHOWN = 3
"""Charts embedded in the asset's metadata (the summary and the first key KPIs)."""


def _image(path: Path, title: str) -> str:
    """A PNG as markdown the Dagster UI shows inline (a data URI: no file server needed)."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"**{title}**\n\n![{path.stem}](data:image/png;base64,{data})"


def _completed(context: dg.AssetExecutionContext, cap: CapWorkspace) -> None:
    """The run reached its last stage: its inputs count as processed (see `pipelines.inputs`)."""
    with cap.warehouse(context.partition_key) as con:
        record_completed(con, context.run_id, dt.datetime.now(dt.UTC))


@dg.asset(
    partitions_def=clients_partitions,
    group_name="report",
    kinds={"matplotlib", "pdf", "html"},
    owners=OWNERS,
    deps=[impact],
)
def report(context: dg.AssetExecutionContext, cap: CapWorkspace) -> dg.MaterializeResult:
    """The client report for its latest period, in the client's language, in
    `reports/<slug>/<period>/`: the charts (`charts/*.png`), the PDF and the email body.

    Charts: an executive summary of the key KPIs' changes with their intervals; for each key
    KPI, the client total's series with the go-live line, the before and after levels, the
    95 % band and the target; the transformed sites against the control sites, indexed to 100;
    before against after for every site; and every site's series side by side.

    The PDF (8 in wide pages, readable on a phone): cover, summary sentences, the charts, the
    key-indicator table (before, after, change, interval, verdict), a data-quality appendix
    (files, what was set aside and why, coverage, lateness) and a methodology note. The email
    body is HTML with the key charts inline by Content-ID and a plain-text alternative;
    `report.html` previews it in a browser. A client with no value yet gets no report: it
    waits for its first delivery (metadata `status`).
    """
    slug = context.partition_key
    config = cap.client_config(slug)
    try:
        with cap.warehouse(slug, read_only=True) as con:
            content = gather(con, config, slug, client_today(config))
    except NothingToReport as nothing:
        context.log.info("%s: %s", nothing, WAITING_FOR_FIRST_DELIVERY)
        _completed(context, cap)
        return dg.MaterializeResult(
            metadata={"report": "none: no value stored yet", "status": WAITING_FOR_FIRST_DELIVERY}
        )
    built = build_report(cap.workspace, content)
    _completed(context, cap)
    shown = "\n\n".join(_image(chart.png, chart.title) for chart in built.charts[:CHARTS_SHOWN])
    return dg.MaterializeResult(
        metadata={
            "period": content.period_key,
            "pdf": dg.MetadataValue.path(str(built.pdf)),
            "pages": built.pages,
            "charts": len(built.charts),
            "charts_folder": dg.MetadataValue.path(str(charts_folder(cap.workspace, content))),
            "email_subject": built.email.subject,
            "email_preview": dg.MetadataValue.path(str(built.files["preview"])),
            "preview": dg.MetadataValue.md(shown),
        }
    )
