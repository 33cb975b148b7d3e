"""Calendar helpers for the demo: the complete periods before a date and the labels clients write.

A month is complete when its last day is before `as_of`; an ISO week (Monday to Sunday) is complete
when its Sunday is before `as_of`.
"""

import datetime as dt

from babel.dates import get_month_names

FRENCH_MONTHS = tuple(get_month_names("abbreviated", locale="fr").values())
"""Abbreviated French month names (`janv.`, `févr.`), as Excel and French accounting tools write
them."""

ENGLISH_MONTHS = tuple(get_month_names("abbreviated", locale="en").values())
"""Abbreviated English month names (`Jan`, `Feb`)."""


def add_months(month: dt.date, count: int) -> dt.date:
    """The first day of the month `count` months after (or before) the month of `month`."""
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def last_complete_month(as_of: dt.date) -> dt.date:
    """First day of the last month that ended before `as_of`."""
    return add_months(as_of.replace(day=1), -1)


def last_complete_week(as_of: dt.date) -> dt.date:
    """Monday of the last ISO week whose Sunday is before `as_of`."""
    return as_of - dt.timedelta(days=as_of.weekday() + 7)


def month_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    """First days of the months from `first` to `last`, both included."""
    months = []
    month = first.replace(day=1)
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return months


def week_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    """Mondays of the ISO weeks from the week of `first` to the week of `last`, both included."""
    monday = first - dt.timedelta(days=first.weekday())
    weeks = []
    while monday <= last:
        weeks.append(monday)
        monday += dt.timedelta(days=7)
    return weeks


def french_month_label(month: dt.date) -> str:
    """`janv. 2024`, `août 2024`: a month as French users type it."""
    return f"{FRENCH_MONTHS[month.month - 1]} {month.year}"


def iso_week_label(monday: dt.date) -> str:
    """`2024-S01`: an ISO week as French exports write it (S for semaine)."""
    year, week, _ = monday.isocalendar()
    return f"{year}-S{week:02d}"


def years_between(origin: dt.date, day: dt.date) -> float:
    """Fractional years from `origin` to `day`, for smooth growth trends."""
    return (day - origin).days / 365.25


def saved_at(period_end: dt.date, as_of: dt.date, *, days: int = 5) -> dt.datetime:
    """When the client saved a file covering up to `period_end`: a few days later at 17:45,
    but never after `as_of` (then 08:00 on `as_of`)."""
    saved = dt.datetime.combine(period_end + dt.timedelta(days=days), dt.time(17, 45))
    return min(saved, dt.datetime.combine(as_of, dt.time(8, 0)))
