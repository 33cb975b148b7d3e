"""Assets of the KPI stage."""

import dagster as dg

from pipelines.defs.ingest.assets import OWNERS, kpi_observations
from pipelines.defs.partitions import clients_partitions
from pipelines.defs.resources import CapWorkspace
from pipelines.impact.series import build_kpi_series
from pipelines.markdown import markdown_table
from pipelines.sql import execute_sql, read_sql


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


@dg.asset(
    partitions_def=clients_partitions,
    group_name="kpis",
    kinds={"duckdb"},
    owners=OWNERS,
    deps=[kpi_values],
)
def kpi_series(context: dg.AssetExecutionContext, cap: CapWorkspace) -> dg.MaterializeResult:
    """Every KPI per site and period, base and derived, with the client total and the pooled
    control sites: table `kpi_series`.

    Derived KPIs (units per hour, EBITDA margin, cost per parcel...) are `factor * numerator /
    denominator` of two base KPIs, computed in DuckDB where both parts exist. A total is the
    sum of the sites (a ratio: the ratio of the sums), only for periods where every site that
    reports the KPI did.
    """
    slug = context.partition_key
    config = cap.client_config(slug)
    with cap.warehouse(slug) as con:
        rows = build_kpi_series(con, config)
        summary = execute_sql(con, "select_kpi_series_summary").df()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "kpis": int(summary["kpi"].nunique()) if not summary.empty else 0,
            "series": dg.MetadataValue.md(markdown_table(summary, max_rows=100)),
        }
    )
