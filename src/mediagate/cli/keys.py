"""``mediagate keys``: API keys."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mediagate.cli.common import (
    AccountSid,
    AsJson,
    checked_account_sid,
    open_runtime,
    out,
    print_secret,
)

keys_app = typer.Typer(no_args_is_help=True, help="API keys.", rich_markup_mode=None)


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
    from mediagate.accounts import keys

    perms = keys.parse_policy(json.dumps({"allow": permission})) if kind == "restricted" else None
    created = keys.create(
        open_runtime(),
        checked_account_sid(account_sid),
        friendly_name,
        actor="cli",
        kind=kind,
        permissions=perms,
    )
    print_secret("API Key SID", created.key.sid, created.secret, created.key.friendly_name, as_json=as_json)


@keys_app.command("delete")
def keys_delete(
    account_sid: AccountSid,
    key_sid: Annotated[str, typer.Argument(help="The key: SK followed by 32 hex digits.")],
) -> None:
    """Delete (revoke) an API key: every server refuses it within MEDIAGATE_COHERENCE_BOUND
    (2 s by default), with or without MEDIAGATE_REDIS_URL."""
    from mediagate.accounts import keys

    keys.delete(open_runtime(), checked_account_sid(account_sid), key_sid, actor="cli")
    out.print(f"deleted {key_sid}")
