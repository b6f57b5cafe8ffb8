"""The in-process steps of the lifecycle tests (retention, webhooks, revocation and
the access audit, concurrent deletes, token rotation): what tests/e2e's helpers do
through a real server (tests/e2e/test_media_hosts.py, tests/support/webhooks.py),
done through ``InProcessServer.http`` (tests/support/inprocess.py), and
twilio-python pointed at the same session.

Only what does not cross the process boundary runs here: the app's routes and its
background workers (the lifespan runs them in this process too); the webhook
receiver and the MediaUrl file server are still real HTTP servers on loopback."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from mediagate.media import media as media_service
from mediagate.messaging import carrier_credentials
from mediagate.storage import media_key
from tests.support.fileserver import FileServer, png_bytes
from tests.support.inprocess import InProcessServer, in_process_server
from tests.support.loops import eventually
from tests.support.seaweed import ObjectStore
from tests.support.server import Account

TIMEOUT = 30


@contextmanager
def app_server(
    request: pytest.FixtureRequest, backend: str, storage: str, tmp: Path, **settings: Any
) -> Iterator[InProcessServer]:
    """``in_process_server`` on ``backend`` with the bytes on the local disk or ("s3")
    in a new bucket of the session's SeaweedFS, as ``server_factory(backend, storage)``."""
    if storage == "s3":
        store: ObjectStore = request.getfixturevalue("object_store")
        env = store.env()
        settings = {
            "storage_url": env["MEDIAGATE_STORAGE_URL"],
            "s3_endpoint_url": env["MEDIAGATE_S3_ENDPOINT_URL"],
            **settings,
        }
    else:
        assert storage == "local", storage
    with in_process_server(backend, tmp, **settings) as srv:
        yield srv


def cli_env(srv: InProcessServer) -> dict[str, str]:
    """The ``MEDIAGATE_*`` settings a CLI next to this app would have (tests/support/cli.py)."""
    s = srv.runtime.settings
    env = {
        "MEDIAGATE_DATA_DIR": str(s.data_dir),
        "MEDIAGATE_DATABASE_URL": s.database_url,
        "MEDIAGATE_SECRET_KEY": s.secret_key,
        "MEDIAGATE_PUBLIC_URL": s.public_url,
        "MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS": "true" if s.allow_private_media_urls else "false",
        "MEDIAGATE_RETENTION_MAX_DAYS": str(s.retention_max_days),
    }
    if s.storage_url:
        env["MEDIAGATE_STORAGE_URL"] = s.storage_url
        env["MEDIAGATE_S3_ENDPOINT_URL"] = s.s3_endpoint_url
    return env


def twilio_client(srv: InProcessServer, user: str, password: str, account_sid: str | None = None) -> Client:
    """twilio-python (its request building, auth and parsing) sending through ``srv.http``."""
    http_client = TwilioHttpClient()
    http_client.session = srv.http
    client = Client(user, password, account_sid, http_client=http_client)
    client.api.base_url = srv.base_url
    client.accounts.base_url = srv.base_url
    client.iam.base_url = srv.base_url
    return client


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


def content_url(srv: InProcessServer, account_sid: str, message_sid: str, media_sid: str) -> str:
    return f"{srv.base_url}/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"


def settled_message(srv: InProcessServer, acct: Account, message_sid: str) -> dict[str, Any]:
    """The message once its MediaUrl fetch is over (it answers ``queued`` until then)."""
    url = f"{srv.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{message_sid}.json"

    def probe() -> dict[str, Any] | None:
        got: dict[str, Any] = srv.http.get(url, auth=(acct.sid, acct.token), timeout=TIMEOUT).json()
        return None if got.get("status") == "queued" else got

    return eventually(probe, timeout=60)


