"""Validation rules (Great Expectations), delivery quarantine, outliers and freshness."""

import datetime as dt
import json
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.config.model import ClientConfig
from pipelines.ingest.archive import archive_inbox
from pipelines.ingest.load import load_received
from pipelines.quality.deliveries import check_deliveries, lateness, missing_values, outliers
from pipelines.quality.expectations import (
    combined_codes,
    delivery_rules,
    prepare,
    profile_holds,
    validate,
)
from pipelines.quality.page import write_quality_page
from pipelines.sql import execute_sql
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

TODAY = dt.date(2026, 11, 26)
CONFIG = ClientConfig.model_validate(
    {
        "name": "Quality",
        "cadence": "monthly",
        "go_live": "2025-01-01",
        "sites": [{"name": "Lyon"}, {"name": "Vénissieux"}],
        "sources": [
            {
                "name": "export",
                "pattern": "*.csv",
                "layout": "long",
                "grain": "month",
                "site": "Site",
                "period": "Mois",
                "indicator": "Indicateur",
                "value": "Valeur",
                "indicators": {
                    "HEURES": "hours_worked",
                    "TX": "service_level_pct",
                    "CA": "revenue_eur",
                },
            }
        ],
        "quality": {"bounds": {"hours_worked": {"max": 10000}}},
    }
)


def observations(**changes: object) -> pd.DataFrame:
    rows = [
        ("Lyon", "2026-01-01", "month", "hours_worked", 1200.0, 2),
        ("Lyon", "2026-01-01", "month", "service_level_pct", 97.5, 3),
        ("Vénissieux", "2026-02-01", "month", "revenue_eur", 50000.0, 4),
    ]
    frame = pd.DataFrame(rows, columns=["site", "period_start", "grain", "kpi", "value", "row"])
    frame = frame.assign(file="export.csv", file_sha256="abc", sheet=None, column="D")
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
    for column, value in changes.items():
        frame.loc[0, column] = value
    return frame


def run_rules(frame: pd.DataFrame):
    return validate(prepare(frame, TODAY), delivery_rules(CONFIG, set(frame["kpi"]), TODAY))


def test_a_good_delivery_passes_every_rule() -> None:
    outcome = run_rules(observations())
    assert outcome.success
    assert outcome.metadata()["success_percent"] == 100.0
    assert outcome.metadata()["rules_checked"] == 8


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"site": "Paris"}, "site is one of client.yaml's sites"),
        ({"grain": "week", "period_start": dt.date(2026, 1, 5)}, "period grain is the client's"),
        ({"period_start": dt.date(2026, 1, 15)}, "period_start is the first day of a month"),
        ({"period_start": dt.date(2027, 1, 1)}, "period_start is not after today (2026-11-26)"),
        ({"value": -5.0}, "hours_worked between 0 and 10000"),
        ({"value": 12000.0}, "hours_worked between 0 and 10000"),
        (
            {"kpi": "service_level_pct", "value": 120.0, "period_start": dt.date(2026, 3, 1)},
            "service_level_pct between 0 and 100",
        ),
        ({"kpi": "revenue_eur", "value": 0.0}, "revenue_eur > 0"),
    ],
)
def test_each_rule_fails_on_the_row_that_breaks_it(changes: dict, rule: str) -> None:
    outcome = run_rules(observations(**changes))
    assert not outcome.success
    assert [failure.rule.description for failure in outcome.failures] == [
        next(
            r.description
            for r in delivery_rules(
                CONFIG, {"hours_worked", "service_level_pct", "revenue_eur"}, TODAY
            )
            if r.description.startswith(rule)
        )
    ]
    rows = outcome.failing_rows()
    assert rows[["file", "row", "column"]].values.tolist() == [["export.csv", 2, "D"]]
    metadata = outcome.metadata()
    expected = 100 * (outcome.rules - 1) / outcome.rules
    assert metadata["success_percent"] == pytest.approx(expected, abs=0.1)
    assert "| export.csv |" in metadata["failing_rows"]


