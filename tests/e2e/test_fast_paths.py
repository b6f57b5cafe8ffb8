"""The RSGI fast paths (``mediagate/serving/fast.py``) against the real server.

The first content redirect and the first signed download of a media go
through the full application and teach the process what it needs; the
repeats are answered from memory on the fast path. Each test here warms the
memory first, proves with ``mediagate_fast_path_answers_total`` that the
repeat really took the fast path, and checks that it answers exactly what
the full application answers, and that every refusal the full application
makes is still made on the very next request.
"""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from mediagate.db.models import Media, MediaAccessEvent
from tests.support.clients import standard_key
from tests.support.fileserver import FileServer
from tests.support.media_steps import StoredMedia, one_media
from tests.support.scrape import delta, scrape
from tests.support.server import RunningServer
from tests.support.shapes import SHAPES

pytestmark = pytest.mark.e2e
SERVER_STORAGES = ("local", "s3")

TIMEOUT = 30
CONTENT = "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"
SECURE = "/_media/secure/{account_sid}/{media_sid}"
FAST = "mediagate_fast_path_answers_total"
# Headers that may differ between two answers to the same request.
VARYING = {"date", "x-request-id", "location", "last-modified"}


def redirect(m: StoredMedia, auth: tuple[str, str], method: str = "GET") -> requests.Response:
    return requests.request(method, m.content_url, auth=auth, allow_redirects=False, timeout=TIMEOUT)


def counted(
    server: RunningServer, route: str, action: Callable[..., requests.Response], *args: Any
) -> tuple[requests.Response, float]:
    """The response, and how many fast-path answers the server counted for it."""
    before = scrape(server)
    r = action(*args)
    return r, delta(before, scrape(server), FAST, route=route)


def audit_events(server: RunningServer, media_sid: str) -> int:
    """Accesses recorded (a row counts identical ones of one second)."""
    with server.runtime.sessions() as session:
        n = session.scalar(
            select(func.sum(MediaAccessEvent.count)).where(MediaAccessEvent.media_sid == media_sid)
        )
    return int(n or 0)


def wait_for_events(server: RunningServer, media_sid: str, at_least: int) -> int:
    deadline = time.monotonic() + 10
    n = audit_events(server, media_sid)
    while n < at_least and time.monotonic() < deadline:
        time.sleep(0.1)
        n = audit_events(server, media_sid)
    return n


