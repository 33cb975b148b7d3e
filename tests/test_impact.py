"""Derived KPIs and totals in DuckDB, and the impact table built from them (without Dagster)."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from client_folders import long_source
from pydantic import ValidationError

from pipelines.config.model import ClientConfig
from pipelines.impact.analysis import analyse, analyse_warehouse
from pipelines.impact.series import (
    CLIENT_TOTAL,
    CONTROLS_TOTAL,
    build_kpi_series,
    read_kpi_series,
)
from pipelines.impact.store import replace_impact
from pipelines.report.content import NothingToReport, gather
from pipelines.warehouse import open_warehouse

SOURCE = long_source({"U": "units_produced", "H": "hours_worked"})


def config(**extra: object) -> ClientConfig:
    return ClientConfig.model_validate(
        {
            "name": "Test",
            "cadence": "monthly",
            "go_live": "2025-01-01",
            "sites": [{"name": "A"}, {"name": "B"}, {"name": "C", "control": True}],
            "sources": [SOURCE],
            **extra,
        }
    )


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_warehouse(tmp_path / "test.duckdb") as connection:
        yield connection


def deliver(con: duckdb.DuckDBPyConnection, values: list[tuple[str, str, str, float]]) -> None:
    """Store (site, month, kpi, value) as one loaded delivery."""
    now = dt.datetime(2026, 11, 1)
    con.execute(
        "insert into files (sha256, original_name, size_bytes, received_at, delivered_at, status)"
        " values ('f1', 'export.csv', 1, ?, ?, 'loaded')",
        [now, now],
    )
    con.executemany(
        "insert into kpi_observations (client, site, period_start, grain, kpi, value, unit, "
        "file_sha256, delivered_at) values ('test', ?, ?, 'month', ?, ?, 'x', 'f1', ?)",
        [(site, month, kpi, value, now) for site, month, kpi, value in values],
    )


def series(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str], float]:
    rows = con.execute("select site, period_start, kpi, value from kpi_series").fetchall()
    return {(site, str(period), kpi): value for site, period, kpi, value in rows}


def test_a_client_total_of_a_ratio_is_the_ratio_of_the_sums(con) -> None:
    deliver(
        con,
        [
            ("A", "2025-01-01", "units_produced", 100.0),
            ("A", "2025-01-01", "hours_worked", 10.0),
            ("B", "2025-01-01", "units_produced", 300.0),
            ("B", "2025-01-01", "hours_worked", 100.0),
            ("C", "2025-01-01", "units_produced", 50.0),
            ("C", "2025-01-01", "hours_worked", 50.0),
        ],
    )
    build_kpi_series(con, config())
    values = series(con)
    assert values[("A", "2025-01-01", "units_per_hour")] == pytest.approx(10.0)
    assert values[("B", "2025-01-01", "units_per_hour")] == pytest.approx(3.0)
    # 400 units / 110 hours, not the mean of 10 and 3; the control site C is not in it.
    assert values[(CLIENT_TOTAL, "2025-01-01", "units_per_hour")] == pytest.approx(400 / 110)
    assert values[(CLIENT_TOTAL, "2025-01-01", "units_produced")] == pytest.approx(400.0)
    assert values[(CONTROLS_TOTAL, "2025-01-01", "units_per_hour")] == pytest.approx(1.0)


def test_a_derived_value_exists_only_where_all_its_parts_exist(con) -> None:
    deliver(
        con,
        [
            ("A", "2025-01-01", "units_produced", 100.0),
            ("A", "2025-01-01", "hours_worked", 10.0),
            ("B", "2025-01-01", "units_produced", 300.0),
            ("B", "2025-01-01", "hours_worked", 100.0),
            ("A", "2025-02-01", "units_produced", 120.0),
            ("A", "2025-02-01", "hours_worked", 0.0),
            ("B", "2025-02-01", "units_produced", 280.0),  # B's hours missing in February
        ],
    )
    build_kpi_series(con, config())
    values = series(con)
    assert ("A", "2025-02-01", "units_per_hour") not in values  # zero hours: no ratio
    assert ("B", "2025-02-01", "units_per_hour") not in values
    # B reports hours in other months, so a February total without B would be a false drop.
    assert (CLIENT_TOTAL, "2025-02-01", "hours_worked") not in values
    assert (CLIENT_TOTAL, "2025-02-01", "units_per_hour") not in values
    assert values[(CLIENT_TOTAL, "2025-02-01", "units_produced")] == pytest.approx(400.0)


def test_a_client_adds_its_own_derived_kpi(con) -> None:
    deliver(
        con,
        [
            ("A", "2025-01-01", "hours_worked", 10.0),
            ("A", "2025-01-01", "units_produced", 40.0),
        ],
    )
    own = {
        "name": "hours_per_hundred_units",
        "numerator": "hours_worked",
        "denominator": "units_produced",
        "factor": 100,
        "direction": "lower_is_better",
        "label_fr": "Heures pour 100 unités",
        "label_en": "Hours per 100 units",
    }
    build_kpi_series(con, config(derived_kpis=[own]))
    assert series(con)[("A", "2025-01-01", "hours_per_hundred_units")] == pytest.approx(25.0)


def test_a_derived_kpi_may_not_shadow_the_catalogue_and_targets_name_known_kpis() -> None:
    shadow = {
        "name": "units_per_hour",
        "numerator": "units_produced",
        "denominator": "hours_worked",
        "direction": "higher_is_better",
        "label_fr": "x",
        "label_en": "x",
    }
    with pytest.raises(ValidationError, match="'units_per_hour' is already in the catalogue"):
        config(derived_kpis=[shadow])
    with pytest.raises(ValidationError, match="did you mean 'units_per_hour'"):
        config(impact={"targets": [{"kpi": "unit_per_hour", "change_pct": 10, "by": "2025-12"}]})


def monthly(site: str, start: str, values: np.ndarray, kpi: str) -> pd.DataFrame:
    periods = pd.date_range(start, periods=len(values), freq="MS")
    return pd.DataFrame({"site": site, "period_start": periods, "kpi": kpi, "value": values})


def test_too_few_periods_give_insufficient_data_and_never_a_number() -> None:
    rng = np.random.default_rng(7)
    frame = monthly("A", "2024-08-01", 10 * np.exp(rng.normal(0, 0.02, 20)), "units_per_hour")
    rows = analyse(frame, config(), "test")  # 5 months before the 2025-01 go-live
    assert set(rows["verdict"]) == {"insufficient_data"}
    assert rows[["abs_change", "rel_change_pct", "ci_low", "ci_high", "p_value"]].isna().all().all()
    naive = rows[rows["method"] == "before_after"].iloc[0]
    assert naive["reason_en"] == "5 periods before go-live, at least 6 needed"
    assert naive["sentence_fr"] == (
        "Productivité (unités par heure)\u00a0: données insuffisantes "
        "(5 périodes avant la mise en place, 6 au minimum)"
    )
    assert naive["preferred"]


def test_impact_rows_say_progress_to_target_and_store_in_one_go(con) -> None:
    rng = np.random.default_rng(3)
    effect = np.where(np.arange(36) >= 24, 1.08, 1.0)  # +8 % from 2025-01
    values = 10 * effect * np.exp(rng.normal(0, 0.01, 36))
    frame = monthly("A", "2023-01-01", values, "units_per_hour")
    target = {"kpi": "units_per_hour", "change_pct": 10, "by": "2025-12"}
    rows = analyse(frame, config(impact={"targets": [target]}), "test")
    seasonal = rows[rows["method"] == "seasonal"].iloc[0]
    assert seasonal["preferred"] and seasonal["verdict"] == "improved"
    assert seasonal["rel_change_pct"] == pytest.approx(8, abs=1)
    assert seasonal["target_progress_pct"] == pytest.approx(
        10 * seasonal["rel_change_pct"], abs=1e-9
    )
    assert seasonal["target_due"] == dt.date(2025, 12, 1)
    assert seasonal["sentence_en"].startswith("Productivity (units per hour): +8.")
    replace_impact(con, rows)
    replace_impact(con, rows)  # a rerun replaces, never appends
    assert con.execute("select count(*), count(distinct method) from impact").fetchall() == [
        (len(rows), 2)
    ]


def test_a_kpi_that_goes_negative_is_compared_in_its_unit() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.normal(-2000, 500, 24), rng.normal(3000, 500, 12)])
    frame = monthly("A", "2023-01-01", values, "ebitda_eur")
    naive = analyse(frame, config(), "test").query("method == 'before_after'").iloc[0]
    assert naive["basis"] == "absolute"
    assert naive["abs_change"] == pytest.approx(values[24:].mean() - values[:24].mean())
    assert naive["verdict"] == "improved"
    assert "€ (IC 95\u00a0%\u00a0: +" in naive["sentence_fr"]


def test_the_warehouse_is_analysed_a_kpi_at_a_time_with_the_same_results(con) -> None:
    rng = np.random.default_rng(8)
    months = [f"{2023 + m // 12}-{m % 12 + 1:02d}-01" for m in range(36)]
    deliver(
        con,
        [
            (site, month, kpi, float(base * np.exp(rng.normal(0, 0.02))
                                     * (1.1 if m >= 24 and site != "C" and base > 100 else 1)))
            for site in ("A", "B", "C")
            for m, month in enumerate(months)
            for kpi, base in (("units_produced", 1000.0), ("hours_worked", 100.0))
        ],
    )  # fmt: skip
    build_kpi_series(con, config())
    frames = list(read_kpi_series(con))
    assert [str(f["kpi"].iloc[0]) for f in frames] == ["hours_worked", "units_per_hour",
                                                       "units_produced"]  # fmt: skip
    assert all(isinstance(f["site"].dtype, pd.CategoricalDtype) for f in frames)
    assert list(frames[0]["site"].cat.categories) == sorted(
        ["A", "B", "C", CLIENT_TOTAL, CONTROLS_TOTAL]
    )
    assert [len(f) for f in read_kpi_series(con, only={"units_per_hour"})] == [5 * 36]

    by_kpi = analyse_warehouse(con, config(), "test")
    whole = analyse(series_frame(con).sort_values(["kpi", "site"]), config(), "test")
    pd.testing.assert_frame_equal(by_kpi, whole)
    did = by_kpi.query("kpi == 'units_per_hour' and site == 'A' and method == 'did'").iloc[0]
    assert did["rel_change_pct"] == pytest.approx(10, abs=2)


def test_a_client_without_values_has_nothing_to_report(con) -> None:
    build_kpi_series(con, config())
    assert analyse(series_frame(con), config(), "test").empty
    assert analyse_warehouse(con, config(), "test").empty
    with pytest.raises(NothingToReport, match="test: no value stored yet"):
        gather(con, config(), "test", dt.date(2026, 11, 26))


def series_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("select site, period_start, kpi, value from kpi_series").df()


def bakery_prices(con: duckdb.DuckDBPyConnection) -> dict[int, float]:
    """Three years of a bakery chain's revenue and FTE per site (A, B live in January 2025, C
    a control that is left out here): selling prices up 8 % in 2023, 5 % in 2024, 2 % after,
    a December peak, noise, and +6 % of real revenue per FTE from go-live. Returns the yearly
    rates the client's controller gives."""
    rates = {2023: 8.0, 2024: 5.0, 2025: 2.0, 2026: 2.0}
    rng = np.random.default_rng(17)
    months = pd.date_range("2023-01-01", "2026-06-01", freq="MS")
    # The price level month by month: each month adds a twelfth of its year's change.
    growth = np.log1p(np.array([rates[month.year] for month in months]) / 100) / 12
    log_price = np.concatenate([[0.0], np.cumsum(growth)[:-1]])
    log_price -= log_price[list(months).index(pd.Timestamp("2025-01-01"))]
    rows = []
    for site, level in (("A", 52_000.0), ("B", 38_000.0), ("C", 45_000.0)):
        for month, price in zip(months, np.exp(log_price), strict=True):
            season = 1.15 if month.month == 12 else 1.0
            effect = 1.06 if month >= pd.Timestamp("2025-01-01") and site != "C" else 1.0
            noise = np.exp(rng.normal(0, 0.015))
            day = str(month.date())
            rows.append((site, day, "revenue_eur", level * price * season * effect * noise))
            rows.append((site, day, "fte", 10.0))
    deliver(con, rows)
    return rates


