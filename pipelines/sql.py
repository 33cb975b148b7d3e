"""The one helper that reads DuckDB SQL from `sql/`: one statement (or DDL script) per file."""

import datetime as dt
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@cache
def read_sql(name: str) -> str:
    """The text of `sql/<name>.sql`."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def execute_sql(
    con: duckdb.DuckDBPyConnection,
    name: str,
    params: Mapping[str, object] | None = None,
    identifiers: Mapping[str, str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Execute `sql/<name>.sql` with named parameters (`$sha256`); fetch from the result.

    `identifiers` fill `{placeholders}` that name columns, which SQL parameters cannot; they must
    be plain lowercase identifiers, never text from a client's file.
    """
    sql = read_sql(name)
    if identifiers:
        for value in identifiers.values():
            if not _IDENTIFIER.match(value):
                raise ValueError(f"not a plain identifier: {value!r}")
        sql = sql.format(**identifiers)
    if not params:
        return con.execute(sql)
    return con.execute(sql, {key: _naive_utc(value) for key, value in params.items()})


def _naive_utc(value: object) -> object:
    """A zone-aware time as naive UTC, the way every TIMESTAMP of Cap holds it: DuckDB would
    convert it to the machine's local zone (its session zone; without the ICU extension it
    cannot be set to UTC)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value
