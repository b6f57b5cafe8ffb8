"""The dashboard shows the account's test credentials (the token only when revealed, with the
auth token), and the console's sign-in does not take them: they are for two API requests only."""

from __future__ import annotations

import requests

from mediagate.accounts import accounts
from tests.support.console_http import attempt_login, console_session, csrf_token
from tests.support.server import RunningServer


def test_dashboard_shows_test_credentials_and_sign_in_refuses_them(server: RunningServer) -> None:
    made = accounts.create(server.runtime, "Test creds Inc")
    sid, token = made.account.sid, made.auth_token
    test_sid, test_token = made.account.test_account_sid, made.test_auth_token

    http = console_session(server.base_url, sid, token)
    page = http.get(server.base_url + "/console/dashboard", timeout=10)
    assert page.status_code == 200
    assert f'<code id="test-account-sid">{test_sid}</code>' in page.text
    assert test_token not in page.text and token not in page.text
    revealed = http.post(
        server.base_url + "/console/dashboard/reveal-token",
        data={"csrf_token": csrf_token(page.text)},
        timeout=10,
    )
    assert revealed.status_code == 200, revealed.text
    assert f'<code id="test-auth-token" class="secret">{test_token}</code>' in revealed.text
    assert f'<code id="auth-token" class="secret">{token}</code>' in revealed.text

    refused = attempt_login(requests.Session(), server.base_url, test_sid, test_token)
    assert refused.status_code != 303 and "location" not in refused.headers
