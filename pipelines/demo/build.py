"""Write the demo portfolio into a workspace: three clients, their `client.yaml` and inbox files."""

import datetime as dt
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from pipelines.demo.clients import CLIENT_YAML
from pipelines.demo.dashboards import dashboard_files
from pipelines.demo.effects import DURAND, HELIOS, MENUISERIES
from pipelines.demo.exports import export_files
from pipelines.demo.finance_packs import finance_pack_files
from pipelines.demo.periods import last_complete_month, last_complete_week
from pipelines.demo.writers import write_if_changed
from pipelines.workspace import Workspace

logger = logging.getLogger(__name__)

EARLIEST_AS_OF = dt.date(2024, 2, 1)
"""Every demo client has at least one complete period from this date on."""

_FILES: dict[str, Callable[[dt.date], dict[str, bytes]]] = {
    MENUISERIES.slug: lambda as_of: dashboard_files(last_complete_month(as_of), as_of),
    DURAND.slug: lambda as_of: export_files(last_complete_week(as_of)),
    HELIOS.slug: lambda as_of: finance_pack_files(last_complete_month(as_of), as_of),
}


def demo_files(slug: str, as_of: dt.date) -> dict[str, bytes]:
    """The inbox files of one demo client as of a date, by file name."""
    _check_as_of(as_of)
    return _FILES[slug](as_of)


def write_demo(home: Path, as_of: dt.date) -> list[str]:
    """Write the three demo clients under home/clients/<slug>/ (client.yaml + inbox/ files).

    Return the slugs.

    Deterministic and idempotent: the same `as_of` gives byte-identical files, and a file that
    already holds the right bytes is left untouched. Data run from January 2023 (January 2024
    for Helios Services) to the last complete month or ISO week before `as_of`. Files the demo
    no longer writes (from a later `as_of`) are left in place.
    """
    _check_as_of(as_of)
    workspace = Workspace(home)
    slugs = list(_FILES)
    for slug in slugs:
        written = int(write_if_changed(workspace.config_path(slug), CLIENT_YAML[slug]().encode()))
        files = demo_files(slug, as_of)
        inbox = workspace.inbox(slug)
        inbox.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            written += write_if_changed(inbox / name, data)
            delivered = _delivered_at(name, as_of).timestamp()
            os.utime(inbox / name, (delivered, delivered))
        logger.info(
            "demo client %s: %d inbox files as of %s (%d written)",
            slug,
            len(files),
            as_of.isoformat(),
            written,
        )
    return slugs


def _delivered_at(name: str, as_of: dt.date) -> dt.datetime:
    """When the client sent a file, as its modification time says (Cap's delivery order).

    A year's file arrives on 5 January of the next year, the current year's the morning of
    `as_of`; a copy such as `Export_KPI_2025 (1).csv` a day after its original.
    """
    year = int(re.search(r"(20\d\d)", name)[1])
    day = min(dt.date(year + 1, 1, 5), as_of)
    if re.search(r" \(\d+\)\.", name):
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(8, 0), tzinfo=dt.UTC)


def _check_as_of(as_of: dt.date) -> None:
    if as_of < EARLIEST_AS_OF:
        raise ValueError(f"as_of must be on or after {EARLIEST_AS_OF.isoformat()}, got {as_of}")
