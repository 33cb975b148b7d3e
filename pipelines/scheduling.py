"""When each client's nightly run is due: at 02:00 on the client's own wall clock.

The schedule ticks every hour (UTC). A client is due at the tick that ends the hour holding the
instant of its local 02:00, that is when that instant falls in `(tick - 1 h, tick]`; the run is
named by the client's local date, so a tick evaluated twice never runs a client twice.

Daylight-saving changes: on the spring change (Europe/Paris, last Sunday of March) the clock
jumps from 02:00 to 03:00, and 02:00 stands for the first instant after the jump (03:00 CEST,
01:00 UTC); on the autumn change 02:00 happens twice and only the first one counts (02:00 CEST,
00:00 UTC). Time zones with half-hour offsets (Asia/Kolkata) run at the first tick after their
02:00, at most an hour later.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

NIGHTLY_RUN_TIME = dt.time(2, 0)
"""The local time of every client's nightly run."""
TICK_INTERVAL = dt.timedelta(hours=1)
"""How often the schedule ticks (cron `0 * * * *`)."""

_ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class DueRun:
    """A client whose nightly run is due: its local date and the instant (UTC) of its 02:00."""

    slug: str
    local_date: dt.date
    at: dt.datetime

    @property
    def run_key(self) -> str:
        """`nightly:<local date>:<slug>`: one run per client and local night, whatever the ticks."""
        return f"nightly:{self.local_date.isoformat()}:{self.slug}"


def local_instant(day: dt.date, time: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The instant (UTC) at which the wall clock of `zone` shows `time` on `day`.

    When the clock shows it twice (autumn change), the first time; when it never shows it
    (spring change, the clock jumps over it), the first instant after the jump.
    """
    wall = dt.datetime.combine(day, time)
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # In the gap: with the offset after the jump the wall time maps to an instant before the
    # jump, with the offset before it to one after; the jump lies between, found to the second.
    other = wall.replace(tzinfo=zone, fold=1).astimezone(dt.UTC)
    low, high = sorted((int(other.timestamp()), int(instant.timestamp())))
    jumped = _offset(high, zone)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(middle, zone) == jumped:
            high = middle
        else:
            low = middle
    return dt.datetime.fromtimestamp(high, dt.UTC)


def _offset(timestamp: int, zone: ZoneInfo) -> dt.timedelta | None:
    return dt.datetime.fromtimestamp(timestamp, zone).utcoffset()


def clients_due(
    tick: dt.datetime,
    zones: Mapping[str, str],
    *,
    at: dt.time = NIGHTLY_RUN_TIME,
    interval: dt.timedelta = TICK_INTERVAL,
) -> list[DueRun]:
    """The clients (slug -> IANA time zone) whose local `at` falls in `(tick - interval, tick]`,
    sorted by slug. `tick` must be timezone-aware."""
    if tick.tzinfo is None:
        raise ValueError(f"the tick must be timezone-aware, got {tick!r}")
    start = tick - interval
    due: list[DueRun] = []
    for slug in sorted(zones):
        zone = ZoneInfo(zones[slug])
        # Every local date the window touches, and one on each side: the instant of a date's
        # `at` may lie outside the date's own hours when a clock change lands at midnight.
        day = start.astimezone(zone).date() - _ONE_DAY
        last = tick.astimezone(zone).date() + _ONE_DAY
        while day <= last:
            instant = local_instant(day, at, zone)
            if start < instant <= tick:
                due.append(DueRun(slug, day, instant))
            day += _ONE_DAY
    return due
