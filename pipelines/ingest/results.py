"""What parsing one file produces: observations with lineage, rejections and warnings."""

import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple

import duckdb
import pandas as pd

from pipelines.sql import execute_sql

REJECTION_COLUMNS = ["sheet", "row", "column", "value", "rule", "message"]


class Observation(NamedTuple):
    """One value as delivered, before it is stored (client, file and delivery are added then)."""

    site: str
    period_start: dt.date
    grain: str
    kpi: str
    value: float | None
    unit: str
    sheet: str | None
    row: int
    column: str


class Rejection(NamedTuple):
    """Why (part of) a file was not understood, and exactly where."""

    sheet: str | None
    row: int | None
    column: str | None
    value: str | None
    rule: str
    message: str

    def location(self) -> str:
        """`sheet 'Lyon', row 12, column D` (the parts that are known)."""
        parts = []
        if self.sheet is not None:
            parts.append(f"sheet {self.sheet!r}")
        if self.row is not None:
            parts.append(f"{'row' if self.sheet is not None else 'line'} {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        return ", ".join(parts) or "whole file"


@dataclass
class ParsedFile:
    """Everything read from one file. A file with any rejection is rejected as a whole.

    The values themselves are the view `new_observations` of `con` (set work in DuckDB), over
    the frames registered on it until `release()`; `observations` reads them back for small
    files and tests.
    """

    con: duckdb.DuckDBPyConnection | None = None
    rejections: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """Register `frame` on `con` as `name` for the views, until `release()`."""
        assert self.con is not None
        self.con.register(name, frame)
        self.registered.append(name)

    def release(self) -> None:
        """Unregister the frames and drop the cells read for this file: once its values are
        stored (or it is rejected), the views are not read again."""
        if self.con is None:
            return
        for name in self.registered:
            self.con.unregister(name)
        self.registered.clear()
        execute_sql(self.con, "drop_raw_cells")

    def reject(
        self,
        sheet: str | None,
        row: int | None,
        column: str | None,
        value: object,
        rule: str,
        message: str,
    ) -> None:
        """Record a problem at a place in the file."""
        shown = None if value is None else str(value)
        self.rejections.append(Rejection(sheet, row, column, shown, rule, message))

    @property
    def observations(self) -> list[Observation]:
        """The values read, in file order."""
        if self.con is None:
            return []
        rows = execute_sql(self.con, "select_new_observations").fetchall()
        return [Observation(*row) for row in rows]

    def rejections_frame(self) -> pd.DataFrame:
        """The rejections as a DataFrame with `REJECTION_COLUMNS`."""
        return pd.DataFrame(self.rejections, columns=REJECTION_COLUMNS)
