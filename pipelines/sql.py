"""The one helper that reads DuckDB SQL files from `sql/`."""

from functools import cache
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@cache
def read_sql(name: str) -> str:
    """The text of `sql/<name>.sql`."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def run_sql(con: duckdb.DuckDBPyConnection, name: str, params: list[object] | None = None) -> None:
    """Execute `sql/<name>.sql` (one or several statements) on a connection."""
    if params is None:
        con.execute(read_sql(name))
    else:
        con.execute(read_sql(name), params)
