"""Numbers as French and English sources write them."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.ingest.values import ValueProblem, parse_number


@pytest.mark.parametrize(
    ("cell", "locale", "expected"),
    [
        ("1 234,56", "fr", 1234.56),
        ("1\u00a0234,56 €", "fr", 1234.56),
        ("1\u202f234\u202f567", "fr", 1234567.0),
        ("-12,5", "fr", -12.5),
        ("12,5 %", "fr", 12.5),
        ("4,176", "en", 4176.0),
        ("12.5%", "en", 12.5),
        ("-1,234.5", "en", -1234.5),
        (42, "fr", 42.0),
        (0.359, "en", 0.359),
    ],
)
def test_numbers_in_each_locale(cell: object, locale: str, expected: float) -> None:
    assert parse_number(cell, locale, percent_points=True) == pytest.approx(expected)


@pytest.mark.parametrize("cell", [None, "", "  ", "n/a", "N/A", "-", "NC", "nc", "n.c."])
def test_missing_markers_are_missing_not_zero(cell: object) -> None:
    assert parse_number(cell, "fr") is None


@pytest.mark.parametrize(
    ("cell", "locale", "rule", "fragment"),
    [
        ("12.5", "fr", "decimal_convention", "decimal point"),
        ("12,5", "en", "decimal_convention", "decimal comma"),
        ("beaucoup", "fr", "not_a_number", "'beaucoup'"),
        ("=SUM(B2:B9)", "fr", "formula_text", "never evaluated"),
        (dt.date(2024, 1, 1), "fr", "not_a_number", "date"),
        ("12 %", "fr", "unexpected_percent", "percentage"),
    ],
)
def test_what_is_not_a_number_is_named(cell: object, locale: str, rule: str, fragment: str) -> None:
    with pytest.raises(ValueProblem) as problem:
        parse_number(cell, locale)
    assert problem.value.rule == rule
    assert fragment in str(problem.value)


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False))
def test_french_and_english_writings_of_a_number_agree(number) -> None:
    english = f"{number:,.2f}"
    french = english.replace(",", "\u202f").replace(".", ",")
    assert parse_number(english, "en") == pytest.approx(float(number))
    assert parse_number(french, "fr") == pytest.approx(float(number))
