"""Jobs of the consultant's view: the morning digest, outside every client's pipeline."""

import dagster as dg

CONSULTANT_GROUP = "consultant"

consultant_digest_job = dg.define_asset_job(
    name="consultant_digest_job",
    selection=dg.AssetSelection.groups(CONSULTANT_GROUP),
    description="The consultant's morning digest: what needs them across every client.",
)
