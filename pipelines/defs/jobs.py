"""Jobs: the one pipeline every client runs, from inbox to report, and the report's delivery."""

import dagster as dg

from pipelines.defs.partitions import clients_partitions

CLIENT_STAGES = ("ingest", "kpis", "impact", "report")
"""The asset groups a client's run materializes: up to the report, never its email, which
waits for the consultant's approval (or the automatic send after a successful run)."""

client_pipeline = dg.define_asset_job(
    name="client_pipeline",
    selection=dg.AssetSelection.groups(*CLIENT_STAGES),
    partitions_def=clients_partitions,
    description="Every stage for one client (one partition): ingest, KPIs, impact and report.",
)

report_delivery = dg.define_asset_job(
    name="report_delivery",
    selection=dg.AssetSelection.groups("delivery"),
    partitions_def=clients_partitions,
    description="Email one client's report to its leadership, exactly once (the approval).",
)
