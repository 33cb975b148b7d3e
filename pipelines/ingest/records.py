"""What parsing a file produces: observations with lineage, rejections and warnings."""

import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd

from pipelines.catalogue import BASE_KPIS
from pipelines.ingest.text import column_letter

OBSERVATION_COLUMNS = [
    "site",
    "period_start",
    "grain",
    "kpi",
    "value",
    "unit",
    "sheet",
    "row",
    "column",
]
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
    """Everything read from one file. A file with any rejection is rejected as a whole."""

    observations: list[Observation] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _seen: dict[tuple[str, dt.date, str], Observation] = field(default_factory=dict, repr=False)

    def add(
        self,
        site: str,
        period_start: dt.date,
        grain: str,
        kpi: str,
        value: float | None,
        sheet: str | None,
        row: int,
        column: str | int,
    ) -> None:
        """Record a value; the same (site, period, KPI) twice with different values is rejected."""
        letter = column_letter(column) if isinstance(column, int) else column
        observation = Observation(
            site, period_start, grain, kpi, value, BASE_KPIS[kpi].unit, sheet, row, letter
        )
        key = (site, period_start, kpi)
        first = self._seen.get(key)
        if first is None:
            self._seen[key] = observation
            self.observations.append(observation)
        elif first.value != value:
            self.reject(
                sheet,
                row,
                letter,
                value,
                "duplicate_value",
                f"{kpi} for {site}, {period_start:%Y-%m-%d} is given twice with different values: "
                f"{_show(first.value)} at {_where(first)} and {_show(value)} at "
                f"{_where(observation)}",
            )

    def reject(
        self,
        sheet: str | None,
        row: int | None,
        column: str | int | None,
        value: object,
        rule: str,
        message: str,
    ) -> None:
        """Record a problem at a place in the file."""
        letter = column_letter(column) if isinstance(column, int) else column
        shown = None if value is None else str(value)
        self.rejections.append(Rejection(sheet, row, letter, shown, rule, message))

    def observations_frame(self) -> pd.DataFrame:
        """The observations as a DataFrame with `OBSERVATION_COLUMNS`."""
        return pd.DataFrame(self.observations, columns=OBSERVATION_COLUMNS)

    def rejections_frame(self) -> pd.DataFrame:
        """The rejections as a DataFrame with `REJECTION_COLUMNS`."""
        return pd.DataFrame(self.rejections, columns=REJECTION_COLUMNS)


def _show(value: float | None) -> str:
    return "missing" if value is None else f"{value:g}"


def _where(observation: Observation) -> str:
    sheet = f"sheet {observation.sheet!r} " if observation.sheet is not None else ""
    kind = "row" if observation.sheet is not None else "line"
    return f"{sheet}{kind} {observation.row} column {observation.column}"
