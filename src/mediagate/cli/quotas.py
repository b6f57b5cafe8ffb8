"""``mediagate accounts quota`` (usage, limits, overrides) and ``mediagate accounts delivery``."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from mediagate.cli.accounts import accounts_app
from mediagate.cli.common import AccountSid, AsJson, checked_account_sid, fail, open_runtime, out

LimitOption = Annotated[
    str | None,
    typer.Option(help="A limit (0 = none for this account), or 'default' for the deployment's."),
]


def _limit(value: str | None, name: str) -> int | None:
    from mediagate.accounts import quotas

    if value is None:
        return None
    if value.strip().lower() == "default":
        return quotas.UNSET
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        fail(f"--{name} takes a whole number of at least 0, or 'default'.")
    return int(value)


@accounts_app.command("quota", short_help="Show or change an account's quotas.")
def accounts_quota(
    account_sid: AccountSid,
    max_bytes: LimitOption = None,
    max_media: LimitOption = None,
    ingest_per_hour: LimitOption = None,
    as_json: AsJson = False,
) -> None:
    """Show ACCOUNT_SID's stored bytes, media and hourly ingest against its limits;
    with options, override the deployment's MEDIAGATE_QUOTA_* for this account."""
    from mediagate.accounts import quotas

    rt = open_runtime()
    sid = checked_account_sid(account_sid)
    changes = {
        "max_bytes": _limit(max_bytes, "max-bytes"),
        "max_media": _limit(max_media, "max-media"),
        "ingest_per_hour": _limit(ingest_per_hour, "ingest-per-hour"),
    }
    if any(v is not None for v in changes.values()):
        u = quotas.set_overrides(rt, sid, **changes)
    else:
        u = quotas.usage(rt, sid)
    rows = [
        ("bytes", u.bytes_stored, u.limits.max_bytes, u.overrides.max_bytes),
        ("media", u.media_count, u.limits.max_media, u.overrides.max_media),
        ("ingest_per_hour", u.ingested_last_hour, u.limits.ingest_per_hour, u.overrides.ingest_per_hour),
    ]
    if as_json:
        data = {
            "account_sid": u.account_sid,
            **{kind: {"used": used, "limit": limit, "override": own} for kind, used, limit, own in rows},
        }
        sys.stdout.write(json.dumps(data) + "\n")
        return
    for kind, used, limit, own in rows:
        source = "deployment default" if own is None else "this account"
        out.print(f"{kind:16} {used:>14} of {limit or 'no limit'!s:>12}  ({source})")


@accounts_app.command("delivery", short_help="Show or set how the content URL hands over media.")
def accounts_delivery(
    account_sid: AccountSid,
    mode: Annotated[
        str | None,
        typer.Option(
            help="redirect (a 307 to the media host, Twilio's way) or direct (the bytes themselves)."
        ),
    ] = None,
) -> None:
    """Show ACCOUNT_SID's MediaDelivery mode, or set it with --mode (as the API's MediaDelivery POST)."""
    from mediagate.media import direct_delivery

    rt = open_runtime()
    sid = checked_account_sid(account_sid)
    if mode is not None and mode not in ("redirect", "direct"):
        fail("--mode is redirect or direct.")
    current = (
        direct_delivery.set_direct(rt, sid, mode == "direct")
        if mode is not None
        else direct_delivery.get(rt, sid)
    )
    out.print(f"MediaDelivery mode: {'direct' if current.direct else 'redirect'}")