def profile_of(tmp_path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """The delivery profile of `frame`'s values, stored as a loaded, unvalidated file."""
    with open_warehouse(tmp_path / f"{uuid.uuid4().hex}.duckdb") as con:
        con.execute(
            "insert into files values "
            "('abc', 'export.csv', 1, 'export', now(), now(), 'loaded', null, 3, null)"
        )
        con.register("frame", frame)
        con.execute(
            "insert into kpi_observations select 'q', site, period_start, grain, kpi, value, "
            '\'eur\', file_sha256, sheet, "row", "column", now() from frame'
        )
        return execute_sql(con, "select_delivery_profile").df()


def holds(tmp_path: Path, frame: pd.DataFrame) -> bool:
    rules = delivery_rules(CONFIG, {"hours_worked", "service_level_pct", "revenue_eur"}, TODAY)
    return profile_holds(profile_of(tmp_path, frame), rules, TODAY)


def test_a_good_deliverys_profile_holds(tmp_path: Path) -> None:
    profile = profile_of(tmp_path, observations())
    # a row per file and site (2), file and period (2), file and KPI (3), and the repeats
    assert len(profile) == 8
    kpis = profile.dropna(subset=["kpi"]).set_index("kpi")
    assert kpis.loc["hours_worked", ["min_value", "max_value"]].tolist() == [1200.0, 1200.0]
    assert profile["repeats"].dropna().tolist() == [0]
    assert holds(tmp_path, observations())


@pytest.mark.parametrize(
    "changes",
    [
        {"site": "Paris"},
        {"grain": "week", "period_start": dt.date(2026, 1, 5)},
        {"period_start": dt.date(2026, 1, 15)},
        {"period_start": dt.date(2027, 1, 1)},
        {"value": -5.0},
        {"value": 12000.0},
        {"kpi": "service_level_pct", "value": 120.0, "period_start": dt.date(2026, 3, 1)},
        {"kpi": "revenue_eur", "value": 0.0},
    ],
)
def test_a_broken_rule_breaks_the_profile(tmp_path: Path, changes: dict) -> None:
    assert not holds(tmp_path, observations(**changes))


def test_a_repeated_value_breaks_the_profile(tmp_path: Path) -> None:
    frame = pd.concat([observations(), observations().head(1)], ignore_index=True)
    assert profile_of(tmp_path, frame)["repeats"].dropna().tolist() == [1]
    assert not holds(tmp_path, frame)


def test_a_value_at_its_bound_holds_both_ways(tmp_path: Path) -> None:
    assert holds(tmp_path, observations(value=10000.0))  # hours_worked at the client's max
    assert not holds(tmp_path, observations(kpi="revenue_eur", value=0.0))  # revenue > 0


def testcombined_codes_are_equal_exactly_for_equal_rows() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "a": rng.integers(0, 3, 500),
            "b": pd.Categorical(rng.choice(["x", "y", None], 500)),
            "c": pd.to_datetime("2026-01-01") + pd.to_timedelta(rng.integers(0, 4, 500), "D"),
        }
    )
    key = combined_codes(frame, ["a", "b", "c"])
    groups = frame.groupby(["a", "b", "c"], dropna=False, observed=True).ngroup().to_numpy()
    assert len(set(zip(key, groups, strict=True))) == len(set(key)) == len(set(groups))
    # Beyond 2**62 combinations, the combinations seen are renumbered first: still exact.
    wide = pd.DataFrame({f"c{i}": np.arange(500) % (97 + i) for i in range(12)})
    wide_key = combined_codes(wide, list(wide.columns))
    assert len(set(wide_key)) == len(wide.drop_duplicates())


def test_the_same_value_twice_in_a_delivery_fails() -> None:
    frame = pd.concat([observations(), observations().head(1)], ignore_index=True)
    outcome = run_rules(frame)
    assert [f.rule.name for f in outcome.failures] == ["one_value_per_site_period_kpi"]
    assert len(outcome.failures[0].rows) == 2


def deliver(workspace: Workspace, name: str, body: str, day: int) -> None:
    path = workspace.inbox("q") / name
    path.write_text("Site;Mois;Indicateur;Valeur\n" + body, encoding="utf-8")
    import os

    stamp = dt.datetime(2026, 10, day, tzinfo=dt.UTC).timestamp()
    os.utime(path, (stamp, stamp))


def current(con) -> dict:
    rows = con.execute("select site, period_start, kpi, value from kpi_values").fetchall()
    return {(site, str(period), kpi): value for site, period, kpi, value in rows}


def test_a_bad_delivery_after_a_good_one_leaves_current_values_as_they_were(
    tmp_path: Path,
) -> None:
    workspace = Workspace(tmp_path)
    workspace.ensure()
    workspace.inbox("q").mkdir(parents=True)
    now = dt.datetime(2026, 11, 26, 2, 0)
    with open_warehouse(workspace.warehouse("q")) as con:
        deliver(workspace, "good.csv", "Lyon;2026-01;HEURES;1200\nLyon;2026-01;TX;97\n", 1)
        archive_inbox(workspace, "q", CONFIG, con, now)
        load_received(workspace, "q", CONFIG, con, TODAY)
        first = check_deliveries(workspace, "q", CONFIG, con, TODAY, now)
        before = current(con)
        deliver(workspace, "restated.csv", "Lyon;2026-01;HEURES;1300\nLyon;2026-01;TX;140\n", 2)
        archive_inbox(workspace, "q", CONFIG, con, now)
        load_received(workspace, "q", CONFIG, con, TODAY)
        assert current(con)[("Lyon", "2026-01-01", "hours_worked")] == 1300.0  # not checked yet
        second = check_deliveries(workspace, "q", CONFIG, con, TODAY, now)
        after = current(con)
        page = write_quality_page(workspace, "q", CONFIG, con, second, TODAY)
        statuses = dict(con.execute("select original_name, status from files").fetchall())
    assert first.outcome.success and first.quarantined == []
    assert not second.outcome.success
    assert second.quarantined == ["restated.csv"]
    assert (
        after
        == before
        == {
            ("Lyon", "2026-01-01", "hours_worked"): 1200.0,
            ("Lyon", "2026-01-01", "service_level_pct"): 97.0,
        }
    )
    assert statuses == {"good.csv": "loaded", "restated.csv": "quarantined"}
    reasons = list(workspace.quarantine("q").glob("*.reason.json"))
    reason = json.loads(reasons[0].read_text())
    assert reason["file"] == "restated.csv"
    assert "service_level_pct between 0 and 100" in reason["message"]
    assert reason["failing_rows"][0]["row"] == 3
    html = page.read_text()
    assert page == workspace.reports("q") / "data_quality.html"
    assert "failed (blocking)" in html and "quarantined: restated.csv" in html
    assert '<td>restated.csv</td>\n<td class="bad">quarantined</td>' in html
    assert "service_level_pct between 0 and 100" in html
    assert "http://" not in html and "https://" not in html  # readable offline: no CDN


