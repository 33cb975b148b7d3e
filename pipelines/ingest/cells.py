"""The cells a layout found, run by run, before anything is interpreted.

Layouts only locate cells: which site, period and KPI each data cell belongs to, and where it is.
Interpreting them (site names, periods, numbers, duplicates) is set work done once for every
layout by `pipelines.ingest.normalize`, in DuckDB. A run is a column of a sheet (or a row of a
finance pack): its keys and places are mostly one value for the whole run, so a run of 100,000
cells costs a few numpy operations, not a Python object per cell.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CELL_COLUMNS = (
    "seq",
    "site_key",
    "site_column",
    "period_key",
    "period_row",
    "period_column",
    "year_hint",
    "kpi_key",
    "num",
    "text",
    "sheet",
    "row",
    "column",
)
_KEY_COLUMNS = (
    "site_key",
    "site_column",
    "period_key",
    "period_column",
    "kpi_key",
    "sheet",
    "column",
)
DATE_MARK = "\x00date:"
"""Prefix of a date or time found where a number was expected (the text says which)."""

Scalar = str | int | None
Many = Sequence[Scalar] | np.ndarray


@dataclass
class RawCells:
    """Runs of located cells: the keys to interpret, the value as a number or as text, and the
    place (sheet, 1-based row or line, column letter)."""

    _runs: list[dict[str, object]] = field(default_factory=list)
    _length: int = 0
    blank_cells: int = 0
    """Located value cells that are empty, kept or not: a formula saved without its value reads
    as one, so only a file with blanks needs its formulas checked."""

    def __len__(self) -> int:
        return self._length

    def add_run(
        self,
        cells: Sequence[object] | np.ndarray,
        *,
        rows: Many | int,
        column: Many | str,
        sheet: str | None,
        site_key: Many | str | None,
        period_key: Many | str | None,
        kpi_key: Many | str | None,
        year_hint: Many | int | None = None,
        site_column: str | None = None,
        period_row: int | None = None,
        period_column: Many | str | None = None,
        keep: np.ndarray | None = None,
    ) -> None:
        """Append one run of cells. Each key or place is one value for the whole run, or one per
        cell. `site_column`, `period_row` and `period_column` say where the site and period keys
        are written when that is not the cell's own row or column (a finance pack's header).
        `keep` selects the cells to take (and their per-cell keys)."""
        values = np.asarray(cells, dtype=object)
        self.blank_cells += int(np.count_nonzero(blank_mask(values)))
        if keep is not None:
            values = values[keep]
            rows, column, site_key, period_key, kpi_key, year_hint, period_column = (
                np.asarray(part, dtype=object)[keep] if _is_many(part) else part
                for part in (rows, column, site_key, period_key, kpi_key, year_hint, period_column)
            )
        num, text = split_cells(values)
        self._runs.append(
            {
                "length": len(values),
                "num": num,
                "text": text,
                "row": rows,
                "column": column,
                "sheet": sheet,
                "site_key": site_key,
                "site_column": site_column,
                "period_key": period_key,
                "period_row": period_row,
                "period_column": period_column,
                "year_hint": year_hint,
                "kpi_key": kpi_key,
            }
        )
        self._length += len(values)

    def frame(self) -> pd.DataFrame:
        """The cells as a DataFrame with typed columns, ready for DuckDB.

        Keys and places become categoricals: DuckDB scans their codes instead of converting a
        Python string per cell.
        """
        lengths = np.array([run["length"] for run in self._runs], dtype=np.int64)
        columns: dict[str, object] = {"seq": np.arange(self._length, dtype=np.int64)}
        for name in _KEY_COLUMNS:
            columns[name] = _categorical([run[name] for run in self._runs], lengths)
        columns["period_row"] = _numbers([r["period_row"] for r in self._runs], lengths, "Int64")
        columns["year_hint"] = _numbers([r["year_hint"] for r in self._runs], lengths, "Int32")
        columns["row"] = _numbers([r["row"] for r in self._runs], lengths, "int64")
        columns["num"] = _concat([run["num"] for run in self._runs], np.float64)
        columns["text"] = _concat([run["text"] for run in self._runs], object)
        return pd.DataFrame(columns, columns=list(CELL_COLUMNS))


def key_text(cell: object) -> str | None:
    """A label or period cell as text: dates as ISO dates, blanks as None."""
    if cell is None or cell == "":
        return None
    if isinstance(cell, dt.datetime):
        return cell.date().isoformat()
    if isinstance(cell, dt.date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def key_texts(values: np.ndarray) -> list[str | None]:
    """`key_text` of each cell of a column; a column of spreadsheet dates in one numpy step."""
    kinds = np.fromiter(map(type, values), dtype=object, count=len(values))
    if len(values) and (np.equal(kinds, dt.date) | np.equal(kinds, dt.datetime)).all():
        return values.astype("datetime64[D]").astype(str).tolist()
    return [key_text(cell) for cell in values]


def split_cells(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(numbers, texts) of a run of cells: a number goes to the first array (NaN elsewhere),
    anything else that is not blank to the second, as text (None elsewhere)."""
    kinds = np.fromiter(map(type, values), dtype=object, count=len(values))
    is_number = np.equal(kinds, float) | np.equal(kinds, int)
    num = np.full(len(values), np.nan)
    if is_number.any():
        num[is_number] = values[is_number].astype(np.float64)
    text = np.full(len(values), None, dtype=object)
    other = ~is_number & ~blank_mask(values)
    if other.any():
        text[other] = [_as_text(cell) for cell in values[other]]
    return num, text


def _as_text(cell: object) -> str:
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, dt.date | dt.datetime | dt.time | dt.timedelta):
        return f"{DATE_MARK}{cell.isoformat()}"
    return str(cell)


def blank_mask(values: np.ndarray) -> np.ndarray:
    """True where a cell is empty (None or an empty string), element-wise."""
    return (values == "") | np.equal(values, None)


def _categorical(parts: list[object], lengths: np.ndarray) -> pd.Categorical:
    """One categorical from per-run values: a scalar repeats over its run, a sequence is the
    run's own values."""
    if all(not _is_many(part) for part in parts):
        categories = sorted({part for part in parts if part is not None})
        code_of = {category: code for code, category in enumerate(categories)}
        codes = np.array([code_of.get(part, -1) for part in parts], dtype=np.int64)
        return pd.Categorical.from_codes(np.repeat(codes, lengths), categories=categories)
    values = _concat(
        [
            np.asarray(part, dtype=object) if _is_many(part) else np.full(length, part, object)
            for part, length in zip(parts, lengths, strict=True)
        ],
        object,
    )
    return pd.Categorical(values)


def _numbers(parts: list[object], lengths: np.ndarray, dtype: str) -> object:
    """Per-run integers (a scalar repeats over its run; None is missing) as one array."""
    pieces = [
        np.asarray(part, dtype=np.float64)
        if _is_many(part)
        else np.full(length, np.nan if part is None else part, dtype=np.float64)
        for part, length in zip(parts, lengths, strict=True)
    ]
    values = _concat(pieces, np.float64)
    if dtype == "int64":
        return values.astype(np.int64)
    return pd.array(values, dtype=dtype)


def _concat(pieces: list[np.ndarray], dtype: object) -> np.ndarray:
    return np.concatenate(pieces).astype(dtype, copy=False) if pieces else np.array([], dtype)


def _is_many(value: object) -> bool:
    return isinstance(value, list | tuple | np.ndarray)
