"""The nightly run at 02:00 on each client's own clock, daylight-saving changes included."""

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from client_folders import write_client

from pipelines.defs.resources import CapWorkspace
from pipelines.defs.schedules import nightly_client_runs
from pipelines.inputs import inputs_fingerprint, record_completed, record_started
from pipelines.scheduling import clients_due, local_instant
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

UTC = dt.UTC
ZONES = {
    "paris": "Europe/Paris",
    "fort-de-france": "America/Martinique",
    "pune": "Asia/Kolkata",
}


def hourly_ticks(first: dt.date, last: dt.date) -> list[dt.datetime]:
    """Every hourly tick (UTC) from `first` 00:00 to `last` 23:00."""
    start = dt.datetime.combine(first, dt.time(0), UTC)
    hours = ((last - first).days + 1) * 24
    return [start + dt.timedelta(hours=hour) for hour in range(hours)]


def runs_over(ticks: list[dt.datetime]) -> dict[tuple[str, dt.date], list[dt.datetime]]:
    """(client, local date) -> the ticks that requested its run."""
    runs: dict[tuple[str, dt.date], list[dt.datetime]] = {}
    for tick in ticks:
        for run in clients_due(tick, ZONES):
            runs.setdefault((run.slug, run.local_date), []).append(tick)
    return runs


def utc(day: str, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), UTC)


@pytest.mark.parametrize(
    ("first", "last", "paris"),
    [
        (
            # Winter time until Sunday 29 March: 02:00 CET is 01:00 UTC. That night 02:00 does not
            # exist (02:00 -> 03:00), the run goes at 03:00 CEST, 01:00 UTC; then 00:00 UTC.
            dt.date(2026, 3, 27),
            dt.date(2026, 4, 1),
            {
                "2026-03-27": 1,
                "2026-03-28": 1,
                "2026-03-29": 1,
                "2026-03-30": 0,
                "2026-03-31": 0,
                "2026-04-01": 0,
            },
        ),
        (
            # Summer time until Sunday 25 October: 02:00 CEST is 00:00 UTC. That night 02:00
            # happens twice (03:00 CEST -> 02:00 CET): only the first, 00:00 UTC; then 01:00 UTC.
            dt.date(2026, 10, 23),
            dt.date(2026, 10, 28),
            {
                "2026-10-23": 0,
                "2026-10-24": 0,
                "2026-10-25": 0,
                "2026-10-26": 1,
                "2026-10-27": 1,
                "2026-10-28": 1,
            },
        ),
    ],
    ids=["march", "october"],
)
def test_every_hourly_tick_runs_each_client_once_a_night_at_its_0200(
    first: dt.date, last: dt.date, paris: dict[str, int]
) -> None:
    runs = runs_over(hourly_ticks(first, last))
    assert all(len(ticks) == 1 for ticks in runs.values()), runs
    # Paris: one run a night, at the UTC hour its 02:00 falls on.
    assert {
        day.isoformat(): ticks[0] for (slug, day), ticks in runs.items() if slug == "paris"
    } == {day: utc(day, hour) for day, hour in paris.items()}
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    # Martinique (UTC-4, no daylight saving): 02:00 there is 06:00 UTC, every night.
    assert [runs[("fort-de-france", day)] for day in days] == [
        [dt.datetime.combine(day, dt.time(6), UTC)] for day in days
    ]
    # Kolkata (UTC+5:30): 02:00 there is 20:30 UTC the day before, run at the 21:00 tick.
    kolkata = {day: ticks for (slug, day), ticks in runs.items() if slug == "pune"}
    assert kolkata == {
        day: [dt.datetime.combine(day - dt.timedelta(days=1), dt.time(21), UTC)]
        for day in [*days[1:], last + dt.timedelta(days=1)]
    }


def test_zoneinfo_agrees_on_the_paris_changes() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 29 March: 02:00 CET never shows; the clock jumps at 01:00 UTC to 03:00 CEST.
    assert utc("2026-03-29", 0, 59).astimezone(paris).strftime("%H:%M %Z") == "01:59 CET"
    assert utc("2026-03-29", 1).astimezone(paris).strftime("%H:%M %Z") == "03:00 CEST"
    # 25 October: 02:00 shows at 00:00 UTC (CEST) and again at 01:00 UTC (CET).
    assert utc("2026-10-25", 0).astimezone(paris).strftime("%H:%M %Z") == "02:00 CEST"
    assert utc("2026-10-25", 1).astimezone(paris).strftime("%H:%M %Z") == "02:00 CET"


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected"),
    [
        ("Europe/Paris", "2026-03-29", dt.time(2), utc("2026-03-29", 1)),
        # Not at the start of the jump: still its end, the first instant after it.
        ("Europe/Paris", "2026-03-29", dt.time(2, 30), utc("2026-03-29", 1)),
        ("Europe/Paris", "2026-10-25", dt.time(2), utc("2026-10-25", 0)),
        ("America/New_York", "2026-03-08", dt.time(2), utc("2026-03-08", 7)),
        ("America/New_York", "2026-11-01", dt.time(1, 30), utc("2026-11-01", 5, 30)),
        # Lord Howe moves its clock by half an hour, at 02:00.
        ("Australia/Lord_Howe", "2026-10-04", dt.time(2), utc("2026-10-03", 15, 30)),
        ("Asia/Kolkata", "2026-03-29", dt.time(2), utc("2026-03-28", 20, 30)),
    ],
)
def test_local_instant(zone: str, day: str, at: dt.time, expected: dt.datetime) -> None:
    assert local_instant(dt.date.fromisoformat(day), at, ZoneInfo(zone)) == expected


