"""DuckDB's reading of text numbers (the fast path) agrees with Python's `parse_number`."""

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.config.model import ClientConfig
from pipelines.ingest.load import parse_file
from pipelines.ingest.values import ValueProblem, parse_number

SPACES = ["", " ", "\u00a0", "\u202f"]


@st.composite
def written_numbers(draw: st.DrawFn) -> str:
    """Numbers as people type them in either locale, with the mistakes people make."""
    integer = draw(st.integers(min_value=0, max_value=10**9))
    thousands = draw(st.sampled_from(["", " ", "\u00a0", "\u202f", ",", "."]))
    decimal = draw(st.sampled_from(["", ",", "."]))
    digits = f"{integer:,}".replace(",", "\x00").replace("\x00", thousands)
    if decimal:
        digits += decimal + str(draw(st.integers(min_value=0, max_value=999)))
    sign = draw(st.sampled_from(["", "-", "+"]))
    suffix = draw(st.sampled_from(["", " €", "€", "%", " %", " EUR"]))
    return f"{draw(st.sampled_from(SPACES))}{sign}{digits}{suffix}"


def config(locale: str) -> ClientConfig:
    return ClientConfig.model_validate(
        {
            "name": "Numbers",
            "cadence": "weekly",
            "go_live": "2025-01-06",
            "sites": [{"name": "Lyon"}],
            "sources": [
                {
                    "name": "wms",
                    "pattern": "*.csv",
                    "layout": "long",
                    "locale": locale,
                    "site": "Site",
                    "period": "Semaine",
                    "indicator": "Indicateur",
                    "value": "Valeur",
                    "indicators": {"P": "service_level_pct", "C": "total_cost_eur"},
                }
            ],
        }
    )


@pytest.mark.parametrize("locale", ["fr", "en"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=st.lists(written_numbers(), min_size=1, max_size=30))
def test_sql_and_python_read_the_same_numbers(
    tmp_path: Path, locale: str, texts: list[str]
) -> None:
    lines = ["Site;Semaine;Indicateur;Valeur"]
    expected: dict[int, float | str | None] = {}
    for index, text in enumerate(texts):
        code, points = ("P", True) if index % 2 else ("C", False)
        lines.append(f"Lyon;{2000 + index // 50}-W{index % 50 + 1:02d};{code};{text}")
        try:
            expected[index + 2] = parse_number(text, locale, percent_points=points)
        except ValueProblem as problem:
            expected[index + 2] = problem.rule
    path = tmp_path / "numbers.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    parsed = parse_file(path, path.name, "wms", config(locale), dt.date(2026, 11, 26))
    got: dict[int, float | str | None] = {o.row: o.value for o in parsed.observations}
    got.update({r.row: r.rule for r in parsed.rejections})
    assert got.keys() == expected.keys()
    for row, value in expected.items():
        if isinstance(value, float):
            assert got[row] == pytest.approx(value), (row, lines[row - 1])
        else:
            assert got[row] == value, (row, lines[row - 1])
