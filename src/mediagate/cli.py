"""``mediagate``: serve, and adapters over the services for accounts, keys,
settings and signing keys. Nothing here touches SQL or storage directly."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mediagate import malloc_arenas, serverinfo, sids
from mediagate import settings as settings_mod
from mediagate.context import Runtime, build_runtime
from mediagate.errors import ApiError
from mediagate.logging_setup import configure, granian_log_config
from mediagate.observability import multiproc
from mediagate.settings import Settings
from mediagate.timefmt import iso

# Plain click help (rich_markup_mode=None on every Typer): it wraps at 80 columns, where rich's
# option table cut long flags such as --enforce-media-http-auth to "--enforce-media-ht…".
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="mediagate: Twilio-compatible media service.",
    rich_markup_mode=None,
)
accounts_app = typer.Typer(
    no_args_is_help=True, help="Accounts and their credentials.", rich_markup_mode=None
)
settings_app = typer.Typer(
    no_args_is_help=True, help="The Enforce HTTP Auth on Media URLs setting.", rich_markup_mode=None
)
keys_app = typer.Typer(no_args_is_help=True, help="API keys.", rich_markup_mode=None)
signing_app = typer.Typer(
    no_args_is_help=True, help="Keys that sign secured-media URLs.", rich_markup_mode=None
)
app.add_typer(accounts_app, name="accounts")
app.add_typer(settings_app, name="settings")
app.add_typer(keys_app, name="keys")
app.add_typer(signing_app, name="signing-keys")

# Commands whose first docstring sentence is long carry a short_help: click cuts
# the summary in the command list at 80 columns ("...") otherwise.
# Arguments shared by several commands, each with its help (shown by --help).
AccountSid = Annotated[str, typer.Argument(help="The account: AC followed by 32 hex digits.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table or text.")]

out = Console()
err = Console(stderr=True)


def _settings(*, use_running_server: bool = True) -> Settings:
    """Settings from the environment: one line and exit status 2 for a bad value,
    a warning for an unknown MEDIAGATE_* name; the running server's URL for the
    API base unless MEDIAGATE_PUBLIC_URL says otherwise (``serverinfo``)."""
    for warning in settings_mod.unknown_variables(os.environ):
        err.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)
    try:
        settings = settings_mod.load()
        if use_running_server and "MEDIAGATE_PUBLIC_URL" not in os.environ:
            running = serverinfo.running_url(settings.data_dir)
            if running is not None:
                settings = settings_mod.load(public_url=running)
    except settings_mod.SettingsError as exc:
        _fail(str(exc))
    return settings


def _runtime() -> Runtime:
    settings = _settings()
    # Quiet by default: the CLI prints its own results.
    configure(settings.log_level if "MEDIAGATE_LOG_LEVEL" in os.environ else "warning", settings.log_format)
    from mediagate.services.encryption import EncryptionConfigError

    try:
        return build_runtime(settings)
    except EncryptionConfigError as exc:
        _fail(str(exc))
        raise


def _fail(message: str) -> None:

    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(2)


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


def _account_sid(value: str) -> str:
    if not sids.is_sid(value, sids.ACCOUNT):
        _fail(f"{value!r} is not an Account SID (AC + 32 hex digits)")
    return value


@app.command(short_help="Start the HTTP server (API and both media hosts).")
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: MEDIAGATE_HOST, else 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on [default: MEDIAGATE_PORT, else 8080].")
    ] = None,
    workers: Annotated[int, typer.Option(help="Server processes (share the database).")] = 1,
    threads: Annotated[int, typer.Option(help="granian only: I/O threads per worker.")] = 1,
    quickstart: Annotated[
        bool, typer.Option(help="Create an account if none exists and print how to use it.")
    ] = False,
    server: Annotated[
        str,
        typer.Option(
            help="granian (RSGI: the hot paths answered natively, zero-copy file sends; the "
            "fastest by `make bench`, see bench/results/REPORT.md) or uvicorn (ASGI, uvloop + httptools)."
        ),
    ] = "granian",
    role: Annotated[
        str | None,
        typer.Option(
            help="What this process runs: all, api (no background workers) or worker (background "
            "work only; answers /healthz, /readyz, /metrics) [default: MEDIAGATE_ROLE, else all]."
        ),
    ] = None,
) -> None:
    """Start the HTTP server (API, secured media host, public media host)."""
    if server not in ("uvicorn", "granian"):
        _fail(f"--server must be uvicorn or granian, not {server!r}")

    # The flags win over MEDIAGATE_HOST/PORT (which used to be overwritten by the
    # flags' defaults); the environment carries the result to the worker processes.
    if host is not None:
        os.environ["MEDIAGATE_HOST"] = host
    if port is not None:
        os.environ["MEDIAGATE_PORT"] = str(port)
    if role is not None:
        os.environ["MEDIAGATE_ROLE"] = role
    # Before the first thread starts: this process and its workers keep two
    # malloc arenas (mediagate/malloc_arenas.py says why).
    malloc_arenas.limit()
    # Before anything imports prometheus_client: workers inherit the choice.
    metrics_dir = multiproc.prepare(workers)
    try:
        settings = _settings(use_running_server=False)
        problem = settings.startup_problem() or settings.multi_process_problem(workers)
        if problem:
            _fail(problem)
        host, port = settings.host, settings.port
        configure(settings.log_level, settings.log_format)
        settings.warn_if_unsafe()
        from mediagate.services.encryption import EncryptionConfigError

        try:
            rt = build_runtime(settings)  # runs migrations once, before any worker starts
        except EncryptionConfigError as exc:
            _fail(str(exc))
            raise
        # Another live process on this database (perhaps on another machine)
        # and no Redis: refused here with one line; each process's lifespan
        # checks again (services/processes.py) for processes started at once.
        from mediagate.services import processes

        problem = processes.conflict(rt)
        if problem:
            rt.close()
            _fail(problem)
        if quickstart:
            _print_quickstart(rt)
        rt.close()
        serverinfo.record(settings)  # so that `mediagate inbound` etc. report this server's URL
        if server == "granian":
            _serve_granian(host, port, workers, settings.log_level, threads)
            return
        import uvicorn

        uvicorn.run(
            "mediagate.asgi:app",
            host=host,
            port=port,
            workers=workers,
            access_log=False,  # uvicorn's access log would record signed-URL signatures
            log_config=None,  # keep our handler (logging_setup): one format for every line
            log_level=settings.log_level,
            # Off: the app believes proxy headers only from MEDIAGATE_TRUSTED_PROXIES
            # (mediagate.proxies); uvicorn's own rule trusted any loopback peer.
            proxy_headers=False,
            # uvicorn kills a worker that does not answer its supervisor's ping in
            # time, and a spawned worker answers only once its interpreter is up: on
            # a busy 2-core machine that took longer than the default 5 s, and every
            # worker was killed and respawned forever.
            timeout_worker_healthcheck=30,
        )
    finally:
        multiproc.cleanup(metrics_dir)


def _serve_granian(host: str, port: int, workers: int, log_level: str, threads: int) -> None:
    try:
        from granian.constants import Interfaces
        from granian.server import Server
    except ImportError:
        _fail("--server granian needs the granian package (a dependency of mediagate: reinstall it)")
    if workers == 1:
        # One process: granian in our own loop (mediagate/serving/embedded.py says why).
        from mediagate.serving import embedded

        embedded.run(host, port, log_level, threads)
        return
    Server(
        "mediagate.rsgi:app",
        address=host,
        port=port,
        interface=Interfaces.RSGI,
        workers=workers,
        runtime_threads=threads,
        log_access=False,  # an access log would record signed-URL signatures
        log_level=log_level.lower(),  # type: ignore[arg-type]
        log_dictconfig=granian_log_config(),  # its loggers go through our handler
    ).serve()


def _print_quickstart(rt: Runtime) -> None:
    from mediagate.services import accounts

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
    out.print(f"  {state}:  Account SID [bold]{account.sid}[/bold]")
    out.print(f"                Auth Token  [bold]{token}[/bold]")
    out.print("  try it:")
    out.print(
        f"    curl -u {account.sid}:{token} {base}/v1/Accounts/{account.sid}/MessagingSettings",
        soft_wrap=True,
    )
    out.print("  more accounts: .venv/bin/mediagate accounts create --friendly-name NAME --json")
    # Numbers are the operator's to hand out (docs/security.md#number-ownership).
    out.print(f"  a number to receive on: .venv/bin/mediagate numbers assign +15551230001 {account.sid}\n")


@accounts_app.command("create")
def accounts_create(
    friendly_name: Annotated[str, typer.Option("--friendly-name", help="A name for the account.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (includes the auth token).")] = False,
) -> None:
    """Create an account and print its SID and auth token."""
    from mediagate.services import accounts

    rt = _runtime()
    try:
        created = accounts.create(rt, friendly_name)
    except ApiError as exc:
        _fail(exc.message)
    a = created.account
    data = {
        "sid": a.sid,
        "auth_token": created.auth_token,
        "friendly_name": a.friendly_name,
        "status": a.status,
        "enforce_media_http_auth": a.enforce_media_http_auth,
        "date_created": iso(a.date_created),
        "api_base_url": rt.settings.public_url,
    }
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
    else:
        out.print(f"Account SID  {a.sid}\nAuth Token   {created.auth_token}")


@accounts_app.command("list")
def accounts_list(as_json: AsJson = False) -> None:
    """List accounts (tokens are not shown; use `accounts token`)."""
    from mediagate.services import accounts

    rows = accounts.list_all(_runtime())
    if as_json:
        data = [
            {"sid": a.sid, "friendly_name": a.friendly_name, "status": a.status,
             "enforce_media_http_auth": a.enforce_media_http_auth, "owner_account_sid": a.owner_account_sid}
            for a in rows
        ]  # fmt: skip
        sys.stdout.write(json.dumps(data) + "\n")
        return
    table = Table("Account SID", "Friendly name", "Status", "Media auth")
    for a in rows:
        table.add_row(a.sid, a.friendly_name, a.status, "enforced" if a.enforce_media_http_auth else "off")
    out.print(table)


@accounts_app.command("token")
def accounts_token(account_sid: AccountSid) -> None:
    """Print an account's current auth token."""
    from mediagate.services import accounts

    rt = _runtime()
    try:
        account = accounts.get(rt, _account_sid(account_sid))
    except ApiError as exc:
        _fail(exc.message)
    sys.stdout.write(accounts.reveal_auth_token(rt, account) + "\n")


