"""``mediagate encryption``: master keys and the data keys they wrap."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mediagate.cli.common import AsJson, open_runtime, out

encryption_app = typer.Typer(
    no_args_is_help=True, help="Encryption at rest: master keys (docs/encryption.md).", rich_markup_mode=None
)


@encryption_app.command("status")
def encryption_status(as_json: AsJson = False) -> None:
    """How many sealed objects each master key wraps, and which key is active."""
    from mediagate.media import encryption

    rt = open_runtime()
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
    from mediagate.media import encryption

    rt = open_runtime()
    keys, result = encryption.rewrap_all(rt, batch=batch)
    out.print(f"rewrapped {result.rewrapped} data keys under {keys.active!r}; {result.remaining} remaining")
    if result.remaining:
        raise typer.Exit(1)
