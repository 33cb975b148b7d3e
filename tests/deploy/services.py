"""The processes of a deployment on one machine, for `make test-deploy`: a PostgreSQL server in a
temporary folder, then Dagster's code server, webserver and daemon, each in a process group of
its own so that stopping it stops its children too (run workers, PostgreSQL's backends)."""

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

POSTGRES_ROOTS = (Path("/usr/lib/postgresql"),)
"""Where Debian installs PostgreSQL's server programs, one folder per major version."""
POSTGRES_USER = "postgres"
"""The system account that owns the data folder when the tests run as root (initdb refuses
root), created by Debian's `postgresql` package."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin() -> Path:
    """The `bin` folder of the newest PostgreSQL server installed (`make test-deploy` installs
    Debian's `postgresql` when there is none)."""
    found = sorted(
        (path.parent for root in POSTGRES_ROOTS for path in root.glob("*/bin/initdb")),
        key=lambda folder: int(folder.parent.name) if folder.parent.name.isdigit() else 0,
    )
    if not found:
        raise RuntimeError(
            "No PostgreSQL server under /usr/lib/postgresql: run `make test-deploy`, which "
            "installs Debian's postgresql package"
        )
    return found[-1]


def wait_until(what: str, ready: Callable[[], bool], timeout: float, every: float = 0.5) -> None:
    """Poll `ready` until it is true; raise naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(every)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")


@dataclass
class Service:
    """A process started in its own process group, its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        """The end of its log, for a failure message."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the process and everything in its group: its signal, then SIGKILL."""
        for sig, wait in ((self.stop_signal, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            # The leader is gone; its children may not be.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            break
        if self._log_file is not None:
            self._log_file.close()


def start(
    name: str,
    command: list[str],
    env: Mapping[str, str],
    logs: Path,
    cwd: Path | None = None,
    stop_signal: int = signal.SIGTERM,
) -> Service:
    """Start `command` in a new session (its own process group), output to `logs/<name>.log`."""
    log = logs / f"{name}.log"
    log_file = log.open("wb")
    process = subprocess.Popen(
        command,
        env=dict(env),
        cwd=cwd,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    logger.info("%s started (pid %s): %s", name, process.pid, " ".join(command))
    return Service(name, process, log, stop_signal, log_file)


def as_postgres_owner(command: list[str]) -> list[str]:
    """`command` run as the `postgres` account when this process is root, else as it is."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root without runuser: cannot start PostgreSQL")
    return [runuser, "-u", POSTGRES_USER, "--", *command]


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server of the tests: its port, user and database."""

    service: Service
    port: int
    user: str
    database: str

    def env(self) -> dict[str, str]:
        """The deployment's connection variables (`pipelines.deployment.PG_ENV_VARS`)."""
        return {
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": self.database,
        }


def start_postgres(folder: Path, logs: Path, database: str = "dagster") -> Postgres:
    """initdb a cluster in `folder` (trust authentication, on 127.0.0.1 only), start it on a free
    port and create `database`. Owned by the `postgres` account when running as root."""
    import psycopg2

    binaries = postgres_bin()
    folder.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(folder, user=POSTGRES_USER, group=None)
    user = "cap"
    subprocess.run(
        as_postgres_owner(
            [str(binaries / "initdb"), "-D", str(folder), "-U", user, "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        stdout=(logs / "initdb.log").open("wb"),
        stderr=subprocess.STDOUT,
        timeout=120,
    )
    port = free_port()
    service = start(
        "postgres",
        as_postgres_owner(
            [
                str(binaries / "postgres"),
                "-D",
                str(folder),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={folder}",
                # A throwaway cluster: no need to wait for the disk.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        ),
        os.environ,
        logs,
        stop_signal=signal.SIGINT,  # PostgreSQL's fast shutdown
    )

    def accepting() -> bool:
        if not service.alive():
            raise RuntimeError(f"PostgreSQL exited:\n{service.tail()}")
        try:
            psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname="postgres").close()
        except psycopg2.OperationalError:
            return False
        return True

    wait_until("PostgreSQL", accepting, timeout=60)
    connection = psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"create database {database}")
    connection.close()
    return Postgres(service, port, user, database)


def http_ok(url: str) -> bool:
    """Whether a GET of `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def graphql(url: str, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """POST a GraphQL query to the webserver; its `data`, or raise with its errors."""
    body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]
