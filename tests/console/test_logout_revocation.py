"""Signing out ends the session on the server: a copy of the cookie taken before
sign-out is refused afterwards (the cookie alone, though validly signed, is not enough)."""

from __future__ import annotations

import requests

from tests.support.console_http import console_session, csrf_token, form_token
from tests.support.server import RunningServer


def test_a_copied_cookie_is_dead_after_logout(server: RunningServer) -> None:
    acct = server.new_account("Copied Cookie")
    http = console_session(server.base_url, acct.sid, acct.token)
    stolen = http.cookies.get("mg_console")
    assert stolen

    copy = requests.Session()
    copy.cookies.set("mg_console", stolen)
    before = copy.get(server.base_url + "/console/dashboard", allow_redirects=False, timeout=10)
    assert before.status_code == 200  # the copy works while the session is open

    out = http.post(
        server.base_url + "/console/logout",
        data={"csrf_token": form_token(http, server.base_url)},
        allow_redirects=False,
        timeout=10,
    )
    assert out.status_code == 303 and out.headers["location"] == "/console/login?done=signed-out"

    for path in ("/console/dashboard", "/console/messaging/settings/general", "/console/keys"):
        after = requests.get(
            server.base_url + path, cookies={"mg_console": stolen}, allow_redirects=False, timeout=10
        )
        assert after.status_code == 303, path
        assert after.headers["location"].startswith("/console/login"), path
    # Nor can the copy post a form with the token it had.
    token = csrf_token(before.text)
    post = requests.post(
        server.base_url + "/console/messaging/settings/general",
        data={"csrf_token": token, "enforce_media_http_auth": "disable"},
        cookies={"mg_console": stolen},
        allow_redirects=False,
        timeout=10,
    )
    assert post.status_code == 303 and post.headers["location"].startswith("/console/login")
    r = requests.get(
        f"{server.base_url}/v1/Accounts/{acct.sid}/MessagingSettings", auth=(acct.sid, acct.token), timeout=10
    )
    assert r.json()["enforce_media_http_auth"] is True


def test_signing_out_one_session_leaves_the_others(server: RunningServer) -> None:
    acct = server.new_account("Two Sessions")
    laptop = console_session(server.base_url, acct.sid, acct.token)
    phone = console_session(server.base_url, acct.sid, acct.token)
    laptop.post(
        server.base_url + "/console/logout",
        data={"csrf_token": form_token(laptop, server.base_url)},
        allow_redirects=False,
        timeout=10,
    )
    assert (
        phone.get(server.base_url + "/console/dashboard", allow_redirects=False, timeout=10).status_code
        == 200
    )
