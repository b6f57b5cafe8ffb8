"""Sign-in, sign-out, bad credentials, revocation and CSRF in a real browser.

Session expiry (idle and absolute, moving the runtime's clock), the login rate limit and
the Secure cookie behind a trusted proxy are HTTP answers of the console's own code:
tests/inprocess/test_console_sessions.py checks them with the app in process."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect

from mediagate.accounts import accounts, keys
from tests.console.conftest import LAPTOP, api_enforcement, login, set_api_enforcement, shot
from tests.support.fileserver import FileServer
from tests.support.server import RunningServer


def session_cookie(context: BrowserContext) -> dict[str, object] | None:
    for cookie in context.cookies():
        if cookie["name"] == "mg_console":
            return dict(cookie)
    return None


def test_login_sets_a_hardened_cookie_and_logout_ends_it(
    page: Page, context: BrowserContext, server: RunningServer
) -> None:
    acct = server.new_account("Login Logout")
    page.goto(server.base_url + "/console/dashboard")
    # Not signed in: sent to the login page, which remembers where we were going.
    expect(page).to_have_url(re.compile(r"/console/login\?next=%2Fconsole%2Fdashboard"))
    expect(page.get_by_label("Account SID")).to_be_visible()
    expect(page.get_by_label("Auth Token")).to_have_attribute("type", "password")
    shot(page, server, "login")

    login(page, server, acct.sid, acct.token)
    expect(page.get_by_role("heading", name="Account dashboard")).to_be_visible()
    cookie = session_cookie(context)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http here; https (or an https public URL) sets Secure
    assert cookie["path"] == "/console"
    assert acct.token not in str(cookie["value"])  # a fingerprint of the credential, never the secret

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/login"))
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    assert session_cookie(context) is None
    page.goto(server.base_url + "/console/messaging/settings/general")
    expect(page).to_have_url(re.compile(r"/console/login"))


def test_bad_login_is_refused_without_saying_which_half_was_wrong(
    page: Page, context: BrowserContext, server: RunningServer
) -> None:
    acct = server.new_account("Bad Login")
    page.goto(server.base_url + "/console/login")
    page.get_by_label("Account SID").fill(acct.sid)
    page.get_by_label("Auth Token").fill("0" * 32)
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("do not match an active account")
    expect(page.get_by_label("Account SID")).to_have_value(acct.sid)
    expect(page.get_by_label("Auth Token")).to_have_value("")
    assert session_cookie(context) is None
    shot(page, server, "login-error")

    page.get_by_label("Account SID").fill("AC" + "f" * 32)  # no such account: the same message
    page.get_by_label("Auth Token").fill(acct.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an active account")
    assert session_cookie(context) is None

    page.goto(server.base_url + "/console/keys")
    expect(page).to_have_url(re.compile(r"/console/login"))


def test_api_key_login_and_revoking_the_key_ends_the_session(
    browser: Browser, page: Page, server: RunningServer
) -> None:
    acct = server.new_account("Key Session")
    created = keys.create(server.runtime, acct.sid, "console user", actor=acct.sid)
    ctx = browser.new_context(viewport=LAPTOP)
    try:
        key_page = ctx.new_page()
        login(key_page, server, created.key.sid, created.secret)
        expect(key_page.locator(".topbar")).to_contain_text("key SK")
        # A standard key may not manage keys nor reveal the auth token (Twilio's rule).
        expect(key_page.get_by_role("button", name="Reveal")).to_have_count(0)
        key_page.goto(server.base_url + "/console/keys")
        expect(key_page.locator("main")).to_contain_text("cannot manage API keys")

        # Revoke the key through the API; the key's console session ends on its next request.
        r = requests.delete(
            f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Keys/{created.key.sid}.json",
            auth=(acct.sid, acct.token),
            timeout=10,
        )
        assert r.status_code == 204
        key_page.goto(server.base_url + "/console/dashboard")
        expect(key_page).to_have_url(re.compile(r"/console/login"))
        expect(key_page.get_by_role("status")).to_contain_text("credential changed or was revoked")
    finally:
        ctx.close()

    # A rotated auth token ends a session made with the old one.
    login(page, server, acct.sid, acct.token)
    accounts.create_secondary_token(server.runtime, acct.sid, actor=acct.sid)
    accounts.promote_secondary_token(server.runtime, acct.sid, actor=acct.sid)
    page.goto(server.base_url + "/console/messaging/settings/general")
    expect(page).to_have_url(re.compile(r"/console/login"))


def test_forms_without_the_csrf_token_or_from_another_site_are_refused(
    page: Page, context: BrowserContext, server: RunningServer, files: FileServer
) -> None:
    acct = server.new_account("CSRF")
    set_api_enforcement(server, acct.sid, acct.token, False)
    login(page, server, acct.sid, acct.token)
    settings_url = server.base_url + "/console/messaging/settings/general"

    # A POST carrying the session cookie but no token.
    r = context.request.post(settings_url, form={"enforce_media_http_auth": "enable"}, max_redirects=0)
    assert r.status == 403
    assert "security token is missing" in r.text()
    # A wrong token.
    r = context.request.post(
        settings_url, form={"enforce_media_http_auth": "enable", "csrf_token": "x" * 43}, max_redirects=0
    )
    assert r.status == 403
    assert api_enforcement(server, acct.sid, acct.token) is False

    # A page on another origin posts the form, even with a leaked valid token: refused by origin.
    page.goto(settings_url)
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    attack = files.add(
        "/attack.html",
        (
            f'<!doctype html><form id="f" method="post" action="{settings_url}">'
            f'<input name="csrf_token" value="{token}">'
            '<input name="enforce_media_http_auth" value="enable"></form>'
            '<script>document.getElementById("f").submit()</script>'
        ).encode(),
        "text/html",
    )
    assert urlsplit(attack).netloc != urlsplit(server.base_url).netloc
    page.goto(attack)
    expect(page.get_by_role("heading", name="Request refused")).to_be_visible()
    expect(page.locator("main")).to_contain_text("submitted from another site")
    assert api_enforcement(server, acct.sid, acct.token) is False

    # The real form on the real page still works.
    page.goto(settings_url)
    page.get_by_label("Enable").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Settings saved.")
    assert api_enforcement(server, acct.sid, acct.token) is True
