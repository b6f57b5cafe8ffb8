"""The seed's whole story, end to end, against the real server process."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from tests.support.clients import settled_message, twilio_client
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import RunningServer


def set_enforcement(server: RunningServer, sid: str, token: str, on: bool) -> None:
    r = requests.post(
        f"{server.base_url}/v1/Accounts/{sid}/MessagingSettings",
        data={"EnforceMediaHttpAuth": "true" if on else "false"},
        auth=(sid, token),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json()["enforce_media_http_auth"] is on


def test_legacy_public_then_enforced_then_turned_off(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("seed")
    client = twilio_client(server, acct.sid, acct.token)
    body = png_bytes(3000)
    url = files.add("/seed/cat.png", body)

    # Media created while the setting is off stays public.
    set_enforcement(server, acct.sid, acct.token, False)
    legacy = client.messages.create(to="+15551230001", from_="+15557650001", body="old", media_url=[url])
    # The media row (and its auth_required, copied from the setting then) is made when the
    # worker has fetched the MediaUrl, after the create answered: wait for it before turning enforcement on.
    assert settled_message(server, acct, legacy.sid)["num_media"] == "1"
    legacy_media = client.messages(legacy.sid).media.list()
    assert len(legacy_media) == 1
    legacy_content = (
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{legacy.sid}/Media/{legacy_media[0].sid}"
    )
    r = requests.get(legacy_content, timeout=10)
    assert r.status_code == 200 and r.content == body
    assert r.history[0].status_code == 307
    assert urlsplit(r.url).path.startswith("/_media/public/")

    # Enable: new media needs credentials and is redirected to a signed URL.
    set_enforcement(server, acct.sid, acct.token, True)
    secured = client.messages.create(to="+15551230001", from_="+15557650001", media_url=[url])
    assert settled_message(server, acct, secured.sid)["num_media"] == "1"  # fetched after the create answered
    secured_media = client.messages(secured.sid).media.list()[0]
    content = (
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{secured.sid}/Media/{secured_media.sid}"
    )
    anon = requests.get(content, timeout=10, allow_redirects=False)
    assert anon.status_code == 401
    assert anon.headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'
    assert anon.json()["code"] == 20003
    first = requests.get(content, auth=(acct.sid, acct.token), timeout=10, allow_redirects=False)
    assert first.status_code == 307
    location = first.headers["Location"]
    assert urlsplit(location).path.startswith("/_media/secure/")
    assert {"Expires", "Signature", "Key-Pair-Id"} <= set(
        dict(p.split("=", 1) for p in urlsplit(location).query.split("&"))
    )
    followed = requests.get(content, auth=(acct.sid, acct.token), timeout=10)
    assert followed.status_code == 200 and followed.content == body
    # The signed URL works without credentials; the legacy media is still public.
    assert requests.get(location, timeout=10).content == body
    assert requests.get(legacy_content, timeout=10).content == body

    # Turning the setting off does not re-expose media created while it was on.
    set_enforcement(server, acct.sid, acct.token, False)
    assert requests.get(content, timeout=10, allow_redirects=False).status_code == 401
    public_guess = f"{server.base_url}/_media/public/{acct.sid}/{secured_media.sid}"
    assert requests.get(public_guess, timeout=10).status_code == 404
