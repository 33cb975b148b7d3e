"""Writing the impact results into the client's warehouse, as one transaction."""

import duckdb
import pandas as pd

from pipelines.sql import execute_sql
from pipelines.warehouse import transaction


def replace_impact(
    con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, counterfactual: pd.DataFrame | None = None
) -> None:
    """Replace the `impact` table's rows with `rows` (columns of `IMPACT_COLUMNS`) and the
    `impact_counterfactual` table's with `counterfactual` (`COUNTERFACTUAL_COLUMNS`; none when
    not given), all or nothing."""
    paths = counterfactual if counterfactual is not None and len(counterfactual) else None
    con.register("impact_rows", rows)
    if paths is not None:
        con.register("counterfactual_rows", paths)
    try:
        with transaction(con):
            execute_sql(con, "delete_impact")
            execute_sql(con, "insert_impact")
            execute_sql(con, "delete_impact_counterfactual")
            if paths is not None:
                execute_sql(con, "insert_impact_counterfactual")
    finally:
        con.unregister("impact_rows")
        if paths is not None:
            con.unregister("counterfactual_rows")
