"""The media steps the end-to-end and in-process tests share: a message with fetched media
(twilio-python, then the asynchronous fetch's outcome), bytes stored through the service,
the content URL's 307 to the signed URL, the public host's URL. They speak HTTP through
``requests`` to ``server.base_url``, so they work on a real server (tests/support/server.py)
and on the app in process (tests/support/api_inprocess.py routes those URLs to it)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from mediagate.media import media as media_service
from mediagate.storage import media_key
from tests.support.clients import settled_message, twilio_client
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import Account, RunningServer

TIMEOUT = 30


@dataclass(frozen=True)
class StoredMedia:
    account: Account
    message_sid: str
    media_sid: str
    body: bytes
    content_url: str  # .../Media/{ME} without an extension

    @property
    def metadata_url(self) -> str:
        return self.content_url + ".json"

    @property
    def key(self) -> str:
        return media_key(self.account.sid, self.media_sid)


def set_enforcement(server: RunningServer, acct: Account, on: bool) -> None:
    r = requests.post(
        f"{server.base_url}/v1/Accounts/{acct.sid}/MessagingSettings",
        data={"EnforceMediaHttpAuth": "true" if on else "false"},
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )
    assert r.status_code == 200, r.text
    assert r.json()["enforce_media_http_auth"] is on


def content_url(server: RunningServer, account_sid: str, message_sid: str, media_sid: str) -> str:
    return f"{server.base_url}/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"


def send_media(
    server: RunningServer, acct: Account, urls: list[str], bodies: list[bytes]
) -> list[StoredMedia]:
    """Create a message through the API (twilio-python) with these MediaUrls."""
    client = twilio_client(server, acct.sid, acct.token)
    message = client.messages.create(to="+15551230001", from_="+15557650001", media_url=urls)
    assert message.status == "queued", message.error_message
    # Fetched after the create answered: wait for the outcome.
    settled = settled_message(server, acct, message.sid)
    assert settled["num_media"] == str(len(urls)), settled
    listed = sorted(client.messages(message.sid).media.list(), key=lambda m: m.sid)
    assert len(listed) == len(urls)
    # Media rows are not ordered by URL; match them by their stored bytes' hash.
    by_hash = {hashlib.sha256(b).hexdigest(): b for b in bodies}
    out = []
    for m in listed:
        row = media_service.get(server.runtime, acct.sid, message.sid, m.sid)
        out.append(
            StoredMedia(
                acct,
                message.sid,
                m.sid,
                by_hash[row.sha256],
                content_url(server, acct.sid, message.sid, m.sid),
            )
        )
    return out


def one_media(
    server: RunningServer, files: FileServer, *, enforce: bool = True, body: bytes | None = None
) -> StoredMedia:
    acct = server.new_account("hosts")
    if not enforce:
        set_enforcement(server, acct, False)
    body = body if body is not None else png_bytes(5000)
    url = files.add(f"/hosts/{hashlib.sha256(body).hexdigest()[:16]}.png", body)
    return send_media(server, acct, [url], [body])[0]


def add_media(
    server: RunningServer,
    acct: Account,
    message_sid: str,
    content_type: str,
    body: bytes,
    filename: str | None = None,
) -> StoredMedia:
    """Store bytes the API's channel rules would refuse (SVG, HTML, ...) as media of a real message."""
    row = media_service.add(server.runtime, acct.sid, message_sid, content_type, [body], filename=filename)
    return StoredMedia(acct, message_sid, row.sid, body, content_url(server, acct.sid, message_sid, row.sid))


def sms(server: RunningServer, acct: Account) -> str:
    message = twilio_client(server, acct.sid, acct.token).messages.create(
        to="+15551230001", from_="+15557650001", body="hi"
    )
    sid: str = message.sid
    return sid


def signed_url(m: StoredMedia) -> str:
    r = requests.get(
        m.content_url, auth=(m.account.sid, m.account.token), timeout=TIMEOUT, allow_redirects=False
    )
    assert r.status_code == 307, r.text
    location: str = r.headers["Location"]
    assert urlsplit(location).path.startswith("/_media/secure/")
    return location


def public_url(server: RunningServer, m: StoredMedia) -> str:
    return f"{server.base_url}/_media/public/{m.account.sid}/{m.media_sid}"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_api_key(server: RunningServer, acct: Account) -> tuple[str, str]:
    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Keys.json",
        data={"FriendlyName": "media reader"},
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )
    assert r.status_code in (200, 201), r.text
    return r.json()["sid"], r.json()["secret"]
