"""Why a file was set aside, in the client's language: each problem's place (sheet, row,
column) and the rule it broke, worded from `reports/strings.yaml` (`problems`), with the value
as the file wrote it. The detailed English message stays for the consultant's pages."""

import pandas as pd

from pipelines.report.content import say, strings

BOUNDS_SUFFIX = "_within_bounds"
"""Delivery rules on a KPI's plausible bounds are named `<kpi>_within_bounds`."""


def rule_words(language: str, rule: str) -> str:
    """What breaking `rule` means, in `language` (a generic phrase for a rule not worded)."""
    words = strings(language)["problems"]
    key = "within_bounds" if rule.endswith(BOUNDS_SUFFIX) else rule
    return str(words.get(key, words["other"]))


def place_words(language: str, sheet: str | None, row: int | None, column: str | None) -> str:
    """`feuille « Lyon », ligne 12, colonne D` (the known parts), or the whole file."""
    parts = []
    if sheet is not None:
        parts.append(say(language, "place_sheet", sheet=sheet))
    if row is not None:
        parts.append(say(language, "place_row" if sheet is not None else "place_line", row=row))
    if column is not None:
        parts.append(say(language, "place_column", column=column))
    return ", ".join(parts) or say(language, "place_file")


def problem_text(
    language: str,
    rule: str,
    sheet: str | None,
    row: int | None,
    column: str | None,
    value: str | None,
) -> str:
    """One problem: its place, what is wrong and the value the file holds there."""
    text = say(language, "problem", place=place_words(language, sheet, row, column),
               problem=rule_words(language, rule))  # fmt: skip
    if value is not None and str(value).strip():
        text += say(language, "problem_value", value=str(value).strip()[:40])
    return text


def file_reasons(language: str, problems: pd.DataFrame) -> dict[str, str]:
    """Per file name, its first problems (rows of `select_report_problems.sql`) in one line,
    with how many more there are."""
    reasons: dict[str, str] = {}
    for name, rows in problems.groupby("file", sort=False):
        texts = [
            problem_text(
                language,
                str(row.rule),
                None if pd.isna(row.sheet) else str(row.sheet),
                None if pd.isna(row.row) else int(row.row),
                None if pd.isna(row.column) else str(row.column),
                None if pd.isna(row.value) else str(row.value),
            )
            for row in rows.itertuples()
        ]
        more = int(rows["problems"].iloc[0]) - len(texts)
        if more > 0:
            texts.append(say(language, "problems_more", count=more))
        text = say(language, "problems_separator").join(texts)
        reasons[str(name)] = text[:1].upper() + text[1:]
    return reasons
