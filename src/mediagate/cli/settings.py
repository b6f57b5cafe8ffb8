"""``mediagate settings``: an account's *Enforce HTTP Auth on Media URLs* setting."""

from __future__ import annotations

from typing import Annotated

import typer

from mediagate.cli.common import AccountSid, checked_account_sid, open_runtime, out
from mediagate.core.timefmt import iso

settings_app = typer.Typer(
    no_args_is_help=True, help="The Enforce HTTP Auth on Media URLs setting.", rich_markup_mode=None
)


@settings_app.command("get", short_help="Show the setting and its change history.")
def settings_get(account_sid: AccountSid) -> None:
    """Show whether new media of ACCOUNT_SID requires HTTP auth, and the change history."""
    from mediagate.accounts import accounts

    rt = open_runtime()
    current = accounts.messaging_settings(rt, checked_account_sid(account_sid))
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
    from mediagate.accounts import accounts

    rt = open_runtime()
    current = accounts.set_enforcement(rt, checked_account_sid(account_sid), enforce, actor="cli", via="cli")
    out.print(
        f"Enforce HTTP Auth on Media URLs: {'enabled' if current.enforce_media_http_auth else 'disabled'}"
    )
