"""``mediagate numbers``: the operator's number pool (messaging/number_pool.py).

A tenant can claim an IncomingPhoneNumber only for a number assigned to its
account here (unless MEDIAGATE_NUMBER_POOL=open, for development).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from mediagate.cli.common import checked_account_sid, open_runtime, out
from mediagate.core.timefmt import iso

numbers_app = typer.Typer(no_args_is_help=True, help="Which account owns which phone number (operator).")


@numbers_app.command("assign")
def numbers_assign(
    phone_number: Annotated[str, typer.Argument(help="An E.164 number, e.g. +15551230001.")],
    account_sid: Annotated[str, typer.Argument(help="The account that may claim and receive it.")],
) -> None:
    """Assign PHONE_NUMBER to ACCOUNT_SID (which may then claim it with IncomingPhoneNumbers)."""
    from mediagate.messaging import number_pool

    done = number_pool.assign(open_runtime(), phone_number, checked_account_sid(account_sid), actor="cli")
    out.print(f"{done.phone_number} is assigned to {done.account_sid}")


@numbers_app.command("release")
def numbers_release(phone_number: Annotated[str, typer.Argument(help="An assigned E.164 number.")]) -> None:
    """Take PHONE_NUMBER back from its account: its claim goes too, nothing more is delivered to it."""
    from mediagate.messaging import number_pool

    done = number_pool.release(open_runtime(), phone_number, actor="cli")
    out.print(f"{done.phone_number} released from {done.account_sid}")


@numbers_app.command("list")
def numbers_list(
    account_sid: Annotated[str | None, typer.Option("--account", help="Only this account's numbers.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List assigned numbers and whether their account has claimed them."""
    from rich.table import Table

    from mediagate.messaging import number_pool

    rows = number_pool.list_all(open_runtime(), checked_account_sid(account_sid) if account_sid else None)
    if as_json:
        data = [
            {"phone_number": a.phone_number, "account_sid": a.account_sid, "claimed": a.claimed,
             "assigned_by": a.actor, "date_assigned": iso(a.date_created)}
            for a in rows
        ]  # fmt: skip
        sys.stdout.write(json.dumps(data) + "\n")
        return
    table = Table("Phone number", "Account SID", "Claimed", "Assigned by", "Assigned")
    for a in rows:
        table.add_row(
            a.phone_number, a.account_sid, "yes" if a.claimed else "no", a.actor, iso(a.date_created)
        )
    out.print(table)
