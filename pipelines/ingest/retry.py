"""Reading rejected files again: by itself once `client.yaml` changes, for the rejections the
configuration decides, and on demand (`cap retry`) for any rejected or quarantined file.

A rejection stores the SHA-256 of the configuration it was read under. At the next load, a
file rejected by a rule in `CONFIG_RULES` under another `client.yaml` goes back to `received`:
fixing the configuration (an alias for a site, a header, an encoding) is enough.
"""

import datetime as dt
import hashlib
import logging

import duckdb

from pipelines.config.model import ClientConfig
from pipelines.ingest.archive import source_for
from pipelines.ingest.manifest import Decision, record_decision
from pipelines.sql import execute_sql
from pipelines.storage import ensure_sound
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

logger = logging.getLogger(__name__)

CONFIG_RULES = frozenset(
    {
        "no_source",  # no source's pattern matches the name: sources[].pattern
        "unknown_site",  # sites[].name, sites[].aliases
        "no_site",  # the site column or sheet names: sources[].site
        "misdecoded_text",  # sources[].encoding
        "encoding_mismatch",  # sources[].encoding
        "content_mismatch",  # sources[].format
        "no_data",  # no header found: sources[].period, columns, sheets, skip_sheets
        "bad_period",  # sources[].period, date_format, the client's cadence
        "decimal_convention",  # sources[].locale
        "unexpected_percent",  # sources[].columns (which KPI a column holds)
        "file_too_large",  # sources[].max_file_mb
    }
)
"""The rejection rules whose outcome `client.yaml` decides. The others are the data's own
(a number that is text, a corrupt or empty workbook, a formula without its value, a value
given twice, a period after today): a changed configuration cannot change them."""


class RetryError(Exception):
    """Nothing to retry; the message says why and what can be retried."""


def config_sha256(config: ClientConfig) -> str:
    """SHA-256 of the validated configuration (its JSON): what `client.yaml` says, so that a
    comment or a reordering of keys reads nothing again."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()


def requeue_after_config_change(
    con: duckdb.DuckDBPyConnection, config: ClientConfig, config_hash: str
) -> list[str]:
    """Send back to `received` the files rejected by a configuration rule under another
    `client.yaml`; their names. Their source is matched again (a pattern may have changed)."""
    rows = execute_sql(
        con,
        "requeue_config_rejections",
        {"config_sha256": config_hash, "rules": sorted(CONFIG_RULES)},
    ).fetchall()
    _match_sources(con, config, rows)
    return sorted(name for _, name in rows)


def retry_files(workspace: Workspace, slug: str, name: str | None = None) -> list[str]:
    """`cap retry`: send back to `received` the client's rejected and quarantined files (or
    only the one received as `name`), for the next run to read; their names. Raises
    `RetryError` when there is none (naming those that can be retried), `WarehouseUnreadable`
    when the warehouse is damaged."""
    config = workspace.load_config(slug)
    ensure_sound(workspace, slug)
    with open_warehouse(workspace.warehouse(slug)) as con:
        names = requeue(con, config, name)
        if not names:
            retryable = [n for (n,) in execute_sql(con, "select_retryable_files").fetchall()]
            if name is None:
                raise RetryError(f"{slug} has no rejected or quarantined file")
            raise RetryError(
                f"no rejected or quarantined file named {name!r}"
                + (f" (those that are: {', '.join(retryable)})" if retryable else "")
            )
        # Recorded while the lock is held: a rebuild replays it in its place.
        record_decision(workspace, slug, Decision("retry", name, _now()))
    logger.info("%s: %d files to read again: %s", slug, len(names), ", ".join(names))
    return names


def requeue(con: duckdb.DuckDBPyConnection, config: ClientConfig, name: str | None) -> list[str]:
    """Send back to `received` the rejected and quarantined files (or those received as
    `name`), their source matched again; their names (none: nothing to retry)."""
    rows = execute_sql(con, "requeue_files", {"name": name}).fetchall()
    _match_sources(con, config, rows)
    return sorted(n for _, n in rows)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _match_sources(
    con: duckdb.DuckDBPyConnection, config: ClientConfig, rows: list[tuple[str, str]]
) -> None:
    for digest, name in rows:
        execute_sql(
            con,
            "update_file_source",
            {"sha256": digest, "original_name": name, "source": source_for(config, name)},
        )
