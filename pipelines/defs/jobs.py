"""Jobs: the one pipeline every client runs, from inbox to report."""

import dagster as dg

from pipelines.defs.partitions import clients_partitions

client_pipeline = dg.define_asset_job(
    name="client_pipeline",
    selection=dg.AssetSelection.all(),
    partitions_def=clients_partitions,
    description="Every stage for one client (one partition): ingest, KPIs and what follows.",
)
