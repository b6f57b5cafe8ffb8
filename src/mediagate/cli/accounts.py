"""``mediagate accounts``: accounts and their credentials."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from mediagate.cli.common import AccountSid, AsJson, checked_account_sid, open_runtime, out
from mediagate.core.timefmt import iso

accounts_app = typer.Typer(
    no_args_is_help=True, help="Accounts and their credentials.", rich_markup_mode=None
)


@accounts_app.command("create")
def accounts_create(
    friendly_name: Annotated[str, typer.Option("--friendly-name", help="A name for the account.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (includes the auth token).")] = False,
) -> None:
    """Create an account and print its SID and auth token."""
    from mediagate.accounts import accounts

    rt = open_runtime()
    created = accounts.create(rt, friendly_name)
    a = created.account
    data = {
        "sid": a.sid,
        "auth_token": created.auth_token,
        # Twilio's test credentials: POST Messages.json / IncomingPhoneNumbers.json with
        # the magic numbers, nothing sent or stored; every other request answers 403/20008.
        "test_account_sid": a.test_account_sid,
        "test_auth_token": created.test_auth_token,
        "friendly_name": a.friendly_name,
        "status": a.status,
        "enforce_media_http_auth": a.enforce_media_http_auth,
        "date_created": iso(a.date_created),
        "api_base_url": rt.settings.public_url,
    }
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
    else:
        out.print(
            f"Account SID       {a.sid}\nAuth Token        {created.auth_token}\n"
            f"Test Account SID  {a.test_account_sid}\nTest Auth Token   {created.test_auth_token}"
        )


@accounts_app.command("list")
def accounts_list(as_json: AsJson = False) -> None:
    """List accounts (tokens are not shown; use `accounts token`)."""
    from mediagate.accounts import accounts

    rows = accounts.list_all(open_runtime())
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
def accounts_token(
    account_sid: AccountSid,
    test: Annotated[
        bool, typer.Option("--test", help="Print the test Account SID and test auth token instead.")
    ] = False,
) -> None:
    """Print an account's current auth token (or, with --test, its test credentials)."""
    from mediagate.accounts import accounts, test_credentials

    rt = open_runtime()
    account = accounts.get(rt, checked_account_sid(account_sid))
    if test:
        sys.stdout.write(f"{account.test_account_sid} {test_credentials.reveal(rt, account)}\n")
        return
    sys.stdout.write(accounts.reveal_auth_token(rt, account) + "\n")
