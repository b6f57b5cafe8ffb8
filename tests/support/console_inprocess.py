"""The console's HTTP checks with the app in this process (tests/support/inprocess.py).

The console is server-side Starlette code (sessions, permissions, forms, CSRF, the
sign-in limits): what it answers does not depend on granian, so the checks that only
look at status codes, headers and HTML run here, and the browser tests
(tests/console/) keep what needs a browser. Each ``requests`` session made here has
its own cookie jar (a browser, a phone, an attacker with a copied cookie) and reaches
the same app as the server's own session.
"""

from __future__ import annotations

import requests

from tests.support.console_http import attempt_login
from tests.support.inprocess import InProcessServer, _ASGIAdapter


def client(server: InProcessServer) -> requests.Session:
    """A new ``requests`` session, with its own cookies, that reaches ``server``'s app."""
    shared = server.http.adapters[server.base_url + "/"]
    assert isinstance(shared, _ASGIAdapter)
    http = requests.Session()
    http.mount(server.base_url + "/", shared.fresh())
    return http


def signed_in(server: InProcessServer, user: str, secret: str) -> requests.Session:
    """A new session signed in to the console as ``user`` through the real form
    (tests/support/console_http.console_session, in process)."""
    http = client(server)
    r = attempt_login(http, server.base_url, user, secret)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/dashboard"
    return http
