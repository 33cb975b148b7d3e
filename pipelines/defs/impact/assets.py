"""Assets of the impact stage."""

import dagster as dg

from pipelines.defs.ingest.assets import OWNERS
from pipelines.defs.kpis.assets import kpi_series
from pipelines.defs.partitions import clients_partitions
from pipelines.defs.resources import CapWorkspace
from pipelines.impact.analysis import analyse_warehouse
from pipelines.impact.store import replace_impact
from pipelines.markdown import markdown_table
from pipelines.sql import execute_sql


@dg.asset(
    partitions_def=clients_partitions,
    group_name="impact",
    kinds={"duckdb", "pandas", "numpy"},
    owners=OWNERS,
    deps=[kpi_series],
)
def impact(context: dg.AssetExecutionContext, cap: CapWorkspace) -> dg.MaterializeResult:
    """Each KPI's change after go-live, per site and for the client total: table `impact`.

    Three methods where they apply: before/after (means, with an interval that allows for
    autocorrelation), seasonal (month-of-year effects, level and slope change) and
    difference-in-differences against the control sites. Each result has a 95 % interval, a
    p-value, a verdict (improved, worsened, no significant change, insufficient data with its
    reason) and a sentence in French and English. `preferred` marks the result a report leads
    with: controls first, then the seasonal model, then before/after.
    """
    slug = context.partition_key
    config = cap.client_config(slug)
    with cap.warehouse(slug) as con:
        rows = analyse_warehouse(con, config, slug)
        replace_impact(con, rows)
        summary = execute_sql(con, "select_impact_summary").df()
    preferred = rows[rows["preferred"]]
    verdicts = preferred["verdict"].value_counts()
    sentences = rows[rows["preferred"] & (rows["scope"] == "client_total")]
    language = "sentence_fr" if config.language == "fr" else "sentence_en"
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            **{f"verdict_{name}": int(count) for name, count in verdicts.items()},
            "client_total": dg.MetadataValue.md(
                "\n".join(f"- {text}" for text in sentences[language]) or "(no client total)"
            ),
            "results": dg.MetadataValue.md(markdown_table(summary, max_rows=200)),
        }
    )
