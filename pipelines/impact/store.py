"""Writing the impact results into the client's warehouse, as one transaction."""

import duckdb
import pandas as pd

from pipelines.sql import execute_sql
from pipelines.warehouse import transaction


def replace_impact(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> None:
    """Replace the `impact` table's rows with `rows` (columns of `IMPACT_COLUMNS`), all or
    nothing."""
    con.register("impact_rows", rows)
    try:
        with transaction(con):
            execute_sql(con, "delete_impact")
            execute_sql(con, "insert_impact")
    finally:
        con.unregister("impact_rows")
