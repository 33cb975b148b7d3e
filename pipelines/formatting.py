"""Numbers, money, percentages, periods and unit names as a French or British reader writes them.

Everything goes through Babel with the locale of the report's language (fr_FR or en_GB), so the
charts, the PDF and the email agree to the character: « 1 234,5 », « +12,0 % », « janv. 2025 »
in French; "1,234.5", "+12.0%", "Jan 2025" in English. French groups thousands with U+202F
(narrow no-break space) and puts U+00A0 before % and €, exactly as Babel gives them.
"""

import datetime as dt
from functools import cache

import pandas as pd
from babel import Locale
from babel.dates import format_date
from babel.numbers import NumberPattern, format_currency, parse_pattern

LOCALES = {"fr": "fr_FR", "en": "en_GB"}

UNIT_LABELS = {
    "eur": ("€", "€"),
    "hours": ("heures", "hours"),
    "fte": ("ETP", "FTE"),
    "units": ("unités", "units"),
    "parcels": ("colis", "parcels"),
    "pct": ("%", "%"),
    "people": ("personnes", "people"),
    "units_per_hour": ("unités / heure", "units / hour"),
    "parcels_per_hour": ("colis / heure", "parcels / hour"),
    "eur_per_fte": ("€ / ETP", "€ / FTE"),
    "hours_per_fte": ("heures / ETP", "hours / FTE"),
    "eur_per_parcel": ("€ / colis", "€ / parcel"),
    "eur_per_unit": ("€ / unité", "€ / unit"),
}

UNIT_SHORT = {
    "eur": ("€", "€"),
    "hours": ("h", "h"),
    "fte": ("ETP", "FTE"),
    "units": ("unités", "units"),
    "parcels": ("colis", "parcels"),
    "pct": ("%", "%"),
    "people": ("pers.", "people"),
    "units_per_hour": ("unités/h", "units/h"),
    "parcels_per_hour": ("colis/h", "parcels/h"),
    "eur_per_fte": ("€/ETP", "€/FTE"),
    "hours_per_fte": ("h/ETP", "h/FTE"),
    "eur_per_parcel": ("€/colis", "€/parcel"),
    "eur_per_unit": ("€/unité", "€/unit"),
    "ratio": ("", ""),
}
"""A unit as it follows a number in a table cell or beside a line (`0,56 unités/h`)."""

POINTS = "pts"
"""A change of a percentage, in points (`+3,0 pts`), in both languages."""

WEEK_PREFIX = {"fr": "S", "en": "W"}


def locale_of(language: str) -> str:
    """The Babel locale of a report language: fr_FR for "fr", en_GB for "en"."""
    try:
        return LOCALES[language]
    except KeyError:
        raise ValueError(f"unsupported language {language!r}, expected 'fr' or 'en'") from None


def number(value: float, language: str, decimals: int = 0) -> str:
    """`1 234` (fr, U+202F between groups) or `1,234` (en), with `decimals` decimals."""
    return _formatted(value, _decimal_pattern(decimals), language)


def percent(value_pct: float, language: str, decimals: int = 1, signed: bool = False) -> str:
    """A value in percent points as `12,0 %` (fr, U+00A0 before %) or `12.0%` (en).

    With `signed`, positives get a `+`; a value that rounds to zero gets no sign at all, so
    the chart never reads « +0,0 % » or « -0,0 % ».
    """
    pattern = _babel_locale(language).percent_formats[None].pattern
    pattern = pattern.replace("#,##0", _decimal_pattern(decimals), 1)
    if round(value_pct, decimals) == 0:
        value_pct = 0.0
    elif signed:
        pattern = f"+{pattern};-{pattern}"
    return _formatted(value_pct / 100, pattern, language)


def signed_number(value: float, language: str, suffix: str = "", decimals: int = 1) -> str:
    """`+1 234,5` (fr) or `+1,234.5` (en), followed by U+00A0 and `suffix` when given."""
    pattern = _decimal_pattern(decimals)
    if round(value, decimals) == 0:
        value = 0.0
    else:
        pattern = f"+{pattern};-{pattern}"
    text = _formatted(value, pattern, language)
    return f"{text}\u00a0{suffix}" if suffix else text


def money(value: float, language: str) -> str:
    """Whole euros: `1 234 €` (fr) or `€1,234` (en), the locale's currency pattern."""
    locale = locale_of(language)
    pattern = Locale.parse(locale).currency_formats["standard"].pattern
    pattern = pattern.replace("#,##0.00", "#,##0", 1)
    return format_currency(value, "EUR", format=pattern, currency_digits=False, locale=locale)


