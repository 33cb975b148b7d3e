"""`cap`: the command line of Cap (demo workspace, headless runs, configuration checks)."""

import argparse
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path

from pipelines.config.loader import ConfigError, load_client_config
from pipelines.config.model import ClientConfig
from pipelines.config.settings import SETTINGS_FILE_NAME, load_settings
from pipelines.delivery.smtp import MAIL_ENV_VARS
from pipelines.workspace import DEFAULT_HOME, Workspace

logger = logging.getLogger("pipelines.cli")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `cap` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "home", None) is not None or args.command != "schema":
        _use_home(args.home)
    return args.handler(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cap", description="Client spreadsheets in, validated KPIs and evidence out."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: object, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--home",
            type=Path,
            help=f"workspace folder (default: $CAP_HOME, else ./{DEFAULT_HOME})",
        )
        sub.set_defaults(handler=handler)
        return sub

    demo = command("demo", _demo, "Write the three demo clients into the workspace.")
    demo.add_argument(
        "--as-of",
        type=dt.date.fromisoformat,
        default=None,
        help="data runs up to the last complete period before this date (default: today)",
    )
    run = command("run", _run, "Run the whole pipeline headless, for every client or one.")
    run.add_argument("--client", help="only this client (its slug)")
    run.add_argument(
        "--force", action="store_true", help="run clients whose inputs did not change, too"
    )
    run.add_argument(
        "--workers",
        type=int,
        default=None,
        help="clients run at a time, each in its own process (default: 2, or 1 on a "
        "single-core machine; a worker takes up to 0.8 GB)",
    )
    send = command(
        "send", _send, "Email a client's report to its recipients (the consultant's approval)."
    )
    send.add_argument("--client", required=True, help="the client's slug")
    send.add_argument("--period", help="the report's period, e.g. 2026-10 (default: the latest)")
    send.add_argument(
        "--resend", action="store_true", help="send again a period whose email already went out"
    )
    release = command(
        "release",
        _release,
        "Accept a delivery quarantined by a blocking check as it is, then run the client.",
    )
    release.add_argument("--client", required=True, help="the client's slug")
    release.add_argument(
        "file", help="the delivery's file name (or at least 8 hex characters of its SHA-256)"
    )
    rebuild = command(
        "rebuild",
        _rebuild,
        "Rebuild a client's warehouse from its archive (every file received, in order), "
        "keeping its email ledger; swapped in atomically.",
    )
    rebuild.add_argument("--client", required=True, help="the client's slug")
    retry = command(
        "retry",
        _retry,
        "Read again a client's rejected or quarantined files at its next run "
        "(after fixing client.yaml, or the data).",
    )
    retry.add_argument("--client", required=True, help="the client's slug")
    retry.add_argument(
        "file", nargs="?", help="only this file (its name as received; default: all of them)"
    )
    command("init", _init, "Create the workspace folders and Dagster settings if missing.")
    command("check-config", _check_config, "Validate settings.yaml and every client's client.yaml.")
    schema = command("schema", _schema, "Print the JSON Schema of client.yaml (for editors).")
    schema.add_argument("--output", type=Path, help="write it to this file instead")
    return parser


def _use_home(home: Path | None) -> Workspace:
    """Point CAP_HOME (and DAGSTER_HOME, unless set) at the workspace, and create its folders."""
    if home is not None:
        os.environ["CAP_HOME"] = str(home.resolve())
    workspace = Workspace.from_env()
    os.environ["CAP_HOME"] = str(workspace.home)
    os.environ.setdefault("DAGSTER_HOME", str(workspace.dagster_home))
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    for name in MAIL_ENV_VARS:  # unset is no SMTP server: emails go to the outbox
        os.environ.setdefault(name, "")
    workspace.ensure()
    return workspace


def _demo(args: argparse.Namespace) -> int:
    from pipelines.demo import write_demo

    workspace = Workspace.from_env()
    as_of = args.as_of or dt.date.today()
    slugs = write_demo(workspace.home, as_of)
    _write_schema(workspace.home / "client.schema.json")
    _say(f"Demo workspace: {workspace.home}")
    for slug in slugs:
        _say(f"  {slug:<22} {workspace.client_dir(slug)}")
    return 0


