"""Periods as clients write them, to the first day of the month or the ISO week's Monday."""

import datetime as dt

import pytest
from babel.dates import get_month_names
from hypothesis import given
from hypothesis import strategies as st

from pipelines.ingest.periods import PeriodProblem, parse_period


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("janv. 2024", dt.date(2024, 1, 1)),
        ("Janvier 2024", dt.date(2024, 1, 1)),
        ("févr. 2024", dt.date(2024, 2, 1)),
        ("FEVRIER 2024", dt.date(2024, 2, 1)),
        ("août 2024", dt.date(2024, 8, 1)),
        ("déc. 2024", dt.date(2024, 12, 1)),
        ("Jan-25", dt.date(2025, 1, 1)),
        ("Sept 2024", dt.date(2024, 9, 1)),
        ("03/2024", dt.date(2024, 3, 1)),
        ("2024-03", dt.date(2024, 3, 1)),
        ("15/03/2024", dt.date(2024, 3, 1)),
        ("05/04/2024", dt.date(2024, 4, 1)),  # day first: 5 April, never 4 May
        (dt.datetime(2024, 3, 15, 0, 0), dt.date(2024, 3, 1)),
        (dt.date(2024, 3, 31), dt.date(2024, 3, 1)),
    ],
)
def test_months(cell: object, expected: dt.date) -> None:
    assert parse_period(cell, "month") == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2024-W01", dt.date(2024, 1, 1)),
        ("2024-S01", dt.date(2024, 1, 1)),
        ("2025-S10", dt.date(2025, 3, 3)),
        ("2020-W53", dt.date(2020, 12, 28)),
        ("S10 2025", dt.date(2025, 3, 3)),
        ("06/03/2025", dt.date(2025, 3, 3)),
    ],
)
def test_weeks(cell: object, expected: dt.date) -> None:
    assert parse_period(cell, "week") == expected


def test_month_name_alone_takes_the_year_given() -> None:
    assert parse_period("févr.", "month", year=2025) == dt.date(2025, 2, 1)


@pytest.mark.parametrize(
    ("cell", "grain", "fragment"),
    [
        ("févr.", "month", "without a year"),
        ("2024-W01", "month", "is a week, but this source is monthly"),
        ("janv. 2024", "week", "is a month, but this source is weekly"),
        ("2021-W53", "week", "not an ISO week"),
        ("31/02/2024", "month", "not a valid date"),
        ("Total 2024", "month", "expected a period"),
        (2024, "month", "expected a period"),
    ],
)
def test_what_is_not_a_period_is_named(cell: object, grain: str, fragment: str) -> None:
    with pytest.raises(PeriodProblem, match=fragment):
        parse_period(cell, grain)


FRENCH_MONTHS = list(get_month_names("abbreviated", locale="fr").values())
ENGLISH_MONTHS = list(get_month_names("abbreviated", locale="en").values())
FRENCH_WIDE = list(get_month_names("wide", locale="fr").values())


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_every_writing_of_a_day_gives_its_month_and_week(day: dt.date) -> None:
    month = day.replace(day=1)
    for cell in (
        day,
        day.strftime("%d/%m/%Y"),
        day.isoformat(),
        f"{FRENCH_MONTHS[day.month - 1]} {day.year}",
        f"{ENGLISH_MONTHS[day.month - 1]} {day.year}",
        f"{FRENCH_WIDE[day.month - 1].upper()} {day.year}",
        f"{day.month:02d}/{day.year}",
    ):
        assert parse_period(cell, "month") == month
    year, week, _ = day.isocalendar()
    monday = day - dt.timedelta(days=day.weekday())
    assert parse_period(f"{year}-W{week:02d}", "week") == monday
    assert parse_period(f"{year}-S{week:02d}", "week") == monday
    assert parse_period(day, "week") == monday