@settings_app.command("get", short_help="Show the setting and its change history.")
def settings_get(account_sid: AccountSid) -> None:
    """Show whether new media of ACCOUNT_SID requires HTTP auth, and the change history."""
    from mediagate.services import accounts

    rt = _runtime()
    try:
        current = accounts.messaging_settings(rt, _account_sid(account_sid))
    except ApiError as exc:
        _fail(exc.message)
    state = "enabled" if current.enforce_media_http_auth else "disabled"
    out.print(f"Enforce HTTP Auth on Media URLs: [bold]{state}")
    for change in accounts.setting_history(rt, account_sid):
        out.print(
            f"  {iso(change.date_created)}  {change.old_value or '-'} -> {change.new_value}"
            f"  by {change.actor} via {change.via}"
        )


@settings_app.command("set")
def settings_set(
    account_sid: AccountSid,
    enforce: Annotated[
        bool,
        typer.Option(
            "--enforce-media-http-auth/--no-enforce-media-http-auth",
            help="Require HTTP auth for media created from now on, or not (existing media keep theirs).",
        ),
    ],
) -> None:
    """Turn Enforce HTTP Auth on Media URLs on or off for new media."""
    from mediagate.services import accounts

    rt = _runtime()
    try:
        current = accounts.set_enforcement(rt, _account_sid(account_sid), enforce, actor="cli", via="cli")
    except ApiError as exc:
        _fail(exc.message)
    out.print(
        f"Enforce HTTP Auth on Media URLs: {'enabled' if current.enforce_media_http_auth else 'disabled'}"
    )


