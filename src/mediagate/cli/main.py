"""``mediagate``: the command-line app, ``serve`` and ``migrate``; every other command group is a
module of its own in this package, each an adapter over the services. Nothing here touches SQL or
storage directly."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

import mediagate.cli.quotas  # noqa: F401  (adds ``accounts quota`` and ``accounts delivery``)
from mediagate.cli import serverinfo
from mediagate.cli.accounts import accounts_app
from mediagate.cli.carrier import carrier_app, inbound
from mediagate.cli.common import CommandGroup, fail, load_settings, open_runtime, out, runtime_for
from mediagate.cli.encryption import encryption_app
from mediagate.cli.keys import keys_app
from mediagate.cli.media import media_app
from mediagate.cli.numbers import numbers_app
from mediagate.cli.retention import retention_app
from mediagate.cli.settings import settings_app
from mediagate.cli.signing import signing_app
from mediagate.cli.webhooks import webhooks_app
from mediagate.observability import multiproc
from mediagate.observability.logging_setup import configure, granian_log_config
from mediagate.runtime.context import Runtime

if TYPE_CHECKING:
    from mediagate.core.settings import Settings
    from mediagate.testmode.seed import Seed
from mediagate.serving import malloc_arenas

# Plain click help (rich_markup_mode=None on every Typer): it wraps at 80 columns, where rich's
# option table cut long flags such as --enforce-media-http-auth to "--enforce-media-ht…".
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="mediagate: Twilio-compatible media service.",
    rich_markup_mode=None,
    cls=CommandGroup,  # every command's ApiError is one line and exit status 2
)
# One module per command group; ``accounts quota``/``accounts delivery`` (cli/quotas.py)
# add themselves to the accounts group.
app.add_typer(accounts_app, name="accounts")
app.add_typer(settings_app, name="settings")
app.add_typer(keys_app, name="keys")
app.add_typer(signing_app, name="signing-keys")
app.add_typer(media_app, name="media")
app.add_typer(encryption_app, name="encryption")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(carrier_app, name="carrier")
app.add_typer(numbers_app, name="numbers")
app.add_typer(retention_app, name="retention")
app.command("inbound", short_help="Deliver an inbound message as a carrier would.")(inbound)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"mediagate {version('mediagate')}\n")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """mediagate: Twilio-compatible media service."""


@app.command(short_help="Start the HTTP server (API and both media hosts).")
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: MEDIAGATE_HOST, else 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on [default: MEDIAGATE_PORT, else 8080].")
    ] = None,
    workers: Annotated[int, typer.Option(help="Server processes (share the database).")] = 1,
    threads: Annotated[int, typer.Option(help="I/O threads per worker (granian's runtime threads).")] = 1,
    quickstart: Annotated[
        bool, typer.Option(help="Create an account if none exists and print how to use it.")
    ] = False,
    role: Annotated[
        str | None,
        typer.Option(
            help="What this process runs: all, api (no background workers) or worker (background "
            "work only; answers /healthz, /readyz, /metrics) [default: MEDIAGATE_ROLE, else all]."
        ),
    ] = None,
    test_mode: Annotated[
        bool,
        typer.Option(
            "--test-mode",
            help="Turn on test mode (/v1/Testing/*: clock, faults, journal, reset; docs/test-mode.md) "
            "[default: MEDIAGATE_TEST_MODE].",
        ),
    ] = False,
) -> None:
    """Start the HTTP server (API, secured media host, public media host) on granian (RSGI)."""
    # The flags win over MEDIAGATE_HOST/PORT (which used to be overwritten by the
    # flags' defaults); the environment carries the result to the worker processes.
    if host is not None:
        os.environ["MEDIAGATE_HOST"] = host
    if port is not None:
        os.environ["MEDIAGATE_PORT"] = str(port)
    if role is not None:
        os.environ["MEDIAGATE_ROLE"] = role
    if test_mode:
        os.environ["MEDIAGATE_TEST_MODE"] = "true"
    # Before the first thread starts: this process and its workers keep two
    # malloc arenas (serving/malloc_arenas.py says why).
    malloc_arenas.limit()
    # Before anything imports prometheus_client: workers inherit the choice.
    metrics_dir = multiproc.prepare(workers)
    try:
        settings = load_settings(use_running_server=False)
        problem = settings.startup_problem() or settings.multi_process_problem(workers)
        if problem:
            fail(problem)
        seeded = _seed(settings)
        host, port = settings.host, settings.port
        configure(settings.log_level, settings.log_format)
        settings.warn_if_unsafe()
        rt = runtime_for(settings)  # runs migrations once, before any worker starts
        # Another live process on this database (perhaps on another machine)
        # and no Redis: refused here with one line; each process's lifespan
        # checks again (cluster/processes.py) for processes started at once.
        from mediagate.cluster import processes

        problem = processes.conflict(rt)
        if problem:
            rt.close()
            fail(problem)
        if seeded is not None:
            from mediagate.testmode import seed

            seed.apply(rt, seeded)
        if quickstart:
            _print_quickstart(rt)
        rt.close()
        serverinfo.record(settings)  # so that `mediagate inbound` etc. report this server's URL
        _serve_granian(host, port, workers, settings.log_level, threads)
    finally:
        multiproc.cleanup(metrics_dir)


def _seed(settings: Settings) -> Seed | None:
    """The seed file, read before anything starts: a bad one stops here, with one line."""
    if settings.seed_file is None:
        return None
    from mediagate.testmode import seed

    try:
        return seed.load(settings.seed_file)
    except seed.SeedError as exc:
        fail(str(exc))


def _serve_granian(host: str, port: int, workers: int, log_level: str, threads: int) -> None:
    from granian.constants import Interfaces, Loops
    from granian.server import Server

    if workers == 1:
        # One process: granian in our own loop (mediagate/serving/embedded.py says why).
        from mediagate.serving import embedded

        embedded.run(host, port, log_level, threads)
        return
    Server(
        "mediagate.serving.rsgi:app",
        address=host,
        port=port,
        interface=Interfaces.RSGI,
        loop=Loops.uvloop,  # as the embedded server (serving/embedded.py); never a silent fallback
        workers=workers,
        runtime_threads=threads,
        log_access=False,  # an access log would record signed-URL signatures
        log_level=log_level.lower(),  # type: ignore[arg-type]
        log_dictconfig=granian_log_config(),  # its loggers go through our handler
    ).serve()


def _print_quickstart(rt: Runtime) -> None:
    from mediagate.accounts import accounts

    existing = [a for a in accounts.list_all(rt) if a.status == "active"]
    if existing:
        account = existing[0]
        token = accounts.reveal_auth_token(rt, account)
        state = "existing account"
    else:
        created = accounts.create(rt, "Quickstart")
        account, token = created.account, created.auth_token
        state = "new account"
    base = rt.settings.public_url
    out.print(f"\n[bold green]mediagate[/bold green] is starting at [bold]{base}[/bold]")
    # The two values line up under each other whichever label comes first ("new account"
    # and "existing account" differ in length).
    lead = f"  {state}:  "
    out.print(f"{lead}Account SID [bold]{account.sid}[/bold]")
    out.print(f"{' ' * len(lead)}Auth Token  [bold]{token}[/bold]")
    out.print("  try it:")
    out.print(
        f"    curl -u {account.sid}:{token} {base}/v1/Accounts/{account.sid}/MessagingSettings",
        soft_wrap=True,
    )
    out.print("  more accounts: .venv/bin/mediagate accounts create --friendly-name NAME --json")
    # Numbers are the operator's to hand out (docs/security.md#number-ownership).
    out.print(f"  a number to receive on: .venv/bin/mediagate numbers assign +15551230001 {account.sid}\n")


@app.command("migrate")
def migrate() -> None:
    """Apply database migrations (serve does this at start)."""
    open_runtime()
    out.print("database is up to date")


def main() -> None:
    app()