def test_money_at_constant_prices_is_not_read_as_an_effect(con) -> None:
    rates = bakery_prices(con)
    plain = config(sites=[{"name": "A"}, {"name": "B"}])
    deflated = config(
        sites=[{"name": "A"}, {"name": "B"}],
        impact={"constant_prices": {"revenue_eur": {"yearly_change_pct": rates}}},
    )
    build_kpi_series(con, deflated)
    at_go_live = series(con)[("A", "2025-01-01", "revenue_eur")]
    rows = analyse_warehouse(con, deflated, "test")
    total = rows.query("kpi == 'revenue_per_fte' and site == @CLIENT_TOTAL and preferred").iloc[0]
    # Prices taken out: the real +6 %, within a point, its interval around it, and said so.
    assert total["rel_change_pct"] == pytest.approx(6, abs=1)
    assert total["ci_low"] < 6 < total["ci_high"] and total["verdict"] == "improved"
    assert total["label_en"] == "Revenue per FTE at constant prices"
    assert total["sentence_fr"].startswith("Chiffre d'affaires par ETP à prix constants\u00a0: +")
    # The series itself is in go-live prices: the index is 1 at go-live, and a year later
    # the year's 2 % is divided out (the nominal value is higher by that and the noise).
    deflated_later = series(con)[("A", "2026-01-01", "revenue_eur")]

    build_kpi_series(con, plain)
    nominal = analyse_warehouse(con, plain, "test")
    naive = nominal.query(
        "kpi == 'revenue_per_fte' and site == @CLIENT_TOTAL and method == 'before_after'"
    ).iloc[0]
    assert naive["rel_change_pct"] > 9  # prices inflate the naive comparison
    assert series(con)[("A", "2025-01-01", "revenue_eur")] == pytest.approx(at_go_live)
    nominal_later = series(con)[("A", "2026-01-01", "revenue_eur")]
    assert nominal_later / deflated_later == pytest.approx(1.02)


