"""Resources: the workspace every asset, sensor and schedule works in."""

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.config.model import ClientConfig
from pipelines.delivery.smtp import SmtpSettings, smtp_settings_from_env
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


class Mailer(dg.ConfigurableResource):
    """Where emails go: the SMTP server (each setting from a `CAP_SMTP_*` variable through
    `dg.EnvVar`; empty means unset) and the consultant's address for alerts and the digest.
    Without a host, emails are written as `.eml` files to the workspace's outbox."""

    smtp_host: str = ""
    smtp_port: str = ""
    smtp_security: str = ""
    smtp_user: str = ""
    smtp_password: str = ""
    sender: str = ""
    consultant: str = ""

    def settings(self) -> SmtpSettings | None:
        """The SMTP settings, or None for the outbox; raises ValueError naming the variable
        whose value is invalid."""
        return smtp_settings_from_env(
            {
                "CAP_SMTP_HOST": self.smtp_host,
                "CAP_SMTP_PORT": self.smtp_port,
                "CAP_SMTP_SECURITY": self.smtp_security,
                "CAP_SMTP_USER": self.smtp_user,
                "CAP_SMTP_PASSWORD": self.smtp_password,
                "CAP_SMTP_FROM": self.sender,
            }
        )


def mailer_from_env() -> Mailer:
    """The `Mailer` of the Definitions: every field from its environment variable."""
    return Mailer(
        smtp_host=dg.EnvVar("CAP_SMTP_HOST"),
        smtp_port=dg.EnvVar("CAP_SMTP_PORT"),
        smtp_security=dg.EnvVar("CAP_SMTP_SECURITY"),
        smtp_user=dg.EnvVar("CAP_SMTP_USER"),
        smtp_password=dg.EnvVar("CAP_SMTP_PASSWORD"),
        sender=dg.EnvVar("CAP_SMTP_FROM"),
        consultant=dg.EnvVar("CAP_CONSULTANT_EMAIL"),
    )


def client_today(config: ClientConfig) -> dt.date:
    """Today's date in the client's time zone (periods after it are rejected)."""
    return dt.datetime.now(zoneinfo.ZoneInfo(config.timezone)).date()
