"""Delivery without a redirect (``/v1/Accounts/{AC}/MediaDelivery`` Mode=direct): the
content URL answers the bytes itself, with auth, Range, HEAD, ETag/304 and the
secured host's headers, on every database and storage backend."""

from __future__ import annotations

import pytest
import requests

from mediagate.edge.serve import SECURITY_HEADERS
from tests.support.clients import assert_twilio_error, twilio_client
from tests.support.fileserver import FileServer
from tests.support.media_steps import StoredMedia, add_media, new_api_key, one_media, sha, sms
from tests.support.server import Account, RunningServer

pytestmark = pytest.mark.e2e
SERVER_STORAGES = ("local", "s3")
TIMEOUT = 30


def set_mode(server: RunningServer, acct: Account, mode: str) -> dict[str, str]:
    r = requests.post(
        f"{server.base_url}/v1/Accounts/{acct.sid}/MediaDelivery",
        data={"Mode": mode},
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )
    assert r.status_code == 200, r.text
    body: dict[str, str] = r.json()
    assert set(body) == {"account_sid", "mode", "date_updated", "url"}
    assert body["mode"] == mode
    return body


def direct_media(server: RunningServer, files: FileServer) -> StoredMedia:
    m = one_media(server, files)
    set_mode(server, m.account, "direct")
    return m


def get(m: StoredMedia, method: str = "GET", **headers: str) -> requests.Response:
    return requests.request(
        method,
        m.content_url,
        auth=(m.account.sid, m.account.token),
        headers=headers,
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def test_the_content_url_answers_the_bytes(server: RunningServer, files: FileServer) -> None:
    m = one_media(server, files)
    acct = m.account
    r = requests.get(
        f"{server.base_url}/v1/Accounts/{acct.sid}/MediaDelivery",
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )
    assert r.status_code == 200 and r.json()["mode"] == "redirect"  # Twilio's behaviour by default
    assert get(m).status_code == 307
    set_mode(server, acct, "direct")

    # twilio-python's own HTTP client, as an app behind an egress allowlist uses it.
    client = twilio_client(server, acct.sid, acct.token)
    served = client.http_client.request("GET", m.content_url, auth=(acct.sid, acct.token))
    # Its Response holds decoded text, not bytes: the ETag (the bytes' SHA-256) names them.
    assert served.status_code == 200 and served.headers["ETag"] == f'"{sha(m.body)}"'

    r = get(m)
    assert r.status_code == 200 and r.content == m.body and "Location" not in r.headers
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["Cache-Control"] == "private, no-cache"
    for name, value in SECURITY_HEADERS.items():
        assert r.headers[name] == value
    etag = r.headers["ETag"]

    ranged = get(m, Range="bytes=10-19")
    assert ranged.status_code == 206 and ranged.content == m.body[10:20]
    assert ranged.headers["Content-Range"] == f"bytes 10-19/{len(m.body)}"
    head = get(m, "HEAD")
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(m.body)) and not head.content
    assert get(m, **{"If-None-Match": etag}).status_code == 304
    assert get(m, Range="bytes=x-1").status_code == 400
    # An API key of the account works like its token.
    key = new_api_key(server, acct)
    by_key = requests.get(m.content_url, auth=key, allow_redirects=False, timeout=TIMEOUT)
    assert by_key.status_code == 200 and by_key.content == m.body

    set_mode(server, acct, "redirect")
    assert get(m).status_code == 307


def test_auth_is_still_required(server: RunningServer, files: FileServer) -> None:
    m = direct_media(server, files)
    anonymous = requests.get(m.content_url, allow_redirects=False, timeout=TIMEOUT)
    assert_twilio_error(anonymous, 401, 20003)
    wrong = requests.get(
        m.content_url, auth=(m.account.sid, "0" * 32), allow_redirects=False, timeout=TIMEOUT
    )
    assert_twilio_error(wrong, 401, 20003)
    other = server.new_account("direct-other")
    foreign = requests.get(
        m.content_url, auth=(other.sid, other.token), allow_redirects=False, timeout=TIMEOUT
    )
    assert_twilio_error(foreign, 401, 20003)
    # A media sid of another message is a 404, as with the redirect.
    missing = m.content_url.replace(m.media_sid, "ME" + "0" * 32)
    assert_twilio_error(get(StoredMedia(m.account, m.message_sid, m.media_sid, m.body, missing)), 404, 20404)


def test_active_content_is_an_attachment(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("direct-svg")
    set_mode(server, acct, "direct")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    m = add_media(server, acct, sms(server, acct), "image/svg+xml", svg, filename="logo.svg")
    r = get(m)
    assert r.status_code == 200 and r.content == svg
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert r.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_deleted_media_is_gone_at_once(server: RunningServer, files: FileServer) -> None:
    m = direct_media(server, files)
    assert get(m).status_code == 200
    r = requests.delete(m.metadata_url, auth=(m.account.sid, m.account.token), timeout=TIMEOUT)
    assert r.status_code == 204
    assert_twilio_error(get(m), 404, 20404)


def test_bad_mode_is_a_twilio_error(server: RunningServer) -> None:
    acct = server.new_account("direct-bad")
    for data in ({"Mode": "sideways"}, {}, {"Mode": "\x00"}):
        r = requests.post(
            f"{server.base_url}/v1/Accounts/{acct.sid}/MediaDelivery",
            data=data,
            auth=(acct.sid, acct.token),
            timeout=TIMEOUT,
        )
        assert_twilio_error(r, 400)


# Direct mode over S3 with presigned redirects, and the CLI's setting of the mode, are
# tests/inprocess/test_media_direct.py's: neither crosses the process, and there the
# app's direct_delivery_refresh is a small setting instead of a poll of up to 30 s.
