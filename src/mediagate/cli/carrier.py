"""``mediagate carrier`` and ``mediagate inbound``: the carrier ingress and its credentials."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mediagate.cli.common import AsJson, open_runtime, out, print_secret
from mediagate.core.timefmt import iso
from mediagate.messaging.samples import SAMPLES

if TYPE_CHECKING:
    from mediagate.db.records import MessageRecord

carrier_app = typer.Typer(no_args_is_help=True, help="Carrier ingress (POST /v1/Carrier/Inbound).")
carrier_credentials_app = typer.Typer(
    no_args_is_help=True, help="Deployment-level credentials for the carrier ingress endpoint."
)
carrier_app.add_typer(carrier_credentials_app, name="credentials")


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
    sample: Annotated[
        list[str] | None,
        typer.Option(
            "--sample",
            metavar="KIND",
            help="Attach a real sample file of this kind as a carrier sends it, with the type Twilio "
            "reports (repeatable; not with --media): "
            + "; ".join(f"{s.kind} ({s.content_type}, {s.what})" for s in SAMPLES.values())
            + ".",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Deliver an inbound SMS/MMS/WhatsApp message as a carrier would: it is stored under
    the account that owns --to and its webhook is queued for that number's SmsUrl."""
    from pathlib import Path

    from mediagate.carriers import ingress
    from mediagate.messaging import samples

    if sample:
        if media:
            raise typer.BadParameter("--sample and --media cannot be combined.", param_hint="--sample")
        try:
            chosen = [samples.sample(kind) for kind in sample]
        except KeyError as exc:
            raise typer.BadParameter(str(exc.args[0]), param_hint="--sample") from None
        from mediagate.carriers import samples as sample_carrier

        rt = open_runtime()
        owner = ingress.resolve_owner(rt, to)
        message = sample_carrier.deliver(rt, owner, to=to, from_=from_, body=body, samples=chosen)
        _report(message, as_json)
        return

    urls: list[str] = []
    local: list[ingress.LocalFile] = []
    for item in media or []:
        if item.lower().startswith(("http://", "https://")):
            urls.append(item)
        else:
            local.append(ingress.LocalFile(Path(item), content_type))
    rt = open_runtime()
    owner = ingress.resolve_owner(rt, to)
    message = ingress.deliver(rt, owner, ingress.Inbound(to, from_, body, urls, local))
    _report(message, as_json)


def _report(message: MessageRecord, as_json: bool) -> None:
    from mediagate.api import representations as rep

    if as_json:
        sys.stdout.write(json.dumps(rep.message(message)) + "\n")
    else:
        out.print(f"inbound {message.sid} for {message.account_sid} ({message.num_media} media)")


@carrier_credentials_app.command("create")
def carrier_credentials_create(
    friendly_name: Annotated[str, typer.Option("--friendly-name")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a carrier ingress credential (CR... SID + secret, shown this once) for
    your carrier gateway; tenant credentials are not accepted by the ingress."""
    from mediagate.messaging import carrier_credentials

    made = carrier_credentials.create(open_runtime(), friendly_name)
    print_secret(
        "Carrier SID", made.credential.sid, made.secret, made.credential.friendly_name, as_json=as_json
    )


@carrier_credentials_app.command("list")
def carrier_credentials_list() -> None:
    """List carrier ingress credentials (never their secrets)."""
    from mediagate.messaging import carrier_credentials

    table = Table("SID", "Name", "Created")
    for c in carrier_credentials.list_all(open_runtime()):
        table.add_row(c.sid, c.friendly_name, iso(c.date_created) or "")
    out.print(table)


@carrier_credentials_app.command("delete")
def carrier_credentials_delete(sid: str) -> None:
    """Delete a carrier ingress credential; requests made with it fail at once."""
    from mediagate.messaging import carrier_credentials

    carrier_credentials.delete_one(open_runtime(), sid)
    out.print(f"deleted {sid}")
