"""Reading a cell as a period: the first day of its month, or the Monday of its ISO week.

Accepts real spreadsheet dates (any day of a month means that month), French and English month
text (`janv. 2024`, `Janvier 2024`, `août`, `Jan-25`, `01/2024`), day-first dates, ISO dates and
ISO weeks (`2024-W01`, `2024-S01`). Never reads a date month-first.
"""

import datetime as dt
import re
from functools import cache
from typing import Literal

from babel.dates import get_month_names

from pipelines.ingest.text import normalize

Grain = Literal["month", "week"]

# Informal spellings seen in client files, beyond the locales' own names and abbreviations.
_INFORMAL_MONTHS = {"jan": 1, "fev": 2, "fevr": 2, "avr": 4, "juil": 7, "aou": 8, "sept": 9}


@cache
def _month_numbers() -> dict[str, int]:
    """Month names and abbreviations of French and English (Babel), normalised, to numbers."""
    numbers = dict(_INFORMAL_MONTHS)
    for locale in ("fr", "en"):
        for width in ("wide", "abbreviated"):
            for number, name in get_month_names(width, locale=locale).items():
                numbers[normalize(name).rstrip(".")] = number
    return numbers


_WEEK = re.compile(r"^(\d{4})\s*-?\s*[ws]\s*(\d{1,2})$")
_WEEK_FIRST = re.compile(r"^[ws]\s*(\d{1,2})\s*[-/ ]\s*(\d{4})$")
_MONTH_NUMBER = re.compile(r"^(\d{1,2})\s*[/.-]\s*(\d{4})$")
_ISO_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ t]\d{1,2}:\d{2}(?::\d{2})?)?$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})$")
_MONTH_TEXT = re.compile(r"^([a-z]+)\.?(?:\s*[-/ ]\s*'?(\d{4}|\d{2}))?$")


class PeriodProblem(ValueError):
    """A cell that should name a period and does not."""


def month_name_number(text: str) -> int | None:
    """The month number of a French or English month name or abbreviation, else None."""
    return _month_numbers().get(normalize(text).rstrip("."))


def to_period(day: dt.date, grain: Grain) -> dt.date:
    """The period containing a day: first of its month, or Monday of its ISO week."""
    if grain == "month":
        return day.replace(day=1)
    return day - dt.timedelta(days=day.weekday())


def parse_period(cell: object, grain: Grain, year: int | None = None) -> dt.date:
    """The start of the period a cell names; `year` completes a month name written alone."""
    if isinstance(cell, dt.datetime):
        return to_period(cell.date(), grain)
    if isinstance(cell, dt.date):
        return to_period(cell, grain)
    if cell is None or isinstance(cell, bool | int | float):
        raise PeriodProblem(f"expected a period, got {cell!r}")
    text = normalize(str(cell))
    week = _WEEK.match(text) or _WEEK_FIRST.match(text)
    if week:
        if grain != "week":
            raise PeriodProblem(f"{cell!r} is a week, but this source is monthly")
        year_text, week_text = (
            week.groups() if _WEEK.match(text) else (week.group(2), week.group(1))
        )
        try:
            return dt.date.fromisocalendar(int(year_text), int(week_text), 1)
        except ValueError:
            raise PeriodProblem(f"{cell!r} is not an ISO week of {year_text}") from None
    day = _parse_day(text, cell)
    if day is not None:
        return to_period(day, grain)
    month = _parse_month(text, cell, year)
    if grain == "week":
        raise PeriodProblem(f"{cell!r} is a month, but this source is weekly")
    return month


def _parse_day(text: str, cell: object) -> dt.date | None:
    try:
        if match := _ISO_DATE.match(text):
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        if match := _DAY_FIRST.match(text):
            year_value = int(match[3]) + (2000 if len(match[3]) == 2 else 0)
            return dt.date(year_value, int(match[2]), int(match[1]))
    except ValueError:
        raise PeriodProblem(f"{cell!r} is not a valid date (read day first)") from None
    return None


def _parse_month(text: str, cell: object, year: int | None) -> dt.date:
    try:
        if match := _MONTH_NUMBER.match(text):
            return dt.date(int(match[2]), int(match[1]), 1)
        if match := _ISO_MONTH.match(text):
            return dt.date(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise PeriodProblem(f"{cell!r} is not a valid month") from None
    if match := _MONTH_TEXT.match(text):
        month = month_name_number(match[1])
        if month is not None:
            if match[2]:
                year_value = int(match[2]) + (2000 if len(match[2]) == 2 else 0)
            elif year is not None:
                year_value = year
            else:
                raise PeriodProblem(f"{cell!r} names a month without a year")
            return dt.date(year_value, month, 1)
    raise PeriodProblem(f"expected a period (a date, a month or an ISO week), got {cell!r}")


def parse_day(cell: object, date_format: str) -> dt.date:
    """A transaction's date: a spreadsheet date, or text written day first (`31/01/2025`) or
    as an ISO date (`2025-01-31`), as the source says. Never read month first."""
    if isinstance(cell, dt.datetime):
        return cell.date()
    if isinstance(cell, dt.date):
        return cell
    text = normalize(str(cell)) if cell is not None else ""
    pattern = _ISO_DATE if date_format == "iso" else _DAY_FIRST
    if not pattern.match(text):
        expected = "2025-01-31" if date_format == "iso" else "31/01/2025"
        raise PeriodProblem(f"expected a date written like {expected}, got {cell!r}")
    day = _parse_day(text, cell)
    if day is None:
        raise PeriodProblem(f"{cell!r} is not a valid date")
    return day
