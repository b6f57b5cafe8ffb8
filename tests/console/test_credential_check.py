"""The console's "Check a credential" page against the real server: each usual mistake
told apart for the owner, nothing said about other accounts, CSRF, the rate limit, no
secret in the log; and the page in a real browser."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, expect

from mediagate.accounts import accounts, auth, credential_check, keys
from mediagate.core.errors import Unauthorized
from mediagate.runtime.context import Runtime
from tests.console.conftest import login, shot
from tests.support.clients import basic
from tests.support.console_http import console_session, csrf_token
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e
PAGE = "/console/credentials/check"


def check(http: requests.Session, server: RunningServer, sid: str, secret: str, **extra: str) -> str:
    """The verdict's code (data-code) for one pasted pair."""
    form = http.get(server.base_url + PAGE, timeout=10)
    assert form.status_code == 200, form.text
    r = http.post(
        server.base_url + PAGE,
        data={"csrf_token": csrf_token(form.text), "sid": sid, "secret": secret, **extra},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert secret not in r.text  # the pasted secret never comes back in the page
    found = re.search(r'data-code="([a-z_]+)"', r.text)
    assert found is not None, r.text
    return found.group(1)


def test_each_usual_mistake_is_told_apart(server: RunningServer) -> None:
    rt = server.runtime
    owner = server.new_account("credcheck-owner")
    sub = accounts.create_subaccount(rt, owner.sid, "credcheck-sub")
    stranger = server.new_account("credcheck-stranger")
    key = keys.create(rt, owner.sid, "k", actor="test")
    sub_key = keys.create(rt, sub.account.sid, "sk", actor="test")
    stranger_key = keys.create(rt, stranger.sid, "x", actor="test")
    gone = keys.create(rt, owner.sid, "gone", actor="test")
    keys.delete(rt, owner.sid, gone.key.sid, actor="test")
    secondary = accounts.create_secondary_token(rt, owner.sid, actor="test").token
    http = console_session(server.base_url, owner.sid, owner.token)

    assert check(http, server, owner.sid, owner.token) == "valid"
    assert check(http, server, key.key.sid, key.secret) == "valid"
    assert check(http, server, key.key.sid, owner.token) == "key_sid_with_auth_token"
    assert check(http, server, owner.sid, key.secret) == "key_secret_with_account_sid"
    assert check(http, server, owner.sid, secondary) == "secondary"
    assert check(http, server, owner.sid, "f" * 32) == "wrong_secret"
    assert check(http, server, key.key.sid, "f" * 32) == "wrong_secret"
    assert check(http, server, gone.key.sid, gone.secret) == "key_deleted"
    # A key of the subaccount, used for the owner's own account.
    assert check(http, server, sub_key.key.sid, sub_key.secret) == "key_of_other_account"
    # ... but valid for the subaccount itself, which the form lets one pick.
    assert check(http, server, sub_key.key.sid, sub_key.secret, for_account=sub.account.sid) == "valid"
    assert check(http, server, owner.sid, sub.auth_token) == "token_of_other_account"
    assert check(http, server, "hello", "q" * 32) == "malformed"

    # Nothing about accounts the owner does not own, valid secret or not, existing or not.
    assert check(http, server, stranger.sid, stranger.token) == "not_yours"
    assert check(http, server, "AC" + "0" * 32, "q" * 32) == "not_yours"
    assert check(http, server, stranger_key.key.sid, stranger_key.secret) == "not_yours"
    assert check(http, server, "SK" + "0" * 32, stranger_key.secret) == "not_yours"
    # A stranger's token with the owner's SID is just a wrong secret (not "token of another account").
    assert check(http, server, owner.sid, stranger.token) == "wrong_secret"

    accounts.update(rt, sub.account.sid, actor_account=owner.sid, friendly_name=None, status="suspended")
    assert check(http, server, sub.account.sid, sub.auth_token) == "suspended"
    assert check(http, server, sub_key.key.sid, sub_key.secret, for_account=sub.account.sid) == "suspended"

    # The API's own answer is unchanged: Twilio's 20003 body for every one of these mistakes.
    r = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{owner.sid}/Messages.json",
        auth=(key.key.sid, owner.token),
        timeout=10,
    )
    assert r.status_code == 401 and r.json()["code"] == 20003
    # No pasted secret reached the log.
    log = server.log()
    for secret in (owner.token, key.secret, secondary, sub_key.secret, stranger.token, stranger_key.secret):
        assert secret not in log