def test_only_money_has_a_price_index() -> None:
    with pytest.raises(ValidationError, match="fte is not an amount in EUR"):
        config(impact={"constant_prices": {"fte": {"yearly_change_pct": {2024: 3}}}})


def test_a_site_opened_during_the_baseline_leaves_its_own_ramp_up_out(con) -> None:
    """B opened in July 2023 at 70 % of its productivity, reaching it over six months; A ran
    all along. Both gain 8 % from the January 2025 go-live. B's before side starts after its
    opening ramp-up, so the ramp-up is not extrapolated as a trend."""
    rng = np.random.default_rng(23)
    months = pd.date_range("2022-01-01", "2026-03-01", freq="MS")
    opened = pd.Timestamp("2023-07-01")
    rows = []
    for site in ("A", "B"):
        for month in months:
            if site == "B" and month < opened:
                continue
            age = (month.year - opened.year) * 12 + month.month - opened.month
            ramp = min(1.0, 0.7 + 0.05 * age) if site == "B" else 1.0
            effect = 1.08 if month >= pd.Timestamp("2025-01-01") else 1.0
            hours = 1000.0 * np.exp(rng.normal(0, 0.01))
            units = hours * 4.0 * ramp * effect * np.exp(rng.normal(0, 0.02))
            rows += [(site, str(month.date()), "hours_worked", hours),
                     (site, str(month.date()), "units_produced", units)]  # fmt: skip
    deliver(con, rows)
    two_sites = config(sites=[{"name": "A"}, {"name": "B"}])
    build_kpi_series(con, two_sites)
    rows = analyse_warehouse(con, two_sites, "test").query("kpi == 'units_per_hour'")
    by_site = rows[rows["preferred"]].set_index("site")
    assert by_site.loc["A", "n_before"] == 24  # the default baseline of 24 months
    assert by_site.loc["B", "n_before"] == 12  # July 2023 + 6 months to December 2024
    for site in ("A", "B", CLIENT_TOTAL):
        row = by_site.loc[site]
        assert row["method"] == "seasonal"
        assert row["rel_change_pct"] == pytest.approx(8, abs=3), site
        assert row["ci_low"] < 8 < row["ci_high"], site