def test_repeat_redirect_is_the_same_answer_from_memory(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    key_sid, key_secret = standard_key(server, m.account)
    for auth in ((m.account.sid, m.account.token), (key_sid, key_secret)):
        first, fast_first = counted(server, CONTENT, redirect, m, auth)
        again, fast_again = counted(server, CONTENT, redirect, m, auth)
        assert (first.status_code, again.status_code) == (307, 307), (first.text, again.text)
        assert fast_first == 0 and fast_again == 1, (auth[0], fast_first, fast_again)
        assert {k.lower() for k in first.headers} - VARYING == {k.lower() for k in again.headers} - VARYING
        for name in ("cache-control", "content-length"):
            assert first.headers[name] == again.headers[name], name
        assert again.headers["x-request-id"] != first.headers["x-request-id"]
        # Both URLs are signed and serve the bytes.
        for r in (first, again):
            assert requests.get(r.headers["location"], timeout=TIMEOUT).content == m.body
        head, fast_head = counted(server, CONTENT, redirect, m, auth, "HEAD")
        assert head.status_code == 307 and fast_head == 1
    # A client's own request id is kept, as on the full path.
    mine = requests.get(
        m.content_url,
        auth=(m.account.sid, m.account.token),
        headers={"X-Request-Id": "client-fast-1"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert mine.headers["x-request-id"] == "client-fast-1"
    # Every answer, fast or not, is a durable access (the redirects here, the downloads), once.
    assert wait_for_events(server, m.media_sid, 11) == 11


def test_refusals_after_the_memory_is_warm(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    other = one_media(server, files)
    owner = (m.account.sid, m.account.token)
    key_sid, key_secret = standard_key(server, m.account)
    for auth in (owner, (key_sid, key_secret)):
        assert redirect(m, auth).status_code == 307
        assert redirect(m, auth).status_code == 307
    # A wrong secret is never remembered as good; another account's credentials reach nothing.
    assert redirect(m, (m.account.sid, "0" * 32)).status_code == 401
    # Another account's valid credentials on this account's path: the 401 of auth.require.
    foreign = redirect(m, (other.account.sid, other.account.token))
    assert foreign.status_code == 401, foreign.text
    assert foreign.json()["code"] == 20003
    assert requests.get(m.content_url, allow_redirects=False, timeout=TIMEOUT).status_code == 401
    # The media under another message's path is not found, even from memory.
    wrong_path = m.content_url.replace(m.message_sid, other.message_sid)
    misplaced = requests.get(wrong_path, auth=owner, allow_redirects=False, timeout=TIMEOUT)
    assert misplaced.status_code == 404, misplaced.text
    assert misplaced.json()["code"] == 20404
    # Two Authorization headers are ambiguous: refused, not answered from memory.
    basic = requests.Request("GET", m.content_url, auth=owner).prepare().headers["Authorization"]
    u = urlsplit(m.content_url)
    conn = http.client.HTTPConnection(u.hostname or "", u.port, timeout=TIMEOUT)
    try:
        conn.putrequest("GET", u.path)
        conn.putheader("Authorization", basic)
        conn.putheader("Authorization", basic)
        conn.endheaders()
        assert conn.getresponse().status == 400
    finally:
        conn.close()
    # Deleting the key ends it on the very next request; the token keeps working.
    r = requests.delete(
        f"{server.base_url}/2010-04-01/Accounts/{m.account.sid}/Keys/{key_sid}.json",
        auth=owner,
        timeout=TIMEOUT,
    )
    assert r.status_code == 204, r.text
    assert redirect(m, (key_sid, key_secret)).status_code == 401
    assert redirect(m, owner).status_code == 307
    # Deleting the media ends its redirect at once.
    r = requests.delete(m.metadata_url, auth=owner, timeout=TIMEOUT)
    assert r.status_code == 204, r.text
    assert redirect(m, owner).status_code == 404


def download(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=TIMEOUT)


def test_repeat_download_is_the_same_answer(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    owner = (m.account.sid, m.account.token)
    url = redirect(m, owner).headers["location"]
    first, fast_first = counted(server, SECURE, download, url)
    again, fast_again = counted(server, SECURE, download, url)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content == m.body
    assert fast_first == 0
    # Local files go out through granian from memory; S3 objects always through the application.
    local = not server.env.get("MEDIAGATE_STORAGE_URL")
    assert fast_again == (1 if local else 0)
    assert {k.lower() for k in first.headers} - VARYING == {k.lower() for k in again.headers} - VARYING
    for name in first.headers:
        if name.lower() not in VARYING:
            assert first.headers[name] == again.headers[name], name
    head = requests.head(url, timeout=TIMEOUT)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(m.body))
    assert head.content == b""
    # What the fast path leaves to the application still works after the memory is warm.
    part = download(url, Range="bytes=0-9")
    assert part.status_code == 206 and part.content == m.body[:10]
    assert download(url, **{"If-None-Match": first.headers["etag"]}).status_code == 304
    attachment = requests.get(url + "&Download=1", timeout=TIMEOUT)
    assert attachment.headers["content-disposition"].startswith("attachment")
    # A changed signature, or one from a signed URL for another media, is refused.
    bad = url.replace("Signature=", "Signature=x")
    assert download(bad).status_code == 403
    # Revoking this media's URLs voids them on the next request.
    r = requests.post(
        f"{server.base_url}/v1/Accounts/{m.account.sid}/Media/{m.media_sid}/Revocations",
        auth=owner,
        timeout=TIMEOUT,
    )
    assert r.status_code in (200, 201), r.text
    assert download(url).status_code == 403
    fresh = redirect(m, owner).headers["location"]
    assert download(fresh).status_code == 200
    assert download(fresh).status_code == 200
    # Deleting it: the next download is a 404, whichever path would have answered.
    assert requests.delete(m.metadata_url, auth=owner, timeout=TIMEOUT).status_code == 204
    assert download(fresh).status_code == 404


@pytest.mark.parametrize(("backend", "storage"), SHAPES)
def test_fast_answers_record_the_forwarded_client_of_a_trusted_proxy(
    server_factory: Any, files: FileServer, backend: str, storage: str
) -> None:
    srv = server_factory(backend=backend, storage=storage, MEDIAGATE_TRUSTED_PROXIES="127.0.0.1")
    m = one_media(srv, files)
    owner = (m.account.sid, m.account.token)
    forwarded = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}  # the last untrusted hop is the client

    def via_proxy(headers: dict[str, str]) -> requests.Response:
        return requests.get(
            m.content_url, auth=owner, headers=headers, allow_redirects=False, timeout=TIMEOUT
        )

    first, fast_first = counted(srv, CONTENT, via_proxy, forwarded)
    again, fast_again = counted(srv, CONTENT, via_proxy, forwarded)
    rfc, fast_rfc = counted(srv, CONTENT, via_proxy, {"Forwarded": 'for="[2001:db8::5]"'})
    assert (first.status_code, again.status_code, rfc.status_code) == (307, 307, 307)
    assert (fast_first, fast_again, fast_rfc) == (0, 1, 1)
    url = again.headers["location"]
    _, fast_warm = counted(srv, SECURE, download, url)  # the first download teaches the secured host
    served, fast_served = counted(srv, SECURE, lambda: download(url, **{"X-Forwarded-For": "192.0.2.44"}))
    # Local files go out from the fast path; S3 objects always through the application.
    assert served.status_code == 200 and (fast_warm, fast_served) == (0, 1 if storage == "local" else 0)
    # The fast answers name the same client the full path does, from the same headers.
    deadline = time.monotonic() + 30
    want = {("api", "203.0.113.7"): 2, ("api", "2001:db8::5"): 1, ("secure", "192.0.2.44"): 1}
    while True:
        with srv.runtime.sessions() as session:
            rows = session.execute(
                select(MediaAccessEvent.host, MediaAccessEvent.client_ip, func.sum(MediaAccessEvent.count))
                .where(MediaAccessEvent.media_sid == m.media_sid)
                .group_by(MediaAccessEvent.host, MediaAccessEvent.client_ip)
            ).all()
        got = {(host, ip): int(n) for host, ip, n in rows}
        if all(got.get(k, 0) >= v for k, v in want.items()) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert {k: got.get(k, 0) for k in want} == want, got


def test_a_file_gone_under_the_fast_path_is_a_404_not_bytes(server: RunningServer, files: FileServer) -> None:
    """Another process deleted the media, and its invalidation has not reached this one
    yet (the documented bound): the row is still in this process's memory, the file is
    gone. The fast path hands the name to granian, which answers its own plain 404
    (and this one request is logged as served: docs/architecture.md)."""
    if server.env.get("MEDIAGATE_STORAGE_URL"):
        pytest.skip("the download fast path serves local files only")
    m = one_media(server, files)
    url = redirect(m, (m.account.sid, m.account.token)).headers["location"]
    assert download(url).status_code == 200  # the secured host remembers the row
    with server.runtime.sessions() as session:
        key = session.scalar(select(Media.storage_key).where(Media.sid == m.media_sid))
    assert key is not None
    name = server.runtime.store.file_name(key)
    assert name is not None
    os.unlink(name)  # the file only: this process's memory is not told
    gone, fast = counted(server, SECURE, download, url)
    assert fast == 1 and gone.status_code == 404
    assert m.body not in gone.content
