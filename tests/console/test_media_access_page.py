"""The console's "who fetched this, when" page of one media, and its revoke button."""

from __future__ import annotations

import requests

from tests.e2e.test_revocation_audit import wait_for_events
from tests.support.clients import standard_key
from tests.support.console_http import console_session, form_token
from tests.support.fileserver import FileServer
from tests.support.media_steps import one_media, signed_url
from tests.support.server import RunningServer


def test_media_page_shows_who_fetched_it_and_revokes_its_urls(
    server: RunningServer, files: FileServer
) -> None:
    m = one_media(server, files)
    key_sid, key_secret = standard_key(server, m.account)
    # One fetch with the auth token, one with an API key: both must be named on the page.
    old = signed_url(m)
    r = requests.get(m.content_url, auth=(key_sid, key_secret), timeout=30)
    assert r.status_code == 200 and r.content == m.body
    assert len(wait_for_events(server, m, 3)) >= 3  # two content-URL answers, one delivery

    http = console_session(server.base_url, m.account.sid, m.account.token)
    path = f"/console/messages/{m.message_sid}/media/{m.media_sid}/access"
    page = http.get(server.base_url + path, timeout=30)
    assert page.status_code == 200, page.text
    html = page.text
    assert "access-events" in html
    assert m.account.sid in html and key_sid in html
    assert "content URL" in html and "secured host" in html and "127.0.0.1" in html
    assert key_secret not in html and m.account.token not in html

    # The media detail grid links here.
    detail = http.get(f"{server.base_url}/console/messages/{m.message_sid}", timeout=30)
    assert path in detail.text

    done = http.post(
        server.base_url + path, data={"csrf_token": form_token(http, server.base_url)}, allow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?done=revoked")
    refused = requests.get(old, timeout=30)
    assert refused.status_code == 403 and refused.json()["reason"] == "revoked"
    assert requests.get(signed_url(m), timeout=30).content == m.body