@keys_app.command("create")
def keys_create(
    account_sid: AccountSid,
    friendly_name: Annotated[str, typer.Option("--friendly-name", help="A name for the key.")] = "",
    kind: Annotated[str, typer.Option("--kind", help="main, standard or restricted.")] = "standard",
    permission: Annotated[
        list[str] | None, typer.Option("--permission", help="For restricted keys; repeat for each.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Create an API key; its secret is shown this once. Main keys (full access,
    including keys and subaccounts) can only be made here, as at Twilio's console."""
    from mediagate.services import keys

    try:
        perms = keys.parse_policy(json.dumps({"allow": permission})) if kind == "restricted" else None
        created = keys.create(
            _runtime(), _account_sid(account_sid), friendly_name, actor="cli", kind=kind, permissions=perms
        )
    except ApiError as exc:
        _fail(exc.message)
    if as_json:
        sys.stdout.write(json.dumps({"sid": created.key.sid, "secret": created.secret,
                                     "friendly_name": created.key.friendly_name}) + "\n")  # fmt: skip
    else:
        out.print(f"API Key SID  {created.key.sid}\nSecret       {created.secret}  (shown only now)")


@keys_app.command("delete")
def keys_delete(
    account_sid: AccountSid,
    key_sid: Annotated[str, typer.Argument(help="The key: SK followed by 32 hex digits.")],
) -> None:
    """Delete (revoke) an API key at once."""
    from mediagate.services import keys

    try:
        keys.delete(_runtime(), _account_sid(account_sid), key_sid, actor="cli")
    except ApiError as exc:
        _fail(exc.message)
    out.print(f"deleted {key_sid}")


@signing_app.command("list")
def signing_list() -> None:
    """List media signing keys."""
    from mediagate.services import signing_keys

    table = Table("Key id", "Status", "Created", "Retired")
    for k in signing_keys.list_keys(_runtime()):
        table.add_row(k.kid, k.status, iso(k.date_created) or "", iso(k.date_retired) or "")
    out.print(table)


@signing_app.command("rotate", short_help="Sign new URLs with a new key (--retire-old: kill old URLs).")
def signing_rotate(
    retire_old: Annotated[
        bool,
        typer.Option(
            "--retire-old/--keep-old", help="Retire the old keys too: every URL they signed stops working."
        ),
    ] = False,
) -> None:
    """Create a new signing key for new URLs; with --retire-old, kill every URL signed before
    (after waiting until every server process signs with the new key: two refresh intervals)."""
    from mediagate.services import signing_keys

    rt = _runtime()
    new, retired = signing_keys.rotate(
        rt,
        retire_old=retire_old,
        actor="cli",
        on_wait=lambda s: err.print(f"new key published; waiting {s:.1f}s until every process signs with it"),
    )
    out.print(f"new signing key {new.kid}" + (f"; retired {', '.join(retired)}" if retired else ""))


@signing_app.command("retire")
def signing_retire(
    kid: Annotated[str, typer.Argument(help="The key id, as `signing-keys list` shows it.")],
) -> None:
    """Retire a signing key: every URL it signed stops working."""
    from mediagate.services import signing_keys

    if not signing_keys.retire(_runtime(), kid, actor="cli"):
        _fail(f"no active signing key {kid}")
    out.print(f"retired {kid}")


media_app = typer.Typer(
    no_args_is_help=True, help="Explicit operations on stored media.", rich_markup_mode=None
)
app.add_typer(media_app, name="media")


@media_app.command("secure-legacy", short_help="Require HTTP auth for an account's legacy public media.")
def media_secure_legacy(
    account_sid: AccountSid,
    batch: Annotated[int, typer.Option(help="Media per committed batch.")] = 500,
) -> None:
    """Require HTTP auth for ACCOUNT_SID's legacy public media (resumable: just run it again)."""
    from rich.progress import Progress as Bar

    from mediagate.services import maintenance

    rt = _runtime()
    _account_sid(account_sid)
    total = maintenance.legacy_count(rt, account_sid)
    if total == 0:
        out.print("no legacy public media")
        return
    with Bar(console=err) as bar:
        task = bar.add_task("securing legacy media", total=total)
        for step in maintenance.secure_legacy(rt, account_sid, actor="cli", batch=batch):
            bar.update(task, completed=step.done, total=step.total)
    out.print(f"{total} media now require HTTP auth")


@media_app.command("revoke", short_help="Void the outstanding signed URLs of one media or of an account.")
def media_revoke(
    account_sid: AccountSid,
    media: Annotated[str | None, typer.Option("--media", help="Only this media (ME...).")] = None,
) -> None:
    """Void every signed URL issued until now for one media (--media) or every media of ACCOUNT_SID.
    Running servers refuse them within a few seconds; fresh URLs work (services/revocation.py)."""
    from mediagate.errors import ApiError
    from mediagate.services import revocation

    rt = _runtime()
    _account_sid(account_sid)
    if media is not None and not sids.is_sid(media, sids.MEDIA):
        _fail(f"{media!r} is not a Media SID (ME + 32 hex digits)")
    try:
        if media is None:
            done = revocation.revoke_account(rt, account_sid, actor="cli")
        else:
            done = revocation.revoke_media(rt, account_sid, media, actor="cli")
    except ApiError as exc:
        _fail(exc.message)
    what = f"media {done.media_sid}" if done.media_sid else f"every media of {account_sid}"
    moved = f"; {done.objects_moved} objects moved to new keys" if done.objects_moved else ""
    out.print(f"revoked the signed URLs of {what}{moved}")


@media_app.command("gc")
def media_gc(grace: Annotated[float, typer.Option(help="Seconds an orphan must be old.")] = 3600) -> None:
    """Delete objects no media row refers to, and interrupted writes (temp files, S3 multipart uploads)."""
    from mediagate.services import maintenance

    removed = maintenance.collect_garbage(_runtime(), grace_seconds=grace)
    out.print(f"removed {removed} orphaned objects and interrupted writes")


encryption_app = typer.Typer(
    no_args_is_help=True, help="Encryption at rest: master keys (docs/encryption.md).", rich_markup_mode=None
)
app.add_typer(encryption_app, name="encryption")


@encryption_app.command("status")
def encryption_status(as_json: AsJson = False) -> None:
    """How many sealed objects each master key wraps, and which key is active."""
    from mediagate.services import encryption

    rt = _runtime()
    keys, in_use = encryption.usage(rt)
    if as_json:
        out.print_json(
            json.dumps({"active": keys.active, "encryption": rt.settings.encryption, "objects": in_use})
        )
        return
    out.print(f"encryption {rt.settings.encryption}, active master key {keys.active!r}")
    for key_id, count in in_use.items():
        out.print(f"{key_id}: {count} sealed objects")


@encryption_app.command("rewrap", short_help="Re-wrap every data key under the active master key.")
def encryption_rewrap(
    batch: Annotated[int, typer.Option(min=1, max=10000, help="Rows per transaction.")] = 500,
) -> None:
    """Re-wrap the data keys of sealed objects under the active master key
    (MEDIAGATE_MASTER_KEY_ID), after a rotation. Objects are not rewritten.
    Resumable: an interrupted run is continued by running it again. Keep the
    old key in MEDIAGATE_MASTER_KEYS until this reports 0 remaining."""
    from mediagate.services import encryption

    rt = _runtime()
    keys, result = encryption.rewrap_all(rt, batch=batch)
    out.print(f"rewrapped {result.rewrapped} data keys under {keys.active!r}; {result.remaining} remaining")
    if result.remaining:
        raise typer.Exit(1)


webhooks_app = typer.Typer(
    no_args_is_help=True,
    help="Webhook deliveries (inbound messages, status callbacks).",
    rich_markup_mode=None,
)
app.add_typer(webhooks_app, name="webhooks")


@app.command("inbound", short_help="Deliver an inbound message as a carrier would.")
def inbound(
    to: Annotated[str, typer.Option("--to", help="A number owned here (+E164 or whatsapp:+E164).")],
    from_: Annotated[str, typer.Option("--from", help="The sender (+E164 or whatsapp:+E164).")],
    body: Annotated[str, typer.Option("--body", help="Message text.")] = "",
    media: Annotated[
        list[str] | None, typer.Option("--media", help="A local file or an http(s) URL; repeatable.")
    ] = None,
    content_type: Annotated[
        str | None,
        typer.Option("--content-type", help="Content type of the local files (default: by extension)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Deliver an inbound SMS/MMS/WhatsApp message as a carrier would: it is stored under
    the account that owns --to and its webhook is queued for that number's SmsUrl."""
    from pathlib import Path

    from mediagate.api import representations as rep
    from mediagate.carriers import ingress

    urls: list[str] = []
    local: list[ingress.LocalFile] = []
    for item in media or []:
        if item.lower().startswith(("http://", "https://")):
            urls.append(item)
        else:
            local.append(ingress.LocalFile(Path(item), content_type))
    rt = _runtime()
    try:
        owner = ingress.resolve_owner(rt, to)
        message = ingress.deliver(rt, owner, ingress.Inbound(to, from_, body, urls, local))
    except ApiError as exc:
        _fail(exc.message)
    if as_json:
        sys.stdout.write(json.dumps(rep.message(message)) + "\n")
    else:
        out.print(f"inbound {message.sid} for {message.account_sid} ({message.num_media} media)")


@webhooks_app.command("list")
def webhooks_list(
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many deliveries.")] = 50,
    as_json: AsJson = False,
) -> None:
    """Recent webhook deliveries, newest first, with every attempt."""
    from mediagate.api import representations as rep
    from mediagate.services import webhooks

    rt = _runtime()
    views = webhooks.list_recent(rt, _account_sid(account) if account else None, limit)
    if as_json:
        data = [rep.webhook_delivery(v.delivery, v.attempts) for v in views]
        sys.stdout.write(json.dumps(data) + "\n")
        return
    table = Table("Delivery", "Kind", "Message", "URL", "Status", "Attempts")
    for v in views:
        d = v.delivery
        tries = ", ".join(
            f"{a.status_code if a.status_code is not None else (a.error or '?')}" for a in v.attempts
        )
        table.add_row(d.sid, d.kind, d.message_sid or "", f"{d.method} {d.url}", d.status, tries or "-")
    out.print(table)


carrier_app = typer.Typer(no_args_is_help=True, help="Carrier ingress (POST /v1/Carrier/Inbound).")
carrier_credentials_app = typer.Typer(
    no_args_is_help=True, help="Deployment-level credentials for the carrier ingress endpoint."
)
carrier_app.add_typer(carrier_credentials_app, name="credentials")
app.add_typer(carrier_app, name="carrier")


@carrier_credentials_app.command("create")
def carrier_credentials_create(
    friendly_name: Annotated[str, typer.Option("--friendly-name")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a carrier ingress credential (CR... SID + secret, shown this once) for
    your carrier gateway; tenant credentials are not accepted by the ingress."""
    from mediagate.services import carrier_credentials

    try:
        made = carrier_credentials.create(_runtime(), friendly_name)
    except ApiError as exc:
        _fail(exc.message)
    if as_json:
        sys.stdout.write(json.dumps({"sid": made.credential.sid, "secret": made.secret,
                                     "friendly_name": made.credential.friendly_name}) + "\n")  # fmt: skip
    else:
        out.print(f"Carrier SID  {made.credential.sid}\nSecret       {made.secret}  (shown only now)")


@carrier_credentials_app.command("list")
def carrier_credentials_list() -> None:
    """List carrier ingress credentials (never their secrets)."""
    from mediagate.services import carrier_credentials

    table = Table("SID", "Name", "Created")
    for c in carrier_credentials.list_all(_runtime()):
        table.add_row(c.sid, c.friendly_name, iso(c.date_created) or "")
    out.print(table)


@carrier_credentials_app.command("delete")
def carrier_credentials_delete(sid: str) -> None:
    """Delete a carrier ingress credential; requests made with it fail at once."""
    from mediagate.services import carrier_credentials

    try:
        carrier_credentials.delete_one(_runtime(), sid)
    except ApiError as exc:
        _fail(exc.message)
    out.print(f"deleted {sid}")


@app.command("migrate")
def migrate() -> None:
    """Apply database migrations (serve does this at start)."""
    _runtime()
    out.print("database is up to date")


def main() -> None:
    app()


# The operator's number pool lives in its own module (``mediagate numbers ...``).
from mediagate.cli_numbers import numbers_app  # noqa: E402

app.add_typer(numbers_app, name="numbers")

# ``mediagate accounts quota`` (services/quotas.py).
import mediagate.cli_quotas  # noqa: E402, F401

# Retention rules (``mediagate retention ...``).
from mediagate.cli_retention import retention_app  # noqa: E402

app.add_typer(retention_app, name="retention")
