"""Interpreting located cells as observations, set-wise, for every layout alike.

The cells of a file (`pipelines.ingest.cells.RawCells`, or a CSV read by DuckDB) are in the table
`raw_cells` of a DuckDB connection. Their site, period and KPI keys are few: Python interprets each
distinct key once, with the same rules everywhere (aliases, month names, ISO weeks, indicator
codes). Values are read as numbers in SQL, in the source's locale; the rare text that is not a
number goes back to Python, which says why. The result is the temp table `new_observations`, and
rejections and warnings that name the place of each problem.
"""

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from pipelines.catalogue import BASE_KPIS
from pipelines.config.model import ClientConfig, LongSource, RecordsSource
from pipelines.ingest.cells import DATE_MARK
from pipelines.ingest.layouts import AnyLayoutSource
from pipelines.ingest.matching import SiteResolver, is_total_label
from pipelines.ingest.periods import PeriodProblem, parse_day, parse_period, to_period
from pipelines.ingest.results import ParsedFile
from pipelines.ingest.text import normalize
from pipelines.ingest.values import MISSING_MARKERS, ValueProblem, parse_number
from pipelines.sql import execute_sql

MAX_VALUE_PROBLEMS = 1000
PLAIN_NUMBERS = {"fr": r"[+-]?\d+(,\d+)?", "en": r"[+-]?\d+(\.\d+)?"}
"""Text numbers `create_parsed_cells.sql` reads with a quick cast, by locale (the same patterns)."""


@dataclass(frozen=True)
class _Key:
    kind: str
    key: str | None
    year_hint: int | None
    cells: int
    sheet: str | None
    row: int | None
    column: str | None


def normalize_cells(
    con: duckdb.DuckDBPyConnection,
    config: ClientConfig,
    source: AnyLayoutSource,
    today: dt.date,
    parsed: ParsedFile,
) -> None:
    """Turn `raw_cells` into the view `new_observations`, recording every problem in `parsed`.

    The views read the frames registered here until `parsed.release()`.
    """
    grain = source.grain or config.grain
    locale = source.locale or config.language
    execute_sql(con, "create_cells")
    execute_sql(con, "create_reading_tables")
    keys = [_Key(*row) for row in execute_sql(con, "select_cell_keys").fetchall()]
    date_format = source.date_format if isinstance(source, RecordsSource) else None
    frames = {
        "site_map": _site_map(config, keys, parsed),
        "period_map": _period_map(keys, grain, date_format, today, parsed),
        "kpi_map": _kpi_map(source, keys, parsed),
        "reading": pd.DataFrame(
            {"grain": [grain], "locale": [locale], "missing_markers": [sorted(MISSING_MARKERS)]}
        ).astype({"grain": "object", "locale": "object"}),
    }
    if isinstance(source, RecordsSource):
        frames["aggregations"] = pd.DataFrame(
            [(kpi, measure.agg) for kpi, measure in source.measures.items()],
            columns=["kpi", "agg"],
        )
    for name, frame in frames.items():
        parsed.register(name, frame)
    execute_sql(con, "create_parsed_cells")
    _explain_unparsed(con, locale, source, parsed)
    if isinstance(source, RecordsSource):
        execute_sql(con, "create_new_observations_from_records")
    else:
        if _reject_conflicts(con, parsed):
            execute_sql(con, "insert_repeated_cells")
        execute_sql(con, "create_new_observations")


def _site_map(config: ClientConfig, keys: list[_Key], parsed: ParsedFile) -> pd.DataFrame:
    resolver = SiteResolver(config)
    mapped: list[tuple[str | None, str | None]] = []
    for key in (k for k in keys if k.kind == "site"):
        if key.key is None:
            _reject_key(parsed, key, None, "no_site", "no site on this line")
            continue
        if is_total_label(key.key):
            continue
        try:
            mapped.append((key.key, resolver.resolve(key.key)))
        except ValueProblem as problem:
            if key.key == key.sheet:  # the site is the sheet's name: the sheet is the place
                parsed.reject(key.sheet, None, None, key.key, problem.rule, str(problem))
            else:
                _reject_key(parsed, key, key.key, problem.rule, str(problem))
    frame = pd.DataFrame(mapped, columns=["site_key", "site"], dtype="object")
    # One integer per site (aliases share it): with the period and KPI, one exact bigint key.
    frame["site_id"] = pd.factorize(frame["site"])[0].astype("int64")
    return frame


def _period_map(
    keys: list[_Key], grain: str, date_format: str | None, today: dt.date, parsed: ParsedFile
) -> pd.DataFrame:
    """Each period key's period; for transaction lines (`date_format` set), each date's."""
    mapped: list[tuple[str | None, int | None, dt.date]] = []
    for key in (k for k in keys if k.kind == "period"):
        if key.key is not None and is_total_label(key.key):
            continue  # a total row
        if key.key is None:
            _reject_key(parsed, key, None, "bad_period", "values without a period on this row")
            continue
        try:
            if date_format is None:
                period = parse_period(key.key, grain, key.year_hint)
            else:
                period = to_period(parse_day(key.key, date_format), grain)
        except PeriodProblem as problem:
            _reject_key(parsed, key, key.key, "bad_period", str(problem))
            continue
        if period > today:
            _reject_key(
                parsed,
                key,
                key.key,
                "future_period",
                f"period {period:%Y-%m-%d} is after today ({today:%Y-%m-%d})",
            )
            continue
        mapped.append((key.key, key.year_hint or 0, period))  # 0: no year header
    frame = pd.DataFrame(mapped, columns=["period_key", "year_hint", "period_start"])
    frame["period_key"] = frame["period_key"].astype("object")
    frame["year_hint"] = frame["year_hint"].astype("int32")
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
    return frame


