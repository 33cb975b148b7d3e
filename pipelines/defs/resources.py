"""Resources: the workspace every asset, sensor and schedule works in."""

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.config.model import ClientConfig
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace


class CapWorkspace(dg.ConfigurableResource):
    """The workspace (`CAP_HOME`): client folders, archive, warehouses, reports."""

    home: str

    @property
    def workspace(self) -> Workspace:
        """The workspace's paths."""
        return Workspace(Path(self.home).resolve())

    def client_config(self, slug: str) -> ClientConfig:
        """The client's validated `client.yaml` (raises `ConfigError` naming every problem)."""
        return self.workspace.load_config(slug)

    @contextmanager
    def warehouse(self, slug: str, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection to the client's DuckDB warehouse."""
        with open_warehouse(self.workspace.warehouse(slug), read_only=read_only) as con:
            yield con


def client_today(config: ClientConfig) -> dt.date:
    """Today's date in the client's time zone (periods after it are rejected)."""
    return dt.datetime.now(zoneinfo.ZoneInfo(config.timezone)).date()