def _init(args: argparse.Namespace) -> int:
    workspace = Workspace.from_env()
    _write_schema(workspace.home / "client.schema.json")
    _say(f"Workspace ready: {workspace.home} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    return 0


def _check_config(args: argparse.Namespace) -> int:
    workspace = Workspace.from_env()
    failures = 0
    try:  # a typo here would fail every client when its files are loaded
        settings = load_settings(workspace.home)
    except ConfigError as error:
        failures += 1
        _say(f"FAIL {error}")
    else:
        if (workspace.home / SETTINGS_FILE_NAME).exists():
            limits = settings.limits
            _say(
                f"ok   {SETTINGS_FILE_NAME}: workbooks up to {limits.max_uncompressed_mb} MB "
                f"inflated, {limits.max_cells:,} cells, {limits.max_entries:,} parts, "
                f"{limits.max_compression_ratio} to 1"
            )
    slugs = [path.parent.name for path in sorted(workspace.clients_dir.glob("*/client.yaml"))]
    if not slugs:
        _say(f"No client.yaml under {workspace.clients_dir}")
        return 1
    for slug in slugs:
        try:
            config = load_client_config(workspace.clients_dir / slug / "client.yaml")
        except ConfigError as error:
            failures += 1
            _say(f"FAIL {error}")
        else:
            _say(
                f"ok   {slug}: {config.name}, {len(config.sites)} sites, "
                f"{len(config.sources)} sources"
            )
    return 1 if failures else 0


def _schema(args: argparse.Namespace) -> int:
    if args.output:
        _write_schema(args.output)
        _say(f"JSON Schema written to {args.output}")
    else:
        sys.stdout.write(_schema_text())
    return 0


def _schema_text() -> str:
    schema = ClientConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Cap client.yaml"
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _write_schema(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_schema_text(), encoding="utf-8")


def _send(args: argparse.Namespace) -> int:
    from pipelines.run import send_report

    return send_report(Workspace.from_env(), args.client, args.period, args.resend)


def _release(args: argparse.Namespace) -> int:
    from pipelines.ingest.manifest import Decision, record_decision
    from pipelines.quality.waiting import NotReleasable, release_delivery
    from pipelines.run import run_clients
    from pipelines.warehouse import open_warehouse

    workspace = Workspace.from_env()
    if not _known_client(workspace, args.client):
        return 1
    path = workspace.warehouse(args.client)
    if not path.exists():
        _say(f"{args.client}: nothing delivered yet, nothing to release")
        return 1
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    try:
        with open_warehouse(path) as con:
            released = release_delivery(con, args.file, now)
            # Recorded under the write lock, for a rebuild to replay it in its place.
            record_decision(workspace, args.client, Decision("release", released.sha256, now))
    except NotReleasable as reason:
        _say(f"{args.client}: not released: {reason}")
        return 1
    except OSError as error:  # a damaged warehouse, or one another command holds
        _say(f"{args.client}: not released: {error}")
        return 1
    _say(f"{args.client}: {released.name} {released.reason}; running the client")
    return run_clients(workspace, only=args.client, force=True)


def _rebuild(args: argparse.Namespace) -> int:
    import duckdb

    from pipelines.rebuild import rebuild_warehouse

    workspace = Workspace.from_env()
    if not _known_client(workspace, args.client):
        return 1
    try:
        summary = rebuild_warehouse(workspace, args.client)
    except (ConfigError, OSError, duckdb.Error) as error:
        _say(f"Not rebuilt (the old warehouse is unchanged): {error}")
        return 1
    statuses = ", ".join(f"{count} {status}" for status, count in summary.statuses.items())
    _say(f"Rebuilt {summary.path} from {summary.receptions} files received: {statuses or 'none'}")
    _say(f"  receptions from {summary.origin}")
    _say(f"  {summary.values} values stored; email ledger {summary.ledger_origin}")
    _say(f"  ({summary.emails} emails on record, never sent again)")
    if summary.decisions:
        _say(f"  {summary.decisions} releases and retries of the consultant replayed")
    if summary.kept is not None:
        _say(f"  the previous file is kept as {summary.kept}")
    _say(f"Next: cap run --client {args.client} --force (values, impact and the report)")
    return 0


def _retry(args: argparse.Namespace) -> int:
    from pipelines.ingest.retry import RetryError, retry_files

    workspace = Workspace.from_env()
    if not _known_client(workspace, args.client):
        return 1
    try:
        names = retry_files(workspace, args.client, args.file)
    except RetryError as error:
        _say(f"Nothing to retry: {error}")
        return 1
    except (ConfigError, OSError) as error:  # client.yaml invalid, the warehouse damaged
        _say(f"Not retried: {error}")
        return 1
    _say(f"{len(names)} file{'s' if len(names) != 1 else ''} to read again at the next run:")
    for name in names:
        _say(f"  {name}")
    _say(f"Next: cap run --client {args.client}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from pipelines.run import run_clients

    workspace = Workspace.from_env()
    return run_clients(workspace, only=args.client, force=args.force, workers=args.workers)


def _known_client(workspace: Workspace, slug: str) -> bool:
    """Whether `slug` is a client of the workspace; says so when it is not."""
    if slug in workspace.client_slugs():
        return True
    _say(f"No client {slug!r} in {workspace.clients_dir}")
    return False


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
