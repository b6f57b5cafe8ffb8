"""Console pages whose facts are HTTP answers of the console's own code, with the app in
process on SQLite and PostgreSQL (tests/support/console_inprocess.py): the query read like
the API's (NUL is a 400 page), the retention form, the test credentials on the dashboard,
and the "Check a credential" page (each usual mistake told apart, CSRF, its rate limit, no
secret in the log). The browser keeps the page flows (tests/console/)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
import requests

from mediagate.accounts import accounts, keys
from mediagate.retention import rules as retention
from tests.conftest import BACKENDS
from tests.support.console_http import attempt_login, csrf_token
from tests.support.console_inprocess import client, signed_in
from tests.support.inprocess import InProcessServer, in_process_server


@pytest.fixture(scope="module", params=BACKENDS)
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessServer]:
    with in_process_server(request.param, tmp_path_factory.mktemp(f"console-pages-{request.param}")) as srv:
        yield srv


# ---------------------------------------- query hygiene (was tests/console/test_query_hygiene.py)


@pytest.mark.parametrize(
    "path",
    [
        "/console/messages?To=%2B1555%00",
        "/console/messages?PageToken=%00",
        "/console/messages?x%00=1",
        "/console/dashboard?done=%00",
    ],
)
def test_nul_in_a_console_query_is_a_400_page(app: InProcessServer, path: str) -> None:
    """NUL or a lone surrogate in any query parameter is a 400 page, not a 500 from
    PostgreSQL (issue 8, finding 7)."""
    acct = app.new_account("console-query")
    http = signed_in(app, acct.sid, acct.token)
    r = http.get(app.base_url + path, allow_redirects=False, timeout=10)
    assert r.status_code == 400, r.text
    assert "Bad request" in r.text
    assert http.get(app.base_url + "/console/messages", timeout=10).status_code == 200  # still serving
    assert client(app).get(app.base_url + "/healthz", timeout=10).status_code == 200


# ---------------------------------------- retention (was tests/console/test_retention_page.py)

RETENTION_PAGE = "/console/messaging/settings/retention"


def test_retention_page_saves_the_rule_the_api_shows(app: InProcessServer) -> None:
    """The form changes the same rule the API shows, with CSRF and clear errors."""
    base = app.base_url
    acct = app.new_account("console-retention")
    http = signed_in(app, acct.sid, acct.token)
    page = http.get(base + RETENTION_PAGE, timeout=10)
    assert page.status_code == 200 and "Nothing deleted by retention" in page.text
    token = csrf_token(page.text)
    form = {"days_after_creation": "14", "days_after_last_access": "", "after_webhook_delivered": "on"}

    refused = http.post(base + RETENTION_PAGE, data=form, allow_redirects=False, timeout=10)
    assert refused.status_code == 403  # no CSRF token
    assert retention.get_rule(app.runtime, acct.sid).date_created is None

    bad = http.post(
        base + RETENTION_PAGE,
        data={**form, "days_after_creation": "two weeks", "csrf_token": token},
        timeout=10,
    )
    assert bad.status_code == 400 and "Days after creation must be a whole number of days" in bad.text

    saved = http.post(
        base + RETENTION_PAGE, data={**form, "csrf_token": token}, allow_redirects=False, timeout=10
    )
    assert saved.status_code == 303 and saved.headers["location"] == RETENTION_PAGE + "?done=saved"
    api = (
        client(app)
        .get(f"{base}/v1/Accounts/{acct.sid}/MediaRetention", auth=(acct.sid, acct.token), timeout=10)
        .json()
    )
    assert (api["days_after_creation"], api["after_webhook_delivered"], api["after_first_download"]) == (
        14,
        True,
        False,
    )
    shown = http.get(base + RETENTION_PAGE + "?done=saved", timeout=10).text
    assert 'value="14"' in shown and "days_after_creation=14" in shown  # the audited change is listed


# ---------------------------------------- test credentials (was tests/console/test_test_credentials_page.py)


def test_dashboard_shows_test_credentials_and_sign_in_refuses_them(app: InProcessServer) -> None:
    """The dashboard shows the account's test credentials (the token only when revealed, with
    the auth token), and the console's sign-in does not take them: they are for two API
    requests only."""
    made = accounts.create(app.runtime, "Test creds Inc")
    sid, token = made.account.sid, made.auth_token
    test_sid, test_token = made.account.test_account_sid, made.test_auth_token

    http = signed_in(app, sid, token)
    page = http.get(app.base_url + "/console/dashboard", timeout=10)
    assert page.status_code == 200
    assert f'<code id="test-account-sid">{test_sid}</code>' in page.text
    assert test_token not in page.text and token not in page.text
    revealed = http.post(
        app.base_url + "/console/dashboard/reveal-token",
        data={"csrf_token": csrf_token(page.text)},
        timeout=10,
    )
    assert revealed.status_code == 200, revealed.text
    assert f'<code id="test-auth-token" class="secret">{test_token}</code>' in revealed.text
    assert f'<code id="auth-token" class="secret">{token}</code>' in revealed.text

    refused = attempt_login(client(app), app.base_url, test_sid, test_token)
    assert refused.status_code != 303 and "location" not in refused.headers


# ---------------------------------------- check a credential (was in tests/console/test_credential_check.py)

CHECK_PAGE = "/console/credentials/check"


def check(http: requests.Session, app: InProcessServer, sid: str, secret: str, **extra: str) -> str:
    """The verdict's code (data-code) for one pasted pair."""
    form = http.get(app.base_url + CHECK_PAGE, timeout=10)
    assert form.status_code == 200, form.text
    r = http.post(
        app.base_url + CHECK_PAGE,
        data={"csrf_token": csrf_token(form.text), "sid": sid, "secret": secret, **extra},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert secret not in r.text  # the pasted secret never comes back in the page
    found = re.search(r'data-code="([a-z_]+)"', r.text)
    assert found is not None, r.text
    return found.group(1)


class _Log(logging.Handler):
    """Every record the app logs, message and fields (what the server's log lines carry)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage() + " " + repr(vars(record)))


def test_each_usual_mistake_is_told_apart(app: InProcessServer) -> None:
    rt = app.runtime
    log = _Log()
    # Every level the app logs at, not only what this process's set-up lets through: the
    # secrets must be in none of them.
    root = logging.getLogger()
    mediagate_log = logging.getLogger("mediagate")
    levels = (root.level, mediagate_log.level)
    root.setLevel(logging.DEBUG)
    mediagate_log.setLevel(logging.DEBUG)
    root.addHandler(log)
    if not mediagate_log.propagate:
        mediagate_log.addHandler(log)
    try:
        owner = app.new_account("credcheck-owner")
        sub = accounts.create_subaccount(rt, owner.sid, "credcheck-sub")
        stranger = app.new_account("credcheck-stranger")
        key = keys.create(rt, owner.sid, "k", actor="test")
        sub_key = keys.create(rt, sub.account.sid, "sk", actor="test")
        stranger_key = keys.create(rt, stranger.sid, "x", actor="test")
        gone = keys.create(rt, owner.sid, "gone", actor="test")
        keys.delete(rt, owner.sid, gone.key.sid, actor="test")
        secondary = accounts.create_secondary_token(rt, owner.sid, actor="test").token
        http = signed_in(app, owner.sid, owner.token)

        assert check(http, app, owner.sid, owner.token) == "valid"
        assert check(http, app, key.key.sid, key.secret) == "valid"
        assert check(http, app, key.key.sid, owner.token) == "key_sid_with_auth_token"
        assert check(http, app, owner.sid, key.secret) == "key_secret_with_account_sid"
        assert check(http, app, owner.sid, secondary) == "secondary"
        assert check(http, app, owner.sid, "f" * 32) == "wrong_secret"
        assert check(http, app, key.key.sid, "f" * 32) == "wrong_secret"
        assert check(http, app, gone.key.sid, gone.secret) == "key_deleted"
        # A key of the subaccount, used for the owner's own account.
        assert check(http, app, sub_key.key.sid, sub_key.secret) == "key_of_other_account"
        # ... but valid for the subaccount itself, which the form lets one pick.
        assert check(http, app, sub_key.key.sid, sub_key.secret, for_account=sub.account.sid) == "valid"
        assert check(http, app, owner.sid, sub.auth_token) == "token_of_other_account"
        assert check(http, app, "hello", "q" * 32) == "malformed"

        # Nothing about accounts the owner does not own, valid secret or not, existing or not.
        assert check(http, app, stranger.sid, stranger.token) == "not_yours"
        assert check(http, app, "AC" + "0" * 32, "q" * 32) == "not_yours"
        assert check(http, app, stranger_key.key.sid, stranger_key.secret) == "not_yours"
        assert check(http, app, "SK" + "0" * 32, stranger_key.secret) == "not_yours"
        # A stranger's token with the owner's SID is just a wrong secret (not "token of another account").
        assert check(http, app, owner.sid, stranger.token) == "wrong_secret"

        accounts.update(rt, sub.account.sid, actor_account=owner.sid, friendly_name=None, status="suspended")
        assert check(http, app, sub.account.sid, sub.auth_token) == "suspended"
        assert check(http, app, sub_key.key.sid, sub_key.secret, for_account=sub.account.sid) == "suspended"

        # The API's own answer is unchanged: Twilio's 20003 body for every one of these mistakes.
        r = client(app).get(
            f"{app.base_url}/2010-04-01/Accounts/{owner.sid}/Messages.json",
            auth=(key.key.sid, owner.token),
            timeout=10,
        )
        assert r.status_code == 401 and r.json()["code"] == 20003
    finally:
        root.removeHandler(log)
        mediagate_log.removeHandler(log)
        root.setLevel(levels[0])
        mediagate_log.setLevel(levels[1])
    # No pasted secret reached the log (the checks did log: the log was listened to).
    assert log.lines
    text = "\n".join(log.lines)
    for secret in (owner.token, key.secret, secondary, sub_key.secret, stranger.token, stranger_key.secret):
        assert secret not in text


def test_csrf_and_the_rate_limit(app: InProcessServer) -> None:
    owner = app.new_account("credcheck-limits")
    http = signed_in(app, owner.sid, owner.token)
    forged = http.post(app.base_url + CHECK_PAGE, data={"sid": owner.sid, "secret": owner.token}, timeout=10)
    assert forged.status_code == 403 and "data-code" not in forged.text
    for _ in range(20):
        assert check(http, app, owner.sid, "f" * 32) == "wrong_secret"
    form = http.get(app.base_url + CHECK_PAGE, timeout=10)
    limited = http.post(
        app.base_url + CHECK_PAGE,
        data={"csrf_token": csrf_token(form.text), "sid": owner.sid, "secret": owner.token},
        timeout=10,
    )
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "data-code" not in limited.text
    # The limit is per signed-in account: another owner is not affected.
    other = app.new_account("credcheck-limits-2")
    assert check(signed_in(app, other.sid, other.token), app, other.sid, other.token) == "valid"


def test_a_restricted_key_cannot_open_the_page(app: InProcessServer) -> None:
    owner = app.new_account("credcheck-restricted")
    made = keys.create(
        app.runtime, owner.sid, "ro", actor="test", kind="restricted", permissions=["/Twilio/Messages/Read"]
    )
    http = signed_in(app, made.key.sid, made.secret)
    r = http.get(app.base_url + CHECK_PAGE, timeout=10)
    assert r.status_code == 403 and "Check a credential" not in r.text.split("<main", 1)[-1].split("</h1>")[0]
