"""Sensors: react to what the consultant drops into a client's inbox."""

import json

import dagster as dg

from pipelines.defs.jobs import client_pipeline
from pipelines.defs.partitions import clients_partitions
from pipelines.defs.resources import CapWorkspace
from pipelines.ingest.archive import inbox_fingerprint, unarchived_files


@dg.sensor(
    job=client_pipeline,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def client_inbox_sensor(context: dg.SensorEvaluationContext, cap: CapWorkspace) -> dg.SensorResult:
    """Adds a partition for each new client folder and runs a client whose inbox received files.

    The cursor keeps a fingerprint of each inbox listing; a client is run only when its listing
    changed and it holds a file whose bytes are not archived yet.
    """
    workspace = cap.workspace
    previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    slugs = workspace.client_slugs()
    known = set(context.instance.get_dynamic_partitions(clients_partitions.name))
    new_clients = [slug for slug in slugs if slug not in known]
    fingerprints = {slug: inbox_fingerprint(workspace, slug) for slug in slugs}
    run_requests = [
        dg.RunRequest(partition_key=slug, run_key=f"{slug}:{fingerprint}")
        for slug, fingerprint in fingerprints.items()
        if previous.get(slug) != fingerprint and unarchived_files(workspace, slug)
    ]
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=(
            [clients_partitions.build_add_request(new_clients)] if new_clients else []
        ),
        cursor=json.dumps(fingerprints, sort_keys=True),
    )