def send_media(
    srv: InProcessServer, acct: Account, urls: list[str], bodies: list[bytes]
) -> list[StoredMedia]:
    """A message created through the API (twilio-python) with these MediaUrls, once fetched."""
    client = twilio_client(srv, acct.sid, acct.token)
    message = client.messages.create(to="+15551230001", from_="+15557650001", media_url=urls)
    assert message.status == "queued", message.error_message
    settled = settled_message(srv, acct, message.sid)
    assert settled["num_media"] == str(len(urls)), settled
    listed = client.messages(message.sid).media.list()
    assert len(listed) == len(urls)
    by_hash = {hashlib.sha256(b).hexdigest(): b for b in bodies}
    out = []
    for m in sorted(listed, key=lambda m: m.sid):
        row = media_service.get(srv.runtime, acct.sid, message.sid, m.sid)
        url = content_url(srv, acct.sid, message.sid, m.sid)
        out.append(StoredMedia(acct, message.sid, m.sid, by_hash[row.sha256], url))
    return out


def one_media(srv: InProcessServer, files: FileServer, *, body: bytes | None = None) -> StoredMedia:
    acct = srv.new_account("lifecycle")
    body = body if body is not None else png_bytes(5000)
    url = files.add(f"/lifecycle/{hashlib.sha256(body).hexdigest()[:16]}.png", body)
    return send_media(srv, acct, [url], [body])[0]


def add_media(
    srv: InProcessServer, acct: Account, message_sid: str, content_type: str, body: bytes
) -> StoredMedia:
    """Bytes stored through the service as media of a real message."""
    row = media_service.add(srv.runtime, acct.sid, message_sid, content_type, [body])
    return StoredMedia(acct, message_sid, row.sid, body, content_url(srv, acct.sid, message_sid, row.sid))


def signed_url(srv: InProcessServer, m: StoredMedia) -> str:
    r = srv.http.get(
        m.content_url, auth=(m.account.sid, m.account.token), timeout=TIMEOUT, allow_redirects=False
    )
    assert r.status_code == 307, r.text
    location: str = r.headers["Location"]
    assert urlsplit(location).path.startswith("/_media/secure/")
    return location


# ----------------------------------------------------------------- webhooks


def random_number() -> str:
    return "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))


def claim(srv: InProcessServer, acct: Account, sms_url: str, method: str = "POST") -> str:
    """A fresh number assigned to ``acct`` and claimed with this SmsUrl and SmsMethod."""
    number = random_number()
    srv.assign_number(acct.sid, number)
    r = srv.http.post(
        f"{srv.base_url}/2010-04-01/Accounts/{acct.sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": number, "SmsUrl": sms_url, "SmsMethod": method},
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )
    assert r.status_code == 201, r.text
    return number


_carriers: dict[int, tuple[str, str]] = {}


def carrier_inbound(srv: InProcessServer, **form: Any) -> requests.Response:
    """A POST to the carrier ingress with a carrier credential of this database."""
    if id(srv.runtime) not in _carriers:
        made = carrier_credentials.create(srv.runtime, "tests")
        _carriers[id(srv.runtime)] = (made.credential.sid, made.secret)
    return srv.http.post(
        f"{srv.base_url}/v1/Carrier/Inbound", data=form, auth=_carriers[id(srv.runtime)], timeout=TIMEOUT
    )


def inbound(srv: InProcessServer, number: str, body: str = "hello") -> str:
    """An inbound SMS to ``number`` through the carrier ingress; its message sid."""
    r = carrier_inbound(srv, To=number, From="+14155550199", Body=body)
    assert r.status_code == 201, r.text
    sid: str = r.json()["sid"]
    return sid


def deliveries(srv: InProcessServer, acct: Account, **params: str) -> list[dict[str, Any]]:
    r = srv.http.get(
        f"{srv.base_url}/v1/Accounts/{acct.sid}/WebhookDeliveries",
        params=params,
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["webhook_deliveries"]
    return rows


def settle(
    srv: InProcessServer, acct: Account, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
) -> list[dict[str, Any]]:
    """Poll the deliveries API until ``done`` holds (the worker records an attempt
    just after the receiver has seen it)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = deliveries(srv, acct)
        if done(rows):
            return rows
        assert time.monotonic() < deadline, f"deliveries never settled: {rows}"
        time.sleep(0.05)
