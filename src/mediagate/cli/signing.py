"""``mediagate signing-keys``: the keys that sign secured-media URLs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mediagate.cli.common import err, fail, open_runtime, out
from mediagate.core.timefmt import iso

signing_app = typer.Typer(
    no_args_is_help=True, help="Keys that sign secured-media URLs.", rich_markup_mode=None
)


@signing_app.command("list")
def signing_list() -> None:
    """List media signing keys."""
    from mediagate.media import signing_keys

    table = Table("Key id", "Status", "Created", "Retired")
    for k in signing_keys.list_keys(open_runtime()):
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
    from mediagate.media import signing_keys

    rt = open_runtime()
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
    from mediagate.media import signing_keys

    if not signing_keys.retire(open_runtime(), kid, actor="cli"):
        fail(f"no active signing key {kid}")
    out.print(f"retired {kid}")
