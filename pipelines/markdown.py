"""Markdown tables for Dagster metadata (the UI renders them)."""

import pandas as pd

from pipelines.safe_text import for_markdown


def markdown_table(frame: pd.DataFrame, max_rows: int = 20) -> str:
    """A markdown table of the first `max_rows` rows, with a line saying how many were left out."""
    if frame.empty:
        return "_(none)_"
    shown = frame.head(max_rows)
    header = "| " + " | ".join(str(column) for column in shown.columns) + " |"
    rule = "|" + "---|" * len(shown.columns)
    rows = [
        "| " + " | ".join(_cell(value) for value in record) + " |"
        for record in shown.itertuples(index=False)
    ]
    more = len(frame) - len(shown)
    tail = [f"\n_… and {more} more rows_"] if more > 0 else []
    return "\n".join([header, rule, *rows, *tail])


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.6g}"
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat()[:19]
    return for_markdown(str(value))
