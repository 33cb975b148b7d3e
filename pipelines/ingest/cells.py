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
from typing import NamedTuple

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


_NUMERIC_KINDS = frozenset({float, int, type(None)})


class SplitCells(NamedTuple):
    """A run of cells by kind: `num` the numbers (NaN elsewhere), `text` the other cells that
    are not blank, as text (None elsewhere; None for the whole run when it has no text)."""

    num: np.ndarray
    text: np.ndarray | None

    def blank(self) -> np.ndarray:
        """True where a cell is empty: neither a number nor text."""
        empty = np.isnan(self.num)
        return empty if self.text is None else empty & np.equal(self.text, None)


@dataclass
class RawCells:
    """Runs of located cells: the keys to interpret, the value as a number or as text, and the
    place (sheet, 1-based row or line, column letter)."""

    _runs: list[dict[str, object]] = field(default_factory=list)
    _length: int = 0
    blank_cells: int = 0
    """Located value cells that are empty, kept or not: a formula saved without its value reads
    as one, so only a file with blanks needs its formulas checked."""
    key_texts: dict[object, str | None] = field(default_factory=dict)
    """The text of each key cell seen in the file (`key_texts`' memo: a workbook repeats its
    periods on every sheet)."""
    _selection: tuple[object, np.ndarray, object] | None = None

    def __len__(self) -> int:
        return self._length

    def add_run(
        self,
        cells: SplitCells | Sequence[object] | np.ndarray,
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
        `keep` selects the cells to take (and their per-cell keys); `cells` may come split."""
        split = cells if isinstance(cells, SplitCells) else split_cells(np.asarray(cells, object))
        self.blank_cells += int(np.count_nonzero(split.blank()))
        num, text = split
        if keep is not None:
            num, text = num[keep], None if text is None else text[keep]
            rows, column, site_key, period_key, kpi_key, year_hint, period_column = (
                self._selected(part, keep)
                for part in (rows, column, site_key, period_key, kpi_key, year_hint, period_column)
            )
        self._runs.append(
            {
                "length": len(num),
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
        self._length += len(num)

    def _selected(self, part: object, keep: np.ndarray) -> object:
        """The kept cells' values of a per-cell part (a scalar part is the run's, as it is).

        A sheet's keys are the same objects for each of its KPI runs: the last selection is
        kept (with the objects themselves, so that it cannot be mistaken for another's)."""
        if not _is_many(part):
            return part
        last = self._selection
        if last is not None and last[0] is part and last[1] is keep:
            return last[2]
        selected = part[keep] if isinstance(part, pd.Categorical) else np.asarray(part)[keep]
        self._selection = (part, keep, selected)
        return selected

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
        columns["text"] = _concat(
            [
                np.full(run["length"], None, object) if run["text"] is None else run["text"]
                for run in self._runs
            ],
            object,
        )
        return pd.DataFrame(columns, columns=list(CELL_COLUMNS), copy=False)


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


def key_texts(values: np.ndarray, known: dict[object, str | None] | None = None) -> pd.Categorical:
    """`key_text` of each cell of a column, as a categorical: each distinct cell (a period
    repeated on every KPI's run, a site on thousands of lines) is turned into text once, and
    once per file when the same `known` texts are passed for every column."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    if any(isinstance(cell, bool) for cell in uniques):  # factorize takes True for 1
        codes, uniques = pd.factorize(np.array([key_text(cell) for cell in values], object))
    known = {} if known is None else known
    texts = [
        known[cell] if cell in known else known.setdefault(cell, key_text(cell)) for cell in uniques
    ]
    categories = list(dict.fromkeys(text for text in texts if text is not None))
    position = {text: index for index, text in enumerate(categories)}
    lookup = np.array([position.get(text, -1) for text in texts] + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(lookup[codes], categories=categories)


def split_cells(values: np.ndarray) -> SplitCells:
    """A run of cells split by kind. A run of numbers and blanks only, the usual case, takes
    two C-speed passes."""
    if set(map(type, values)) <= _NUMERIC_KINDS:
        return SplitCells(np.asarray(values, dtype=object).astype(np.float64), None)
    kinds = np.fromiter(map(type, values), dtype=object, count=len(values))
    is_number = np.equal(kinds, float) | np.equal(kinds, int)
    num = np.full(len(values), np.nan)
    if is_number.any():
        num[is_number] = values[is_number].astype(np.float64)
    text = np.full(len(values), None, dtype=object)
    other = ~is_number & ~blank_mask(values)
    if other.any():
        text[other] = [_as_text(cell) for cell in values[other]]
    return SplitCells(num, text)


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
    """One categorical from per-run values: a scalar repeats over its run; a sequence or a
    categorical is the run's own values (a categorical shared by several runs, such as a sheet's
    periods, is looked up once)."""
    code_of: dict[object, int] = {}
    lookups: dict[int, np.ndarray] = {}
    run_codes = np.full(len(parts), -1, dtype=np.int64)
    many: dict[int, np.ndarray] = {}
    for index, part in enumerate(parts):
        if not _is_many(part):
            if part is not None:
                run_codes[index] = code_of.setdefault(part, len(code_of))
            continue
        # A categorical of the runs (alive while this runs, so its dtype's id is its own) is
        # looked up once; a list is made a categorical for this run only.
        shared = isinstance(part, pd.Categorical)
        part = part if shared else pd.Categorical(np.asarray(part, dtype=object))
        lookup = lookups.get(id(part.dtype)) if shared else None
        if lookup is None:
            known = [code_of.setdefault(c, len(code_of)) for c in part.categories.tolist()]
            lookup = np.array([*known, -1], dtype=np.int64)
            if shared:
                lookups[id(part.dtype)] = lookup
        many[index] = lookup[part.codes]  # code -1 (missing) takes the last entry, -1
    codes = np.repeat(run_codes, lengths)
    if many:
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        for index, run in many.items():
            codes[starts[index] : starts[index] + len(run)] = run
    return pd.Categorical.from_codes(codes, categories=list(code_of))


def _numbers(parts: list[object], lengths: np.ndarray, dtype: str) -> object:
    """Per-run integers (a scalar repeats over its run; None is missing) as one array."""
    scalars = [np.nan if part is None or _is_many(part) else part for part in parts]
    values = np.repeat(np.array(scalars, dtype=np.float64), lengths)
    if any(_is_many(part) for part in parts):
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        for start, part in zip(starts, parts, strict=True):
            if _is_many(part):
                values[start : start + len(part)] = np.asarray(part, dtype=np.float64)
    if dtype == "int64":
        return values.astype(np.int64)
    return pd.array(values, dtype=dtype)


def _concat(pieces: list[np.ndarray], dtype: object) -> np.ndarray:
    return np.concatenate(pieces).astype(dtype, copy=False) if pieces else np.array([], dtype)


def _is_many(value: object) -> bool:
    return isinstance(value, list | tuple | np.ndarray | pd.Categorical)
