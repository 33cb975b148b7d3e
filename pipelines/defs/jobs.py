"""Jobs: the one pipeline every client runs, from inbox to report, and the report's delivery."""

import dagster as dg

from pipelines.defs.partitions import clients_partitions

CLIENT_STAGES = ("ingest", "kpis", "impact", "report")
"""The asset groups a client's run materializes: up to the report, never its email, which
waits for the consultant's approval (or the automatic send after a successful run)."""

# Steps run in the run's own process, one after another: the multiprocess default starts a
# process per step that loads the code again (6-10 s a step, about 80 s a client run in the UI
# against 10-15 s in-process). Runs of different clients still run side by side.
client_pipeline = dg.define_asset_job(
    name="client_pipeline",
    selection=dg.AssetSelection.groups(*CLIENT_STAGES),
    partitions_def=clients_partitions,
    executor_def=dg.in_process_executor,
    description="Every stage for one client (one partition): ingest, KPIs, impact and report.",
)

report_delivery = dg.define_asset_job(
    name="report_delivery",
    selection=dg.AssetSelection.groups("delivery"),
    partitions_def=clients_partitions,
    executor_def=dg.in_process_executor,
    description="Email one client's report to its leadership, exactly once (the approval).",
)
