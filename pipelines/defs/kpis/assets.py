"""Assets of the KPI stage."""

import dagster as dg

from pipelines.defs.ingest.assets import OWNERS, kpi_observations
from pipelines.defs.partitions import clients_partitions
from pipelines.defs.resources import CapWorkspace
from pipelines.markdown import markdown_table
from pipelines.sql import read_sql


@dg.asset(
    partitions_def=clients_partitions,
    group_name="kpis",
    kinds={"duckdb"},
    owners=OWNERS,
    deps=[kpi_observations],
)
def kpi_values(context: dg.AssetExecutionContext, cap: CapWorkspace) -> dg.MaterializeResult:
    """The current value of each KPI per site and period: the latest delivery wins.

    A view over `kpi_observations`: a restated file replaces earlier values; loading an older
    delivery after a newer one, or the same file twice, changes nothing.
    """
    slug = context.partition_key
    with cap.warehouse(slug) as con:
        coverage = con.sql(read_sql("select_kpi_values_coverage")).df()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(coverage["values"].sum()) if not coverage.empty else 0,
            "sites": int(coverage["site"].nunique()) if not coverage.empty else 0,
            "coverage": dg.MetadataValue.md(markdown_table(coverage, max_rows=100)),
        }
    )
