"""Webhook deliveries show media parameters only to credentials that may read media:
``MediaUrl{N}``/``MediaContentType{N}`` name media the Media API would refuse them."""

from __future__ import annotations

import secrets
from typing import Any

import requests

from mediagate.accounts import keys
from mediagate.accounts import permissions as perms
from tests.support.carrier import carrier_auth
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import RunningServer


def listed(server: RunningServer, account_sid: str, creds: tuple[str, str]) -> list[dict[str, Any]]:
    r = requests.get(f"{server.base_url}/v1/Accounts/{account_sid}/WebhookDeliveries", auth=creds, timeout=10)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["webhook_deliveries"]
    return rows


def test_media_params_need_media_read(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("deliveries-perms")
    number = "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))
    server.assign_number(acct.sid, number)
    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": number, "SmsUrl": "http://127.0.0.1:9/hook"},  # nothing listens: it stays queued
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    url = files.add(f"/deliveries/{acct.sid}.png", png_bytes(900), "image/png")
    r = requests.post(
        f"{server.base_url}/v1/Carrier/Inbound",
        data={"To": number, "From": "+14155550177", "Body": "pic", "MediaUrl": url},
        auth=carrier_auth(server),
        timeout=30,
    )
    assert r.status_code == 201, r.text

    (full,) = listed(server, acct.sid, (acct.sid, acct.token))
    assert full["params"]["NumMedia"] == "1"
    assert full["params"]["MediaUrl0"].startswith(server.base_url)
    assert full["params"]["MediaContentType0"] == "image/png"

    def key(allow: list[str]) -> tuple[str, str]:
        made = keys.create(server.runtime, acct.sid, "k", actor="t", kind="restricted", permissions=allow)
        return made.key.sid, made.secret

    (messages_only,) = listed(server, acct.sid, key([perms.MESSAGES_READ]))
    assert messages_only["params"]["NumMedia"] == "1" and messages_only["params"]["Body"] == "pic"
    assert not any(k.startswith(("MediaUrl", "MediaContentType")) for k in messages_only["params"])
    (with_media,) = listed(server, acct.sid, key([perms.MESSAGES_READ, perms.MEDIA_READ]))
    assert with_media["params"] == full["params"]
