"""The console's "Check a credential" page in a real browser, and its verdict against the
authenticator. Each usual mistake told apart for the owner, nothing said about other
accounts, CSRF, the rate limit and no secret in the log are HTTP answers of the console's
own code: tests/inprocess/test_console_pages.py checks them in process on both databases."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from mediagate.accounts import accounts, auth, credential_check, keys
from mediagate.core.errors import Unauthorized
from mediagate.runtime.context import Runtime
from tests.console.conftest import login, shot
from tests.support.clients import basic
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e
PAGE = "/console/credentials/check"


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