def _kpi_map(source: AnyLayoutSource, keys: list[_Key], parsed: ParsedFile) -> pd.DataFrame:
    """Each KPI key's KPI, unit and factors: `factor` scales a value (k€ to €), `cell_factor` a
    numeric cell (a percentage KPI whose cells hold fractions, 0.359, also times 100)."""
    codes = (
        {normalize(code): kpi for code, kpi in source.indicators.items()}
        if isinstance(source, LongSource)
        else {kpi: kpi for kpi in BASE_KPIS}
    )
    mapped = []
    ignored = []
    for key in (k for k in keys if k.kind == "kpi"):
        code = key.key if not isinstance(source, LongSource) else normalize(key.key or "")
        kpi = codes.get(code) if code is not None else None
        if kpi is None:
            ignored.append(f"{key.key!r} ({key.cells} rows)")
            continue
        mapped.append(
            (
                key.key,
                kpi,
                BASE_KPIS[kpi].unit,
                source.scale.get(kpi, 1.0),
                BASE_KPIS[kpi].unit == "pct",
            )
        )
    if ignored:
        parsed.warnings.append("indicators not in client.yaml, ignored: " + ", ".join(ignored))
    frame = pd.DataFrame(
        mapped, columns=["kpi_key", "kpi", "unit", "factor", "is_percent_kpi"]
    ).astype({"kpi_key": "object", "kpi": "object", "unit": "object", "factor": "float64"})
    frame["kpi_id"] = frame["kpi"].map({kpi: index for index, kpi in enumerate(BASE_KPIS)})
    fraction = source.percent_cells == "fraction"
    frame["cell_factor"] = frame["factor"] * np.where(
        frame["is_percent_kpi"].astype(bool) & fraction, 100, 1
    )
    return frame.astype({"kpi_id": "int64", "cell_factor": "float64"})


def _explain_unparsed(
    con: duckdb.DuckDBPyConnection, locale: str, source: AnyLayoutSource, parsed: ParsedFile
) -> None:
    """Python's reading of the text SQL could not read: a rejection naming the cell, or (should
    the two ever disagree) the value Python reads."""
    ((to_read,),) = execute_sql(
        con, "count_text_to_read", {"plain_number": PLAIN_NUMBERS[locale]}
    ).fetchall()
    if not to_read:
        return  # every cell is a number, a blank or a plain text number
    rows = execute_sql(con, "select_unparsed_cells", {"limit": MAX_VALUE_PROBLEMS}).fetchall()
    fixed: list[tuple[int, float | None]] = []
    for seq, kpi, text, sheet, row, column in rows:
        if text.startswith(DATE_MARK):
            shown = text.removeprefix(DATE_MARK)
            parsed.reject(
                sheet, row, column, shown, "not_a_number",
                f"{kpi}: expected a number, got a date or time {shown}",
            )  # fmt: skip
            continue
        try:
            value = parse_number(text, locale, percent_points=BASE_KPIS[kpi].unit == "pct")
        except ValueProblem as problem:
            parsed.reject(sheet, row, column, text, problem.rule, f"{kpi}: {problem}")
            continue
        fixed.append((seq, None if value is None else value * source.scale.get(kpi, 1.0)))
    if fixed:
        con.register("fixed_readings", pd.DataFrame(fixed, columns=["seq", "value"]))
        execute_sql(con, "update_fixed_values")
        con.unregister("fixed_readings")


def _reject_conflicts(con: duckdb.DuckDBPyConnection, parsed: ParsedFile) -> bool:
    """Reject each value given twice with different values; True when anything repeats."""
    repeated = execute_sql(con, "select_conflicting_values").fetchall()
    for site, period, kpi, values, sheets, rows, columns in repeated:
        if len(values) < 2:
            continue  # the same value twice: kept once
        places = [_place(sheets[i], rows[i], columns[i]) for i in range(2)]
        parsed.reject(
            sheets[1],
            rows[1],
            columns[1],
            values[1],
            "duplicate_value",
            f"{kpi} for {site}, {period:%Y-%m-%d} is given twice with different values: "
            f"{_show(values[0])} at {places[0]} and {_show(values[1])} at {places[1]}",
        )
    return bool(repeated)


def _reject_key(parsed: ParsedFile, key: _Key, value: str | None, rule: str, message: str) -> None:
    """Reject a key at its first place, saying on how many rows it appears when more than one."""
    if key.cells > 1 and parsed.con is not None:
        params = {"kind": key.kind, "key": key.key}
        ((rows,),) = execute_sql(parsed.con, "count_key_rows", params).fetchall()
        if rows > 1:
            message += f" ({rows} {'rows' if key.sheet is not None else 'lines'}, the first shown)"
    parsed.reject(key.sheet, key.row, key.column, value, rule, message)


def _show(value: float | None) -> str:
    return "missing" if value is None else f"{value:g}"


def _place(sheet: str | None, row: int, column: str) -> str:
    prefix = f"sheet {sheet!r} row" if sheet is not None else "line"
    return f"{prefix} {row} column {column}"
