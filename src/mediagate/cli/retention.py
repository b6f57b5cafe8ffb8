"""``mediagate retention``: an account's retention rule, and applying the rules now.

Adapters over ``retention/rules.py``, like the API and the console page;
the server applies the rules on its own every ``MEDIAGATE_RETENTION_INTERVAL``.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from mediagate.cli.common import checked_account_sid, err, fail, open_runtime, out
from mediagate.core.timefmt import iso

if TYPE_CHECKING:
    # Imported inside the commands: retention/rules imports the media
    # service, which imports prometheus_client, and `mediagate serve --workers`
    # must set up metrics' multiprocess mode before anything imports that.
    from mediagate.retention import rules as retention

retention_app = typer.Typer(
    no_args_is_help=True, help="Retention rules: when media are deleted.", rich_markup_mode=None
)


def _rule_json(rule: retention.Rule) -> dict[str, object]:
    from mediagate.retention import rules as retention

    return {
        **retention.rule_fields(rule),
        "date_updated": iso(rule.date_updated),
    }


def _print_rule(rule: retention.Rule, as_json: bool) -> None:
    from rich.table import Table

    if as_json:
        sys.stdout.write(json.dumps(_rule_json(rule)) + "\n")
        return
    table = Table("Rule", "Value", title=f"Retention of {rule.account_sid}")
    creation = rule.effective_days_after_creation
    source = "account" if rule.days_after_creation else ("deployment" if creation else "")
    table.add_row("days after creation", f"{creation} ({source})" if creation else "-")
    table.add_row("days after last access", str(rule.days_after_last_access or "-"))
    table.add_row("after first download", "yes" if rule.after_first_download else "no")
    table.add_row("after inbound webhook delivered", "yes" if rule.after_webhook_delivered else "no")
    table.add_row("deployment maximum", f"{rule.max_days} days" if rule.max_days else "none")
    out.print(table)


@retention_app.command("show")
def retention_show(
    account_sid: Annotated[str, typer.Argument(help="The account: AC followed by 32 hex digits.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show ACCOUNT_SID's retention rule, with the deployment's default and maximum applied."""
    from mediagate.retention import rules as retention

    rule = retention.get_rule(open_runtime(), checked_account_sid(account_sid))
    _print_rule(rule, as_json)


@retention_app.command("set")
def retention_set(
    account_sid: Annotated[str, typer.Argument(help="The account: AC followed by 32 hex digits.")],
    days_after_creation: Annotated[
        int | None, typer.Option("--days-after-creation", help="Delete N days after creation (0 = clear).")
    ] = None,
    days_after_last_access: Annotated[
        int | None,
        typer.Option("--days-after-last-access", help="Delete N days after the last fetch (0 = clear)."),
    ] = None,
    after_first_download: Annotated[
        bool | None,
        typer.Option("--after-first-download/--no-after-first-download", help="Delete once downloaded."),
    ] = None,
    after_webhook_delivered: Annotated[
        bool | None,
        typer.Option(
            "--after-webhook-delivered/--no-after-webhook-delivered",
            help="Delete once the inbound webhook announcing it got a 2xx.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Change ACCOUNT_SID's retention rule (options not given are kept)."""
    from mediagate.retention import rules as retention

    rt = open_runtime()
    checked_account_sid(account_sid)
    days = [
        retention.parse_days(
            flag, None if value is None else (str(value) if value else ""), rt.settings.retention_max_days
        )
        for flag, value in (
            ("--days-after-creation", days_after_creation),
            ("--days-after-last-access", days_after_last_access),
        )
    ]
    change = retention.Change(days[0], days[1], after_first_download, after_webhook_delivered)
    if change == retention.Change():
        fail("give at least one rule option (see --help)")
    rule = retention.set_rule(rt, account_sid, change, actor="cli", via="cli")
    _print_rule(rule, as_json)


@retention_app.command("run", short_help="Apply the retention rules now (--dry-run: only list).")
def retention_run(
    account_sid: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be deleted; delete nothing.")
    ] = False,
    batch: Annotated[int | None, typer.Option("--batch", min=1, help="Media per committed batch.")] = None,
) -> None:
    """Apply the retention rules now, in committed batches (interrupted: just run it again)."""
    from rich.progress import Progress as Bar

    from mediagate.retention import rules as retention

    rt = open_runtime()
    if account_sid is not None:
        checked_account_sid(account_sid)
    listed: list[retention.Candidate] = []
    done = 0
    with Bar(console=err, transient=False) as bar:
        task = bar.add_task("would delete" if dry_run else "deleting", total=None)
        for step in retention.apply(rt, account_sid=account_sid, dry_run=dry_run, batch=batch, actor="cli"):
            done = step.done
            bar.update(task, completed=step.done, total=step.total)
            if dry_run:
                listed.extend(step.media)
    if dry_run:
        # One plain line per media (no table: rich cuts SIDs to the terminal's width).
        for c in listed:
            sys.stdout.write(
                f"{c.account_sid} {c.rule} {c.media_sid} {c.message_sid} {c.size} {iso(c.date_created)}\n"
            )
        sys.stdout.flush()
        out.print(
            f"{len(listed)} media would be deleted ({sum(c.size for c in listed)} bytes); nothing was deleted"
        )
        return
    out.print(f"{done} media deleted")
