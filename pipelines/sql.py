"""The one helper that reads DuckDB SQL from `sql/`: one statement (or DDL script) per file."""

from collections.abc import Mapping
from functools import cache
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@cache
def read_sql(name: str) -> str:
    """The text of `sql/<name>.sql`."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def execute_sql(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, object] | None = None
) -> duckdb.DuckDBPyConnection:
    """Execute `sql/<name>.sql` with named parameters (`$sha256`); fetch from the result."""
    return con.execute(read_sql(name), params) if params else con.execute(read_sql(name))