def test_outliers_flag_a_strike_not_a_yearly_season(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    workspace.ensure()
    workspace.inbox("q").mkdir(parents=True)
    lines = []
    for year in (2023, 2024, 2025):
        for month in range(1, 13):
            hours = 1000 + (month * year) % 7 - (400 if month == 8 else 0)  # August holidays
            if (year, month) == (2024, 3):
                hours = 300  # a strike
            lines.append(f"Lyon;{year}-{month:02d};HEURES;{hours}\n")
    deliver(workspace, "history.csv", "".join(lines), 1)
    with open_warehouse(workspace.warehouse("q")) as con:
        archive_inbox(workspace, "q", CONFIG, con, dt.datetime(2026, 11, 26))
        load_received(workspace, "q", CONFIG, con, TODAY)
        found = outliers(con, CONFIG)
    assert found[["site", "period_start", "kpi", "value"]].values.tolist() == [
        ["Lyon", pd.Timestamp(2024, 3, 1), "hours_worked", 300.0]
    ]
    assert found["file"].tolist() == ["history.csv"]


@pytest.mark.parametrize(
    ("latest", "today", "late"),
    [("2026-09", dt.date(2026, 11, 26), True), ("2026-10", dt.date(2026, 11, 26), False)],
)
def test_freshness_follows_the_cadence(
    tmp_path: Path, latest: str, today: dt.date, late: bool
) -> None:
    workspace = Workspace(tmp_path)
    workspace.ensure()
    workspace.inbox("q").mkdir(parents=True)
    deliver(workspace, "export.csv", f"Lyon;{latest};HEURES;1000\n", 1)
    with open_warehouse(workspace.warehouse("q")) as con:
        archive_inbox(workspace, "q", CONFIG, con, dt.datetime(2026, 11, 26))
        load_received(workspace, "q", CONFIG, con, today)
        period, days, allowed = lateness(con, CONFIG, today)
    assert period == dt.date.fromisoformat(f"{latest}-01")
    assert allowed == 45
    assert (days > allowed) is late


def test_completeness_names_what_a_site_usually_sends_and_did_not(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    workspace.ensure()
    workspace.inbox("q").mkdir(parents=True)
    lines = [
        f"{site};2026-{month:02d};HEURES;1000\n"
        for site in ("Lyon", "Vénissieux")
        for month in range(1, 11)
        if not (site == "Lyon" and month == 9)  # Lyon's September hours never came
    ]
    lines += ["Lyon;2026-10;TX;NC\n", "Lyon;2026-02;CA;1000\n"]  # TX missing; CA is rare
    deliver(workspace, "export.csv", "".join(lines), 1)
    with open_warehouse(workspace.warehouse("q")) as con:
        archive_inbox(workspace, "q", CONFIG, con, dt.datetime(2026, 11, 26))
        load_received(workspace, "q", CONFIG, con, TODAY)
        missing = missing_values(con)
    assert [tuple(row) for row in missing.astype(str).values.tolist()] == [
        ("Lyon", "2026-09-01", "hours_worked")
    ]


def test_no_new_delivery_checks_nothing_and_imports_no_great_expectations(
    tmp_path: Path,
) -> None:
    # In a process of its own: the test session has imported Great Expectations already.
    code = f"""
import datetime as dt, sys
from pathlib import Path
from tests.test_quality import CONFIG, TODAY
from pipelines.quality.deliveries import check_deliveries
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace
workspace = Workspace(Path({str(tmp_path)!r}))
with open_warehouse(workspace.warehouse("q")) as con:
    result = check_deliveries(workspace, "q", CONFIG, con, TODAY, dt.datetime(2026, 11, 26))
print(result.outcome.success, result.files, "great_expectations" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[-2] == "True [] False"
