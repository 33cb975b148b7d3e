"""The workspace (`CAP_HOME`): where client folders, archives, warehouses and reports live.

Every path Cap writes is built here, from a client slug that the configuration loader has
validated, so that no client-supplied name ever becomes a path.
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipelines.config.loader import CONFIG_FILE_NAME, load_client_config
from pipelines.config.model import SLUG_PATTERN, ClientConfig

logger = logging.getLogger(__name__)

DEFAULT_HOME = Path("data")
QUEUE_SETTINGS = frozenset({"concurrency", "run_queue", "run_coordinator"})
"""Top-level keys of `dagster.yaml` that configure the run queue: where one is present, Cap does
not add its own limits."""

RUN_QUEUE_YAML = """\
# One run at a time per client: runs of different clients may overlap (each client has its own
# DuckDB file), a second run of the same client waits in the queue (DuckDB allows one writing
# process per file). `dagster/partition` is the client's slug on every run of a client.
# Two runs at a time in all, as `cap run`'s two workers: the nightly schedule starts every
# client of a time zone at once, and a run takes up to 0.8 GB.
concurrency:
  runs:
    max_concurrent_runs: 2
    tag_concurrency_limits:
      - key: dagster/partition
        value:
          applyLimitPerUniqueValue: true
        limit: 1
"""
"""The run queue's limits, also appended by `Workspace.ensure` to a `dagster.yaml` written before
they existed (unless that file already configures the run queue or concurrency itself)."""

MONITORING_SETTINGS = frozenset({"run_monitoring", "run_retries"})
"""Top-level keys of `dagster.yaml` that configure run monitoring and retries: where one is
present, Cap does not add its own."""

RUN_MONITORING_YAML = """\
# Killed runs end. The daemon fails a run stuck starting or cancelling for 3 minutes; Cap's
# dead_runs_sensor (and `cap run`, before it runs a client) fails a started run whose process
# is gone, which Dagster's default run launcher cannot see. A nightly run (tagged
# dagster/max_retries: 1) that failed so is retried once; a run whose own step failed is not
# (it would fail again, or pass a blocking check it failed).
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  poll_interval_seconds: 60
run_retries:
  enabled: true
  max_retries: 0
  retry_on_asset_or_op_failure: false
"""
"""Run monitoring and retries, also appended by `Workspace.ensure` to a `dagster.yaml` written
before them (unless that file already configures either)."""

INSTANCE_BASICS_YAML = """\
telemetry:
  enabled: false
# No "join the community" sign-up dialog in the UI (it shows even with telemetry off).
nux:
  enabled: false
python_logs:
  managed_python_loggers:
    - pipelines
"""
"""Telemetry and the sign-up dialog off, Cap's loggers captured: every instance of Cap, local or
deployed."""

DAGSTER_YAML = (
    """\
# Dagster instance settings for Cap (written by `cap`; edit freely, it is not overwritten: `cap`
# only appends the run queue's limits, run monitoring and retries when none of theirs is present).
"""
    + INSTANCE_BASICS_YAML
    + RUN_QUEUE_YAML
    + RUN_MONITORING_YAML
)


@dataclass(frozen=True)
class Workspace:
    """The folders under one `CAP_HOME`."""

    home: Path

    @classmethod
    def from_env(cls) -> "Workspace":
        """The workspace named by `CAP_HOME`, or `./data` when it is not set."""
        return cls(Path(os.environ.get("CAP_HOME") or DEFAULT_HOME).resolve())

    @property
    def clients_dir(self) -> Path:
        """`clients/`: one folder per client, holding `client.yaml` and `inbox/`."""
        return self.home / "clients"

    @property
    def dagster_home(self) -> Path:
        """`dagster/`: DAGSTER_HOME, with `dagster.yaml`."""
        return self.home / "dagster"

    @property
    def outbox(self) -> Path:
        """`outbox/`: emails as `.eml` files when no SMTP server is configured."""
        return self.home / "outbox"

    def client_dir(self, slug: str) -> Path:
        """The client's own folder."""
        return self.clients_dir / _checked(slug)

    def config_path(self, slug: str) -> Path:
        """The client's `client.yaml`."""
        return self.client_dir(slug) / CONFIG_FILE_NAME

    def inbox(self, slug: str) -> Path:
        """Where the consultant drops what the client sent."""
        return self.client_dir(slug) / "inbox"

    def archive(self, slug: str) -> Path:
        """Every file received from the client, named by SHA-256, never modified."""
        return self.home / "archive" / _checked(slug)

    def quarantine(self, slug: str) -> Path:
        """Rejected files, each with a machine-readable reason beside it."""
        return self.home / "quarantine" / _checked(slug)

    def warehouse(self, slug: str) -> Path:
        """The client's DuckDB file."""
        return self.home / "warehouse" / f"{_checked(slug)}.duckdb"

    def reports(self, slug: str) -> Path:
        """Charts, reports and emails of the client."""
        return self.home / "reports" / _checked(slug)

    def client_slugs(self) -> list[str]:
        """Slugs of the client folders that hold a `client.yaml`, sorted."""
        if not self.clients_dir.is_dir():
            return []
        return sorted(
            path.parent.name
            for path in self.clients_dir.glob(f"*/{CONFIG_FILE_NAME}")
            if SLUG_PATTERN.match(path.parent.name)
        )

    def load_config(self, slug: str) -> ClientConfig:
        """The client's validated configuration (raises `ConfigError`)."""
        return load_client_config(self.config_path(slug))

    def ensure(self) -> None:
        """Create the workspace folders and a `dagster.yaml` with telemetry off and one run at a
        time per client, if missing; add the per-client limit to an older `dagster.yaml`."""
        for folder in (
            self.clients_dir,
            self.home / "archive",
            self.home / "quarantine",
            self.home / "warehouse",
            self.home / "reports",
            self.outbox,
            self.dagster_home,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        dagster_yaml = self.dagster_home / "dagster.yaml"
        if not dagster_yaml.exists():
            dagster_yaml.write_text(DAGSTER_YAML, encoding="utf-8")
        else:
            _add_run_queue_limits(dagster_yaml)
            _add_settings(dagster_yaml, MONITORING_SETTINGS, RUN_MONITORING_YAML, "run monitoring")


def _add_run_queue_limits(dagster_yaml: Path) -> None:
    """Append `RUN_QUEUE_YAML` to an existing `dagster.yaml` that configures neither the run
    queue nor concurrency; a file that does (or that is not a YAML mapping) is the consultant's
    and is left as it is: two run-queue settings would conflict and stop Dagster from starting."""
    _add_settings(dagster_yaml, QUEUE_SETTINGS, RUN_QUEUE_YAML, "one run at a time per client")


def _add_settings(dagster_yaml: Path, keys: frozenset[str], block: str, what: str) -> None:
    """Append `block` to an existing `dagster.yaml` that has none of the top-level `keys`; a
    file that has one (or that is not a YAML mapping) is left as it is."""
    text = dagster_yaml.read_text(encoding="utf-8")
    try:
        settings = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    if settings is None:
        settings = {}
    if not isinstance(settings, dict) or settings.keys() & keys:
        return
    separator = "" if not text or text.endswith("\n") else "\n"
    dagster_yaml.write_text(f"{text}{separator}{block}", encoding="utf-8")
    logger.info("Added %s to %s", what, dagster_yaml)


def _checked(slug: str) -> str:
    if not SLUG_PATTERN.match(slug):
        raise ValueError(f"not a client slug: {slug!r}")
    return slug
