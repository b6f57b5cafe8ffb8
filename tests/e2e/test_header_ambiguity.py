"""Requests that are ambiguous or that try to steer our redirects through headers:
two ``Authorization`` headers, and a ``Host`` header on a trailing-slash redirect."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from tests.support.carrier import carrier_auth
from tests.support.clients import basic
from tests.support.server import RunningServer


def raw(
    server: RunningServer, method: str, path: str, headers: list[tuple[str, str]], body: str = ""
) -> tuple[int, dict[str, str], bytes]:
    """http.client, so that repeated headers really go out repeated (and Host is ours to set)."""
    parts = urlsplit(server.base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=any(k.lower() == "host" for k, _ in headers))
        for name, value in headers:
            conn.putheader(name, value)
        data = body.encode()
        if method == "POST":
            conn.putheader("Content-Type", "application/x-www-form-urlencoded")
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data if method == "POST" else None)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize("valid_first", [True, False])
def test_two_authorization_headers_are_refused(server: RunningServer, valid_first: bool) -> None:
    acct = server.new_account("Two Headers")
    good, bad = basic(acct.sid, acct.token), basic(acct.sid, "0" * 32)
    pair = [("Authorization", good), ("Authorization", bad)]
    if not valid_first:
        pair.reverse()
    base = f"/2010-04-01/Accounts/{acct.sid}"
    for method, path, body in [
        ("GET", f"{base}/Messages.json", ""),
        ("POST", f"{base}/Messages.json", "To=%2B15551230001&From=%2B15557650001&Body=x"),
        ("GET", f"/v1/Accounts/{acct.sid}/MessagingSettings", ""),
        ("GET", f"{base}/Messages/MM{'0' * 32}/Media/ME{'0' * 32}", ""),
        ("GET", f"/v1/Keys?AccountSid={acct.sid}", ""),
    ]:
        status, _, content = raw(server, method, path, pair, body)
        assert status == 400, (method, path, status, content)
        error = json.loads(content)
        assert error["code"] == 20001 and error["status"] == 400
        assert "exactly one Authorization header" in error["message"]
        assert acct.token not in content.decode()
    # Nothing was created by the refused POST.
    status, _, content = raw(server, "GET", f"{base}/Messages.json", [("Authorization", good)])
    assert status == 200 and json.loads(content)["messages"] == []
    # The carrier ingress too, even with the carrier's own credential twice.
    carrier = basic(*carrier_auth(server))
    status, _, _ = raw(
        server, "POST", "/v1/Carrier/Inbound", [("Authorization", carrier)] * 2, "To=%2B15550000000&Body=x"
    )
    assert status == 400


def test_trailing_slash_redirect_uses_the_public_url_not_host(server: RunningServer) -> None:
    acct = server.new_account("Slash")
    for path, target in [
        ("/console", "/console/"),
        (
            f"/2010-04-01/Accounts/{acct.sid}/Messages.json/?PageSize=5",
            f"/2010-04-01/Accounts/{acct.sid}/Messages.json?PageSize=5",
        ),
    ]:
        status, headers, _ = raw(server, "GET", path, [("Host", "evil.example")])
        assert status == 307, (path, status)
        assert headers["location"] == server.base_url + target
    # No redirect is invented for paths that match nothing either way.
    status, headers, _ = raw(server, "GET", "/no/such/path/", [("Host", "evil.example")])
    assert status == 404 and "location" not in headers