def test_csrf_and_the_rate_limit(server: RunningServer) -> None:
    owner = server.new_account("credcheck-limits")
    http = console_session(server.base_url, owner.sid, owner.token)
    forged = http.post(server.base_url + PAGE, data={"sid": owner.sid, "secret": owner.token}, timeout=10)
    assert forged.status_code == 403 and "data-code" not in forged.text
    for _ in range(20):
        assert check(http, server, owner.sid, "f" * 32) == "wrong_secret"
    form = http.get(server.base_url + PAGE, timeout=10)
    limited = http.post(
        server.base_url + PAGE,
        data={"csrf_token": csrf_token(form.text), "sid": owner.sid, "secret": owner.token},
        timeout=10,
    )
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "data-code" not in limited.text
    # The limit is per signed-in account: another owner is not affected.
    other = server.new_account("credcheck-limits-2")
    assert (
        check(console_session(server.base_url, other.sid, other.token), server, other.sid, other.token)
        == "valid"
    )


def test_a_restricted_key_cannot_open_the_page(server: RunningServer) -> None:
    owner = server.new_account("credcheck-restricted")
    made = keys.create(
        server.runtime,
        owner.sid,
        "ro",
        actor="test",
        kind="restricted",
        permissions=["/Twilio/Messages/Read"],
    )
    http = console_session(server.base_url, made.key.sid, made.secret)
    r = http.get(server.base_url + PAGE, timeout=10)
    assert r.status_code == 403 and "Check a credential" not in r.text.split("<main", 1)[-1].split("</h1>")[0]


def test_check_a_credential_in_the_browser(page: Page, server: RunningServer) -> None:
    owner = server.new_account("Credential Browser")
    key = keys.create(server.runtime, owner.sid, "app", actor="test")
    login(page, server, owner.sid, owner.token)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Check a credential").click()
    expect(page).to_have_url(re.compile(r"/console/credentials/check$"))
    expect(page.get_by_role("heading", name="Check a credential")).to_be_visible()

    page.get_by_label("Username").fill(key.key.sid)
    page.get_by_label("Password").fill(owner.token)
    page.get_by_role("button", name="Check").click()
    verdict = page.locator("#verdict")
    expect(verdict).to_have_attribute("data-code", "key_sid_with_auth_token")
    expect(verdict).to_contain_text("sent with an API key SID")
    # The SID stays in the form; the secret does not.
    expect(page.get_by_label("Username")).to_have_value(key.key.sid)
    expect(page.get_by_label("Password")).to_have_value("")
    shot(page, server, "credential-check")

    page.get_by_label("Password").fill(key.secret)
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#verdict")).to_have_attribute("data-code", "valid")


def test_the_verdict_is_the_authenticators(runtime: Runtime) -> None:
    """For every pair and every owned account, the check says valid exactly when the
    API's authenticator accepts that pair for that account (no rule restated here).
    A parent's own token for its suspended subaccount was called valid while the API
    refused it; it now says what the authenticator says: the account is suspended."""
    rt = runtime
    owner = accounts.create(rt, "owner")
    sub = accounts.create_subaccount(rt, owner.account.sid, "sub")
    idle = accounts.create_subaccount(rt, owner.account.sid, "idle")
    accounts.update(
        rt, idle.account.sid, actor_account=owner.account.sid, friendly_name=None, status="suspended"
    )
    key = keys.create(rt, owner.account.sid, "k", actor="test")
    sub_key = keys.create(rt, sub.account.sid, "sk", actor="test")
    secondary = accounts.create_secondary_token(rt, owner.account.sid, actor="test").token
    pairs = [
        (owner.account.sid, owner.auth_token),
        (owner.account.sid, secondary),
        (owner.account.sid, key.secret),
        (owner.account.sid, sub.auth_token),
        (owner.account.sid, "f" * 32),
        (sub.account.sid, sub.auth_token),
        (idle.account.sid, idle.auth_token),
        (key.key.sid, key.secret),
        (key.key.sid, owner.auth_token),
        (sub_key.key.sid, sub_key.secret),
        ("hello", "q" * 32),
    ]
    accepted_for: dict[str, set[str]] = {}
    for target in (owner.account.sid, sub.account.sid, idle.account.sid):
        for sid, secret in pairs:
            verdict = credential_check.check(rt, owner.account.sid, sid, secret, target)
            with rt.sessions() as session:
                try:
                    auth.require(session, rt.keyring, basic(sid, secret), target)
                    accepted = True
                except Unauthorized:
                    accepted = False
            assert verdict.ok == accepted, (sid, target, verdict)
            if accepted:
                accepted_for.setdefault(target, set()).add(sid)
    # The comparison above holds trivially if both sides refuse everything: it did
    # compare acceptances (the owner's token reaches the active subaccount, the
    # subaccount's key only its own account, nothing reaches the suspended one).
    assert owner.account.sid in accepted_for[sub.account.sid]
    assert sub_key.key.sid in accepted_for[sub.account.sid]
    assert sub_key.key.sid not in accepted_for[owner.account.sid]
    assert idle.account.sid not in accepted_for
    idle_by_parent = credential_check.check(
        rt, owner.account.sid, owner.account.sid, owner.auth_token, idle.account.sid
    )
    assert (idle_by_parent.ok, idle_by_parent.code) == (False, "suspended")
    assert idle.account.sid in idle_by_parent.message
