"""The console's HTTP checks with the app in this process (tests/support/inprocess.py).

The console is server-side Starlette code (sessions, permissions, forms, CSRF, the
sign-in limits): what it answers does not depend on granian, so the checks that only
look at status codes, headers and HTML run here, and the browser tests
(tests/console/) keep what needs a browser. Each ``requests`` session made here has
its own cookie jar (a browser, a phone, an attacker with a copied cookie) and reaches
the same app as the server's own session.
"""

from __future__ import annotations

from email.message import Message
from typing import Any

import httpx
import requests
from urllib3 import HTTPHeaderDict

from tests.support.console_http import attempt_login
from tests.support.inprocess import InProcessServer, _ASGIAdapter


class _Raw:
    """What ``requests`` reads cookies from (``response.raw._original_response.msg``) and
    what a test reads repeated headers from (``response.raw.headers.getlist``)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        msg = Message()
        for k, v in pairs:
            msg[k] = v
        self._original_response = self  # http.client's response: only ``msg`` is read
        self.msg = msg
        self.headers = HTTPHeaderDict()
        for k, v in pairs:
            self.headers.add(k, v)

    def release_conn(self) -> None:
        pass


class _CookieAdapter(_ASGIAdapter):
    """The in-process adapter, keeping every ``Set-Cookie`` (the console's session and
    pre-login cookies) so a ``requests`` session stores and sends them as with a real
    server. (The shared adapter merges repeated headers and gives no ``raw``: the API
    tests authenticate per request and need no cookies.)"""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = request.body
        content = body.encode() if isinstance(body, str) else (body or b"")
        assert isinstance(content, bytes), type(content)
        sent = httpx.Request(
            str(request.method), str(request.url), headers=list(request.headers.items()), content=content
        )

        async def go() -> tuple[int, list[tuple[str, str]], bytes]:
            answer = await self._transport.handle_async_request(sent)
            data = await answer.aread()
            return answer.status_code, answer.headers.multi_items(), data

        status, pairs, data = self._loop.run(go())
        response = requests.Response()
        response.status_code = status
        response.headers = requests.structures.CaseInsensitiveDict(httpx.Headers(pairs).items())
        response.raw = _Raw(pairs)
        response._content = data
        response.url = str(request.url)
        response.request = request
        response.encoding = "utf-8"
        response.reason = httpx.codes.get_reason_phrase(status)
        return response


def client(server: InProcessServer) -> requests.Session:
    """A new ``requests`` session, with its own cookies, that reaches ``server``'s app."""
    shared = server.http.get_adapter(server.base_url + "/")
    assert isinstance(shared, _ASGIAdapter)
    http = requests.Session()
    http.mount(server.base_url + "/", _CookieAdapter(shared._loop, shared._transport))
    return http


def signed_in(server: InProcessServer, user: str, secret: str) -> requests.Session:
    """A new session signed in to the console as ``user`` through the real form
    (tests/support/console_http.console_session, in process)."""
    http = client(server)
    r = attempt_login(http, server.base_url, user, secret)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/dashboard"
    return http
