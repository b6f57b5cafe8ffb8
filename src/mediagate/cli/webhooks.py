"""``mediagate webhooks``: webhook deliveries and their attempts."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from mediagate.cli.common import AsJson, checked_account_sid, open_runtime, out

webhooks_app = typer.Typer(
    no_args_is_help=True,
    help="Webhook deliveries (inbound messages, status callbacks).",
    rich_markup_mode=None,
)


@webhooks_app.command("list")
def webhooks_list(
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many deliveries.")] = 50,
    as_json: AsJson = False,
) -> None:
    """Recent webhook deliveries, newest first, with every attempt."""
    from mediagate import webhooks
    from mediagate.api import representations as rep

    rt = open_runtime()
    views = webhooks.list_recent(rt, checked_account_sid(account) if account else None, limit)
    if as_json:
        data = [rep.webhook_delivery(v.delivery, v.attempts) for v in views]
        sys.stdout.write(json.dumps(data) + "\n")
        return
    # "Attempts" is how many were made of how many allowed; "Answers" what each got
    # (an HTTP status, or why there was none), oldest first.
    table = Table("Delivery", "Kind", "Message", "URL", "Status", "Attempts", "Answers")
    for v in views:
        d = v.delivery
        answers = ", ".join(
            str(a.status_code) if a.status_code is not None else (a.error or "?") for a in v.attempts
        )
        table.add_row(
            d.sid,
            d.kind,
            d.message_sid or "",
            f"{d.method} {d.url}",
            d.status,
            f"{d.attempts}/{d.max_attempts}",
            answers or "-",
        )
    out.print(table)
