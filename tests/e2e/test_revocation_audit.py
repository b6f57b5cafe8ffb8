"""Early revocation and the durable access audit, end to end (issue 13).

Real server processes on SQLite and PostgreSQL, local files and S3
(SeaweedFS); twilio-python and ``requests`` as clients. Revocation in presign delivery
(the objects move, S3 refuses the old URLs) runs with the app in process:
tests/inprocess/test_lifecycle_revocation.py. Several worker processes following a
revocation is a system test.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from mediagate.db.models import MediaAccessEvent
from tests.support.cli import Done, run_cli
from tests.support.clients import assert_twilio_error, twilio_client
from tests.support.fileserver import FileServer, png_bytes
from tests.support.media_steps import StoredMedia, one_media, send_media, signed_url
from tests.support.server import Account, RunningServer
from tests.support.shared_redis import REDIS_URL

pytestmark = pytest.mark.e2e

SERVER_STORAGES = ("local", "s3")
TIMEOUT = 30


def _v1(server: RunningServer, acct: Account, path: str) -> str:
    return f"{server.base_url}/v1/Accounts/{acct.sid}/{path}"


def revoke_media(server: RunningServer, m: StoredMedia) -> dict[str, Any]:
    """Through twilio-python's own HTTP client (our route has no generated wrapper)."""
    client = twilio_client(server, m.account.sid, m.account.token)
    r = client.request("POST", _v1(server, m.account, f"Media/{m.media_sid}/Revocations"))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = json.loads(r.text)
    return body


def two_media(server: RunningServer, files: FileServer) -> list[StoredMedia]:
    acct = server.new_account("revoke")
    bodies = [png_bytes(3000), png_bytes(3001)]
    urls = [files.add(f"/revoke/{acct.sid}-{i}.png", b) for i, b in enumerate(bodies)]
    return send_media(server, acct, urls, bodies)


def test_revoking_one_media_voids_its_urls_and_no_other(server: RunningServer, files: FileServer) -> None:
    a, b = two_media(server, files)
    old_a, old_b = signed_url(a), signed_url(b)
    assert "Issued=" in old_a
    assert requests.get(old_a, timeout=TIMEOUT).status_code == 200

    body = revoke_media(server, a)
    assert body["media_sid"] == a.media_sid and body["scope"] == "media"
    assert body["revoked_before"].endswith("Z")

    refused = requests.get(old_a, timeout=TIMEOUT)
    assert refused.status_code == 403
    assert refused.json()["reason"] == "revoked"
    assert a.body not in refused.content
    # The other media of the same message keeps working.
    assert requests.get(old_b, timeout=TIMEOUT).content == b.body
    # A fresh URL after the revocation works again, also through the redirect.
    assert requests.get(signed_url(a), timeout=TIMEOUT).content == a.body
    followed = requests.get(a.content_url, auth=(a.account.sid, a.account.token), timeout=TIMEOUT)
    assert followed.status_code == 200 and followed.content == a.body


def test_revoking_an_account_voids_every_media_of_it_only(server: RunningServer, files: FileServer) -> None:
    a, b = two_media(server, files)
    other = one_media(server, files)
    olds = [signed_url(a), signed_url(b)]
    other_url = signed_url(other)

    client = twilio_client(server, a.account.sid, a.account.token)
    r = client.request("POST", _v1(server, a.account, "MediaRevocations"))
    assert r.status_code == 201, r.text

    for url in olds:
        refused = requests.get(url, timeout=TIMEOUT)
        assert refused.status_code == 403 and refused.json()["reason"] == "revoked"
    assert requests.get(other_url, timeout=TIMEOUT).content == other.body
    assert requests.get(signed_url(a), timeout=TIMEOUT).content == a.body
    assert requests.get(signed_url(b), timeout=TIMEOUT).content == b.body