def test_a_tick_is_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        clients_due(dt.datetime(2026, 3, 29, 1), ZONES)


def test_the_run_key_names_the_local_night() -> None:
    (run,) = clients_due(utc("2026-03-28", 21), ZONES)
    assert (run.slug, run.run_key) == ("pune", "nightly:2026-03-29:pune")


# --- the Dagster schedule ----------------------------------------------------------------------


def evaluate(
    instance: dg.DagsterInstance, home: Path, tick: dt.datetime
) -> list[dg.RunRequest] | dg.SkipReason:
    context = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=tick,
        resources={"cap": CapWorkspace(home=str(home))},
    )
    return nightly_client_runs(context)


def test_the_schedule_ticks_hourly_in_utc_and_starts_running() -> None:
    schedule = nightly_client_runs
    assert schedule.cron_schedule == "0 * * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "client_pipeline"


def test_the_schedule_requests_each_client_at_its_own_0200(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    write_client(tmp_path, "alpha", timezone="Europe/Paris")
    write_client(tmp_path, "beta", timezone="America/Martinique")
    broken = tmp_path / "clients" / "gamma"
    broken.mkdir(parents=True)
    (broken / "client.yaml").write_text("name: Gamma\ncadence: daily\n", encoding="utf-8")
    ticks = [
        utc("2026-03-29", 0),  # nobody's 02:00
        utc("2026-03-29", 1),  # Paris: 02:00 skipped by the clock change, 03:00 CEST
        utc("2026-03-29", 1),  # the same tick again
        utc("2026-03-29", 6),  # Martinique: 02:00 AST
    ]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("clients", ["alpha", "beta", "gamma"])
        results = [evaluate(instance, tmp_path, tick) for tick in ticks]
    quiet, paris, again, martinique = results
    assert isinstance(quiet, dg.SkipReason)
    assert "no client's local 02:00" in (quiet.skip_message or "")
    assert isinstance(paris, list) and isinstance(martinique, list)
    assert [(r.partition_key, r.run_key) for r in paris] == [("alpha", "nightly:2026-03-29:alpha")]
    assert [(r.partition_key, r.run_key) for r in martinique] == [
        ("beta", "nightly:2026-03-29:beta")
    ]
    # Evaluated twice, a tick asks for the same run key: Dagster launches it once.
    assert again == paris
    # The invalid client is skipped without stopping the others, said at its default 02:00
    # (not at every tick), naming the problem.
    err = capfd.readouterr().err
    assert err.count("gamma: nightly run skipped, its client.yaml is invalid") == 2, err
    assert "cadence: expected one of 'monthly', 'weekly', got 'daily'" in err


def test_the_schedule_skips_a_client_whose_inputs_did_not_change(tmp_path: Path) -> None:
    """After a completed run with the same client.yaml, inbox and code, the night is skipped;
    a new file in the inbox brings the client back."""
    write_client(tmp_path, "alpha", timezone="Europe/Paris")
    workspace = Workspace(tmp_path)
    with open_warehouse(workspace.warehouse("alpha")) as con:
        record_started(con, "run-1", inputs_fingerprint(workspace, "alpha"), utc("2026-03-28", 1))
        record_completed(con, "run-1", utc("2026-03-28", 1))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("clients", ["alpha"])
        skipped = evaluate(instance, tmp_path, utc("2026-03-29", 1))
        inbox = workspace.inbox("alpha")
        inbox.mkdir(parents=True, exist_ok=True)
        (inbox / "Tableau de bord 2026.xlsx").write_bytes(b"new delivery")
        requested = evaluate(instance, tmp_path, utc("2026-03-30", 0))
    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message == "unchanged since their last run: alpha"
    assert [(r.partition_key, r.run_key) for r in requested] == [
        ("alpha", "nightly:2026-03-30:alpha")
    ]