def month(period: pd.Timestamp | dt.date, language: str) -> str:
    """`janv. 2025` (fr) or `Jan 2025` (en): the locale's abbreviated month and the year."""
    return format_date(_date(period), "MMM y", locale=locale_of(language))


def day(date: pd.Timestamp | dt.date, language: str) -> str:
    """`20 nov. 2026` (fr) or `20 Nov 2026` (en): a date in the locale's medium format."""
    return format_date(_date(date), "d MMM y", locale=locale_of(language))


def week(period: pd.Timestamp | dt.date, language: str) -> str:
    """The ISO week and ISO year: `S10 2025` (fr, « semaine ») or `W10 2025` (en)."""
    iso = _date(period).isocalendar()
    return f"{WEEK_PREFIX[_checked(language)]}{iso.week} {iso.year}"


def period(period: pd.Timestamp | dt.date, grain: str, language: str) -> str:
    """A period start as a month (grain "month") or an ISO week (grain "week")."""
    if grain == "month":
        return month(period, language)
    if grain == "week":
        return week(period, language)
    raise ValueError(f"unknown grain {grain!r}, expected 'month' or 'week'")


def unit_label(unit: str, language: str) -> str:
    """The axis label of a unit code (`eur_per_fte` -> `€ / ETP`); an unknown code as is."""
    labels = UNIT_LABELS.get(unit)
    if labels is None:
        return unit
    return labels[0] if _checked(language) == "fr" else labels[1]


def unit_short(unit: str, language: str) -> str:
    """The unit after a number (`eur_per_fte` -> `€/ETP`); an unknown code as is."""
    labels = UNIT_SHORT.get(unit)
    if labels is None:
        return unit
    return labels[0] if _checked(language) == "fr" else labels[1]


def level_decimals(value: float) -> int:
    """Decimals of a level: 2 under 10, 1 under 100, none above (`0,56`, `10,9`, `34 283`)."""
    magnitude = abs(value)
    return 0 if magnitude >= 100 else 2 if magnitude < 10 else 1


def level(value: float, unit: str, language: str, decimals: int | None = None) -> str:
    """A KPI's level with its unit, as the key table and the charts write it: `0,56 unités/h`,
    `10,9 %`, `34 283 €/ETP` (fr); `0.56 units/h`, `10.9%`, `€34,283/FTE` (en). Decimals by
    `level_decimals` unless given."""
    if decimals is None:
        decimals = level_decimals(value)
    if unit == "pct":
        return percent(value, language, decimals)
    text = number(value, language, decimals)
    return _with_unit(text, unit, language)


def signed_level(value: float, unit: str, language: str, decimals: int | None = None) -> str:
    """A change in a KPI's unit, signed: `+3,0 pts` for a percentage (points, one decimal
    unless given), `+1 234 €`, `+0,05 unités/h` (decimals by `level_decimals`); no sign on a
    value that rounds to zero."""
    if unit == "pct":
        return signed_number(value, language, POINTS, 1 if decimals is None else decimals)
    if decimals is None:
        decimals = level_decimals(value)
    return _with_unit(signed_number(value, language, decimals=decimals), unit, language)


def _with_unit(text: str, unit: str, language: str) -> str:
    """`text` followed by the unit (U+00A0 between them); money in English as `€34,283/FTE`."""
    suffix = unit_short(unit, language)
    if not suffix:
        return text
    if language == "en" and suffix.startswith("€"):
        sign = text[0] if text[:1] in "+-" else ""
        return f"{sign}€{text[len(sign) :]}{suffix[1:]}"
    return f"{text}\u00a0{suffix}"


def _formatted(value: float, pattern: str, language: str) -> str:
    """`value` in a Babel number pattern, as `format_decimal` and `format_percent` give it, with
    the locale and the parsed pattern kept: parsing them again cost 0.1 ms a number, a third of
    the impact analysis' time."""
    return _parsed(pattern).apply(value, _babel_locale(language))


@cache
def _babel_locale(language: str) -> Locale:
    return Locale.parse(locale_of(language))


@cache
def _parsed(pattern: str) -> NumberPattern:
    return parse_pattern(pattern)


def _decimal_pattern(decimals: int) -> str:
    if decimals < 0:
        raise ValueError("decimals cannot be negative")
    return "#,##0." + "0" * decimals if decimals else "#,##0"


def _date(period: pd.Timestamp | dt.date) -> dt.date:
    return period.date() if isinstance(period, dt.datetime) else period


def _checked(language: str) -> str:
    locale_of(language)
    return language
