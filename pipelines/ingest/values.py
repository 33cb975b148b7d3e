"""Reading one cell as a number, the way the source's locale writes it.

A value is a float, or None when the client wrote a "missing" marker (blank, `n/a`, `-`, `NC`):
missing is recorded as missing, never as 0. Anything else that is not a number raises
`ValueProblem` with the rule it broke.
"""

import datetime as dt
import re
from typing import Literal

Locale = Literal["fr", "en"]

MISSING_MARKERS = frozenset(
    {"", "-", "--", "n/a", "na", "n.a.", "nc", "n.c.", "nd", "n.d.", "#n/a"}
)

_FR_NUMBER = re.compile(r"^[+-]?(\d{1,3}((\.\d{3})+|( \d{3})+)|\d+)(,\d+)?$")
_EN_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " "})


class ValueProblem(ValueError):
    """A cell that should hold a number and does not."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def parse_number(cell: object, locale: Locale, percent_points: bool = False) -> float | None:
    """The number in a cell, None when it is a missing marker.

    `percent_points`: the KPI is a percentage stored in points; text such as `12,5 %` and
    `12.5%` gives 12.5 either way.
    """
    if cell is None:
        return None
    if isinstance(cell, bool):
        raise ValueProblem("not_a_number", f"expected a number, got the boolean {cell}")
    if isinstance(cell, int | float):
        if cell != cell:  # NaN from an upstream reader: treat as blank
            return None
        return float(cell)
    if isinstance(cell, dt.date | dt.datetime | dt.time | dt.timedelta):
        raise ValueProblem("not_a_number", f"expected a number, got a date or time {cell}")
    text = str(cell).translate(_SPACES).strip()
    if text.casefold() in MISSING_MARKERS:
        return None
    if text[:1] in "=@":
        raise ValueProblem("formula_text", f"a formula or command, never evaluated: {text!r}")
    body = re.sub(r"\s*(€|eur|euros?)$", "", text, flags=re.IGNORECASE)
    is_percent = body.endswith("%")
    if is_percent:
        body = body[:-1].rstrip()
    body = re.sub(r" +", " ", body)
    number = _parse_locale_number(body, locale, text)
    if is_percent and not percent_points:
        raise ValueProblem(
            "unexpected_percent", f"a percentage where a number was expected: {text!r}"
        )
    return number


def _parse_locale_number(body: str, locale: Locale, original: str) -> float:
    if locale == "fr":
        if _FR_NUMBER.match(body):
            return float(body.replace(" ", "").replace(".", "").replace(",", "."))
        if _EN_NUMBER.match(body.replace(" ", "")) and "." in body:
            raise ValueProblem(
                "decimal_convention",
                f"{original!r} uses a decimal point where this source writes decimal commas (fr)",
            )
    else:
        if _EN_NUMBER.match(body):
            return float(body.replace(",", ""))
        if _FR_NUMBER.match(body) and ("," in body or " " in body):
            raise ValueProblem(
                "decimal_convention",
                f"{original!r} uses a decimal comma or space separators where this source "
                "writes English numbers (en)",
            )
    raise ValueProblem("not_a_number", f"expected a number, got {original!r}")
