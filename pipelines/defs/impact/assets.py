"""Assets of the impact stage."""

import dagster as dg

from pipelines.defs.ingest.assets import OWNERS
from pipelines.defs.kpis.assets import kpi_series
from pipelines.defs.partitions import clients_partitions
from pipelines.defs.resources import CapWorkspace
from pipelines.impact.analysis import analyse_with_counterfactuals
from pipelines.impact.store import replace_impact
from pipelines.markdown import markdown_table
from pipelines.quality.waiting import WAITING_FOR_FIRST_DELIVERY, awaiting_first_delivery
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
    persistent noise), seasonal (the after side against a forecast of the KPI's level, seasons
    and trend from before go-live, with the trend's uncertainty) and difference-in-differences
    (the same forecast of the KPI's gap to the control sites). Each result has a 95 % interval,
    a p-value, a verdict (improved, worsened, no significant change, not enough evidence with
    its reason, a fake go-live in the periods before included) and a sentence in French and
    English. `preferred` marks the result a report leads with: controls first, then the
    season-and-trend model, then before/after. Table `impact_counterfactual` holds, period by
    period, what the KPI would have been without the transformation (the charts' band).
    A client with no value yet has nothing to analyse: it waits for its first delivery.
    """
    slug = context.partition_key
    config = cap.client_config(slug)
    with cap.warehouse(slug) as con:
        if awaiting_first_delivery(con):
            context.log.info("%s: %s, nothing to analyse", slug, WAITING_FOR_FIRST_DELIVERY)
            return dg.MaterializeResult(
                metadata={"dagster/row_count": 0, "status": WAITING_FOR_FIRST_DELIVERY}
            )
        results = analyse_with_counterfactuals(con, config, slug)
        rows = results.rows
        replace_impact(con, rows, results.counterfactual)
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
