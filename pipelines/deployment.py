"""The Dagster instance of a deployment: PostgreSQL storage, queued runs, run monitoring and
retries, and the webserver's and daemon's `workspace.yaml` pointing at Cap's gRPC code server.

`cap` writes a local `dagster.yaml` (SQLite, `pipelines.workspace.DAGSTER_YAML`) for one
consultant's machine; a firm's installation runs the daemon, the webserver and the code server
as separate processes (or pods) over one PostgreSQL database, with this one. Both carry the same
run queue limits, run monitoring and retries. Connections come from environment variables, so
the files hold no secret:

    python -m pipelines.deployment --write "$DAGSTER_HOME"
"""

import argparse
import logging
import sys
from pathlib import Path

from pipelines.workspace import INSTANCE_BASICS_YAML, RUN_MONITORING_YAML, RUN_QUEUE_YAML

logger = logging.getLogger(__name__)

PG_ENV_VARS = (
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_DB",
)
"""The PostgreSQL connection of the deployment's instance, read by every Dagster process."""
CODE_SERVER_ENV_VARS = ("CAP_CODE_SERVER_HOST", "CAP_CODE_SERVER_PORT")
"""Where the webserver and the daemon find Cap's gRPC code server (`dagster api grpc`)."""

DEPLOYMENT_DAGSTER_YAML = (
    """\
# Dagster instance of a Cap deployment (written by `python -m pipelines.deployment`): runs,
# events, schedules and sensors in PostgreSQL, shared by the daemon, the webserver, the code
# server and every run's process. The connection comes from the environment.
storage:
  postgres:
    postgres_db:
      username:
        env: DAGSTER_PG_USERNAME
      password:
        env: DAGSTER_PG_PASSWORD
      hostname:
        env: DAGSTER_PG_HOST
      port:
        env: DAGSTER_PG_PORT
      db_name:
        env: DAGSTER_PG_DB
      # The driver dagster-postgres installs (SQLAlchemy 2.1 would pick psycopg 3 otherwise).
      scheme: postgresql+psycopg2
# Runs wait in the queue; the daemon starts them within the limits below (`concurrency`).
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
# Each run in a process of its own, started by the code server. On Kubernetes the Helm chart
# puts the K8sRunLauncher here instead: one pod per run (README, "Deploying for a firm").
run_launcher:
  module: dagster
  class: DefaultRunLauncher
"""
    + INSTANCE_BASICS_YAML
    + RUN_QUEUE_YAML
    + RUN_MONITORING_YAML
)
"""The deployment's `dagster.yaml`: the local one's queue limits, monitoring and retries, over
PostgreSQL (`dagster-postgres`) and the queued run coordinator."""

DEPLOYMENT_WORKSPACE_YAML = """\
# Cap's code location, served by `dagster api grpc -m pipelines.definitions` (the Dockerfile's
# command): the webserver and the daemon load the code from it, never in their own process.
load_from:
  - grpc_server:
      host:
        env: CAP_CODE_SERVER_HOST
      port:
        env: CAP_CODE_SERVER_PORT
      location_name: cap
"""
"""The `workspace.yaml` of the webserver and the daemon (`-w workspace.yaml`)."""


def write_deployment_files(folder: Path) -> tuple[Path, Path]:
    """Write `dagster.yaml` and `workspace.yaml` of a deployment into `folder` (DAGSTER_HOME),
    replacing any there; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    dagster_yaml = folder / "dagster.yaml"
    workspace_yaml = folder / "workspace.yaml"
    dagster_yaml.write_text(DEPLOYMENT_DAGSTER_YAML, encoding="utf-8")
    workspace_yaml.write_text(DEPLOYMENT_WORKSPACE_YAML, encoding="utf-8")
    logger.info("Wrote %s and %s", dagster_yaml, workspace_yaml)
    return dagster_yaml, workspace_yaml


def main(argv: list[str] | None = None) -> int:
    """`python -m pipelines.deployment --write DIR`: write the deployment's Dagster files."""
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.deployment",
        description="Write the dagster.yaml (PostgreSQL, queued runs) and workspace.yaml (gRPC "
        "code server) of a Cap deployment. They read "
        + ", ".join(PG_ENV_VARS + CODE_SERVER_ENV_VARS)
        + " from the environment.",
    )
    parser.add_argument("--write", type=Path, required=True, metavar="DIR", help="DAGSTER_HOME")
    args = parser.parse_args(argv)
    for path in write_deployment_files(args.write):
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