def test_revocation_needs_the_accounts_own_credentials(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    old = signed_url(m)
    stranger = server.new_account("revoke-stranger")
    for path in (f"Media/{m.media_sid}/Revocations", "MediaRevocations"):
        url = _v1(server, m.account, path)
        assert_twilio_error(requests.post(url, timeout=TIMEOUT), 401, 20003)
        r = requests.post(url, auth=(stranger.sid, stranger.token), timeout=TIMEOUT)
        assert r.status_code in (401, 403), r.text
    # The stranger naming the media under its own account finds nothing.
    r = requests.post(
        _v1(server, stranger, f"Media/{m.media_sid}/Revocations"),
        auth=(stranger.sid, stranger.token),
        timeout=TIMEOUT,
    )
    assert_twilio_error(r, 404)
    assert requests.get(old, timeout=TIMEOUT).content == m.body


def test_public_media_cannot_be_revoked(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files, enforce=False)
    r = requests.post(
        _v1(server, m.account, f"Media/{m.media_sid}/Revocations"),
        auth=(m.account.sid, m.account.token),
        timeout=TIMEOUT,
    )
    body = assert_twilio_error(r, 400, 20001)
    assert "cannot be revoked" in body["message"]


# Several server processes (two workers, Redis between them): a system test (`make test-system`).
@pytest.mark.system
def test_every_worker_process_refuses_a_revoked_url(
    server_factory: Any, files: FileServer, redis_prefix: str
) -> None:
    """Two worker processes, each with its own media cache: after the revocation
    every process refuses the old URL (within the documented bound; polled, not timed)."""
    # Several processes need Redis (they refuse to start without it); it also carries the revocation.
    srv = server_factory(
        serve_args=["--workers", "2"], MEDIAGATE_REDIS_URL=REDIS_URL, MEDIAGATE_REDIS_KEY_PREFIX=redis_prefix
    )
    m = one_media(srv, files)
    old = signed_url(m)
    for _ in range(20):  # warm both processes' caches with the row from before the revocation
        assert requests.get(old, timeout=TIMEOUT).status_code == 200
    revoke_media(srv, m)
    deadline = time.monotonic() + 60
    refused_in_a_row = 0
    while refused_in_a_row < 20:
        status = requests.get(old, timeout=TIMEOUT).status_code
        refused_in_a_row = refused_in_a_row + 1 if status == 403 else 0
        assert time.monotonic() < deadline, "a worker kept serving the revoked URL"
    assert requests.get(signed_url(m), timeout=TIMEOUT).content == m.body


def test_the_cli_revokes_and_running_servers_follow(server: RunningServer, files: FileServer) -> None:
    a, b = two_media(server, files)
    old_a, old_b = signed_url(a), signed_url(b)
    assert requests.get(old_a, timeout=TIMEOUT).status_code == 200  # cached in the server now

    def cli(*args: str) -> Done:  # in this process (tests/support/cli.py); the server is another
        return run_cli(server.env, "media", "revoke", *args)

    done = cli(a.account.sid, "--media", a.media_sid)
    assert done.returncode == 0, done.stderr
    assert f"media {a.media_sid}" in done.stdout
    # Another process revoked: the server follows once its cache entry expires (polled, not timed).
    deadline = time.monotonic() + 60
    while requests.get(old_a, timeout=TIMEOUT).status_code != 403:
        assert time.monotonic() < deadline, "the server kept serving the revoked URL"
        time.sleep(0.2)
    assert requests.get(old_b, timeout=TIMEOUT).content == b.body
    refused = cli(a.account.sid, "--media", "nope")
    assert refused.returncode == 2 and "not a Media SID" in refused.stderr


# ------------------------------------------------------------------ the audit


def events(server: RunningServer, acct: Account, creds: tuple[str, str], **query: str) -> dict[str, Any]:
    r = requests.get(_v1(server, acct, "MediaAccessEvents"), params=query, auth=creds, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def wait_for_events(server: RunningServer, m: StoredMedia, count: int) -> list[dict[str, Any]]:
    """The flusher writes every second; poll (no timing assertion) until ``count`` arrive."""
    deadline = time.monotonic() + 30
    while True:
        found: list[dict[str, Any]] = events(
            server, m.account, (m.account.sid, m.account.token), MediaSid=m.media_sid, PageSize="100"
        )["media_access_events"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_every_decision_and_delivery_is_recorded(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    url = signed_url(m)  # content URL: allowed, "signed"
    query = parse_qs(urlsplit(url).query)
    # A forged X-Forwarded-For is not believed: no trusted proxy is configured.
    assert requests.get(url, headers={"X-Forwarded-For": "203.0.113.9"}, timeout=TIMEOUT).status_code == 200
    assert requests.get(m.content_url, timeout=TIMEOUT, allow_redirects=False).status_code == 401
    tampered = url.replace(query["Signature"][0], "A" * len(query["Signature"][0]))
    assert requests.get(tampered, timeout=TIMEOUT).status_code == 403
    revoke_media(server, m)
    assert requests.get(url, timeout=TIMEOUT).status_code == 403

    found = wait_for_events(server, m, 5)
    by_reason = {(e["host"], e["reason"]): e for e in found}
    assert set(by_reason) >= {
        ("api", "signed"),
        ("api", "denied"),
        ("secure", "served"),
        ("secure", "invalid"),
        ("secure", "revoked"),
    }, found
    api = by_reason[("api", "signed")]
    assert api["allowed"] is True and api["credential_kind"] == "auth_token"
    assert api["credential_sid"] == m.account.sid and api["method"] == "GET"
    assert by_reason[("api", "denied")]["allowed"] is False
    assert by_reason[("api", "denied")]["credential_kind"] == "none"
    served = by_reason[("secure", "served")]
    assert served["credential_kind"] == "signed_url" and served["credential_sid"] == query["Key-Pair-Id"][0]
    assert served["client_ip"] == "127.0.0.1"
    assert by_reason[("secure", "revoked")]["allowed"] is False
    # Never a secret: no token, signature or URL in any stored column.
    with server.runtime.sessions() as session:
        rows = session.query(MediaAccessEvent).filter(MediaAccessEvent.media_sid == m.media_sid).all()
    stored = " ".join(str(v) for r in rows for v in vars(r).values())
    for secret in (m.account.token, query["Signature"][0], "Signature", "Expires"):
        assert secret not in stored


def test_public_host_deliveries_are_recorded(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files, enforce=False)
    followed = requests.get(m.content_url, timeout=TIMEOUT)
    assert followed.status_code == 200 and followed.content == m.body
    found = wait_for_events(server, m, 2)
    assert {(e["host"], e["reason"], e["allowed"]) for e in found} >= {
        ("api", "public", True),
        ("public", "served", True),
    }


def test_repeated_accesses_are_counted_not_lost(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    with requests.Session() as client:  # one connection: one client, fast and slow path alike
        client.auth = (m.account.sid, m.account.token)
        for _ in range(20):
            assert client.get(m.content_url, allow_redirects=False, timeout=TIMEOUT).status_code == 307
    deadline = time.monotonic() + 30
    while True:
        found = [e for e in wait_for_events(server, m, 1) if (e["host"], e["reason"]) == ("api", "signed")]
        if sum(e["count"] for e in found) >= 20 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    # Identical accesses of one second are one event: all twenty are there, each once.
    assert sum(e["count"] for e in found) == 20, found
    for e in found:
        assert e["count"] >= 1 and e["date_created"] <= e["date_updated"]
        assert e["credential_sid"] == m.account.sid and e["client_ip"] == "127.0.0.1"


def test_events_page_and_stay_in_their_account(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    # Three distinct accesses (a GET and a HEAD of the content URL, a download): three events.
    assert requests.get(signed_url(m), timeout=TIMEOUT).status_code == 200
    head = requests.head(m.content_url, auth=(m.account.sid, m.account.token), timeout=TIMEOUT)
    assert head.status_code == 307
    assert len(wait_for_events(server, m, 3)) >= 3
    creds = (m.account.sid, m.account.token)
    first = events(server, m.account, creds, PageSize="2")
    assert len(first["media_access_events"]) == 2 and first["next_page_uri"]
    second = requests.get(server.base_url + first["next_page_uri"], auth=creds, timeout=TIMEOUT).json()
    sids = {e["sid"] for e in first["media_access_events"]} | {
        e["sid"] for e in second["media_access_events"]
    }
    assert len(sids) >= 3 and all(s.startswith("AE") for s in sids)

    stranger = server.new_account("audit-stranger")
    r = requests.get(
        _v1(server, m.account, "MediaAccessEvents"), auth=(stranger.sid, stranger.token), timeout=30
    )
    assert r.status_code in (401, 403)
    mine = events(server, stranger, (stranger.sid, stranger.token), MediaSid=m.media_sid)
    assert mine["media_access_events"] == []
    bad = requests.get(
        _v1(server, m.account, "MediaAccessEvents"), params={"MediaSid": "nope"}, auth=creds, timeout=TIMEOUT
    )
    assert_twilio_error(bad, 400, 20001)


def test_trusted_proxy_client_address_is_recorded(server_factory: Any, files: FileServer) -> None:
    srv = server_factory(MEDIAGATE_TRUSTED_PROXIES="127.0.0.1")
    m = one_media(srv, files)
    url = signed_url(m)
    assert requests.get(url, headers={"X-Forwarded-For": "203.0.113.9"}, timeout=TIMEOUT).status_code == 200
    found = wait_for_events(srv, m, 2)
    served = [e for e in found if e["host"] == "secure"]
    assert served and served[0]["client_ip"] == "203.0.113.9"


def test_shutdown_writes_what_is_queued(server_factory: Any, files: FileServer) -> None:
    srv = server_factory(MEDIAGATE_ACCESS_AUDIT_FLUSH_INTERVAL="60")
    m = one_media(srv, files)
    # The flusher's first pass ran at start-up; the next is 60 s away: only shutdown writes this.
    signed_url(m)
    srv.process.terminate()
    srv.process.wait(30)
    with srv.runtime.sessions() as session:
        rows = session.query(MediaAccessEvent).filter(MediaAccessEvent.media_sid == m.media_sid).all()
    assert [(r.host, r.reason) for r in rows] == [("api", "signed")]
