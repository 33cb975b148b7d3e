"""Assets of the ingestion stage."""

import datetime as dt

import dagster as dg

from pipelines.defs.partitions import clients_partitions
from pipelines.defs.resources import CapWorkspace, client_today
from pipelines.ingest.archive import archive_inbox, refused_summary
from pipelines.ingest.load import load_received
from pipelines.inputs import inputs_fingerprint, record_started
from pipelines.markdown import markdown_table
from pipelines.safe_text import for_markdown
from pipelines.sql import execute_sql, read_sql

OWNERS = ["team:consulting"]


@dg.asset(
    partitions_def=clients_partitions,
    group_name="ingest",
    kinds={"excel", "duckdb"},
    owners=OWNERS,
    check_specs=[
        dg.AssetCheckSpec(
            "raw_files_are_regular_files",
            asset="raw_files",
            description="Everything in the inbox is a regular file (a warning: links, folders, "
            "FIFOs and devices are refused unread, and listed).",
            partitions_def=clients_partitions,
        )
    ],
)
def raw_files(context: dg.AssetExecutionContext, cap: CapWorkspace) -> dg.MaterializeResult:
    """Every file the client sent, archived under its SHA-256 before anything reads it.

    Scans `clients/<slug>/inbox/`, copies each new file to `archive/<slug>/<sha256>.<ext>` and
    records it in the warehouse's `files` table. A byte-identical copy under another name is
    recorded as a duplicate and not loaded twice. Only regular files are read: a link (to a file
    or a folder), a folder, a FIFO or a device is refused, never followed, and listed in the
    check `raw_files_are_regular_files`. Notes the run's inputs (table `client_runs`): a client
    whose inputs have not changed since its last completed run is skipped at night.
    """
    slug = context.partition_key
    config = cap.client_config(slug)
    fingerprint = inputs_fingerprint(cap.workspace, slug)
    with cap.warehouse(slug) as con:
        record_started(con, context.run_id, fingerprint, dt.datetime.now(dt.UTC))
        summary = archive_inbox(cap.workspace, slug, config, con, dt.datetime.now(dt.UTC))
        files = con.sql(read_sql("select_files")).df()
    refused = dg.MetadataValue.md(
        "\n".join(
            f"- **{for_markdown(entry.name)}** ({entry.kind}): {for_markdown(entry.message)}"
            for entry in summary.refused
        )
        or "_(none)_"
    )
    check = dg.AssetCheckResult(
        check_name="raw_files_are_regular_files",
        passed=not summary.refused,
        severity=dg.AssetCheckSeverity.WARN,
        description=refused_summary(summary.refused),
        metadata={"entries_refused": len(summary.refused), "refused": refused},
    )
    return dg.MaterializeResult(
        metadata={
            "files_in_inbox": summary.in_inbox,
            "new_files": len(summary.received),
            "duplicates": len(summary.duplicates),
            "refused_entries": len(summary.refused),
            "refused": refused,
            "files_received_total": len(files),
            "files": dg.MetadataValue.md(markdown_table(files)),
        },
        check_results=[check],
    )


@dg.asset(
    partitions_def=clients_partitions,
    group_name="ingest",
    kinds={"pandas", "duckdb"},
    owners=OWNERS,
    deps=[raw_files],
    check_specs=[
        dg.AssetCheckSpec(
            "kpi_observations_all_files_accepted",
            asset="kpi_observations",
            description="Every file received in the run was understood and loaded (a warning: "
            "the rejected files and their reasons are listed).",
            partitions_def=clients_partitions,
        )
    ],
)
def kpi_observations(context: dg.AssetExecutionContext, cap: CapWorkspace) -> dg.MaterializeResult:
    """Every value the client ever delivered, in Cap's long format with its origin.

    Parses each newly archived file with the source that matches it in `client.yaml` (sheet per
    site, long or wide layout), maps headers and codes to canonical KPIs and sites, and stores the
    values in `kpi_observations` with file, sheet, row and column. A file with any problem is
    rejected whole, quarantined, and its problems stored in `rejections`.
    """
    slug = context.partition_key
    config = cap.client_config(slug)
    with cap.warehouse(slug) as con:
        summary = load_received(cap.workspace, slug, config, con, client_today(config))
        ((total,),) = execute_sql(con, "count_kpi_observations").fetchall()
        preview = con.sql(read_sql("select_kpi_observations_preview")).df()
        rejections = con.sql(read_sql("select_rejections")).df()
    context.log.info(
        "%s: %d files loaded, %d rejected, %d values stored",
        slug,
        len(summary.loaded),
        len(summary.rejected),
        summary.values_stored,
    )
    check = dg.AssetCheckResult(
        check_name="kpi_observations_all_files_accepted",
        passed=not summary.rejected,
        severity=dg.AssetCheckSeverity.WARN,
        description="Every file received in this run was understood and loaded.",
        metadata={
            "files_rejected": len(summary.rejected),
            "reasons": dg.MetadataValue.md(
                "\n".join(
                    f"- **{for_markdown(name)}**: {for_markdown(summary.messages[name])}"
                    for name in summary.rejected
                )
                or "_(none)_"
            ),
        },
    )
    return dg.MaterializeResult(
        metadata={
            "files_loaded": len(summary.loaded),
            "files_rejected": len(summary.rejected),
            "values_stored": summary.values_stored,
            "dagster/row_count": total,
            "preview": dg.MetadataValue.md(markdown_table(preview)),
            "rejections": dg.MetadataValue.md(markdown_table(rejections)),
        },
        check_results=[check],
    )