def test_a_result_a_fake_go_live_downgraded_is_not_replaced_by_the_naive_one() -> None:
    """Prices accelerating (log-quadratic), no effect at all: the season-and-trend model
    reads about +10 %, the fake go-live a year earlier shows as much, so the result is "not
    enough evidence". The naive before/after (far more, and "significant") must not lead."""
    rng = np.random.default_rng(0)
    step = np.arange(54)
    prices = 100 * np.exp(0.0004 * step**2 + rng.normal(0, 0.01, len(step)))
    frame = monthly("A", "2021-07-01", prices, "revenue_eur")
    one_site = config(sites=[{"name": "A"}], impact={"baseline_months": 36})
    rows = analyse(frame, one_site, "test").set_index("method")
    assert rows.loc["seasonal", "preferred"]
    assert rows.loc["seasonal", "verdict"] == "insufficient_data"
    assert rows.loc["seasonal", "reason_en"].startswith("a fake go-live 12 periods earlier")
    assert not rows.loc["before_after", "preferred"]
    assert rows.loc["before_after", "verdict"] == "improved"  # what the naive one would claim


def test_a_price_index_names_every_year_it_spans() -> None:
    with pytest.raises(ValidationError, match="no change given for 2024: give every year"):
        config(
            impact={"constant_prices": {"revenue_eur": {"yearly_change_pct": {2023: 5, 2025: 2}}}}
        )
