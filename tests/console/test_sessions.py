"""Sign-in, sign-out, bad credentials, expiry, revocation, CSRF and the login rate limit."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
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


def sign_in_again_returns_to(page: Page, srv: RunningServer, acct_sid: str, token: str) -> None:
    expect(page).to_have_url(re.compile(r"/console/login\?next=%2Fconsole%2Fmessaging%2Fsettings%2Fgeneral"))
    expect(page.get_by_role("status")).to_have_text("Your session expired. Please sign in again.")
    page.get_by_label("Account SID").fill(acct_sid)
    page.get_by_label("Auth Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/messaging/settings/general$"))


def test_idle_session_expires(page: Page, server_factory: Callable[..., RunningServer]) -> None:
    srv = server_factory(MEDIAGATE_CONSOLE_IDLE_TIMEOUT="2")
    acct = srv.new_account("Idle")
    login(page, srv, acct.sid, acct.token)
    time.sleep(3.2)  # timestamps are whole seconds: past the 2 s limit plus one
    page.goto(srv.base_url + "/console/messaging/settings/general")
    sign_in_again_returns_to(page, srv, acct.sid, acct.token)


def test_busy_session_still_expires_at_its_absolute_limit(
    page: Page, server_factory: Callable[..., RunningServer]
) -> None:
    srv = server_factory(MEDIAGATE_CONSOLE_SESSION_MAX_AGE="4")  # the idle limit stays 30 minutes
    acct = srv.new_account("Absolute")
    login(page, srv, acct.sid, acct.token)
    started = time.monotonic()
    settings_page = srv.base_url + "/console/messaging/settings/general"
    while True:
        elapsed = time.monotonic() - started
        page.goto(settings_page)
        if "/console/login" in page.url:  # the session has ended
            break
        assert elapsed < 5.2, "the session outlived its absolute limit"
        expect(page.get_by_role("heading", name="General SMS Settings")).to_be_visible()
        time.sleep(0.5)
    # Activity kept it open well inside the limit (only whole seconds are stored).
    assert elapsed >= 2.0, f"the session ended after {elapsed:.1f}s of activity"
    sign_in_again_returns_to(page, srv, acct.sid, acct.token)


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


def test_login_attempts_are_rate_limited(server_factory: Callable[..., RunningServer]) -> None:
    srv = server_factory()
    acct = srv.new_account("Rate Limit")
    http = requests.Session()

    def attempt(secret: str) -> requests.Response:
        form = http.get(srv.base_url + "/console/login", timeout=10)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        return http.post(
            srv.base_url + "/console/login",
            data={"csrf_token": token.group(1), "username": acct.sid, "password": secret},
            allow_redirects=False,
            timeout=10,
        )

    for _ in range(10):
        assert attempt("wrong-" + "0" * 26).status_code == 400
    blocked = attempt(acct.token)  # even the right token waits now
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many failed sign-in attempts" in blocked.text
    assert "mg_console=" not in blocked.headers.get("set-cookie", "").replace("mg_console_login", "")
    # Another account from the same client is not locked out by this one's failures.
    other = srv.new_account("Other")
    form = http.get(srv.base_url + "/console/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    ok = http.post(
        srv.base_url + "/console/login",
        data={"csrf_token": token.group(1), "username": other.sid, "password": other.token},
        allow_redirects=False,
        timeout=10,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/console/dashboard"


def test_session_cookie_is_secure_behind_an_https_proxy(server_factory: Callable[..., RunningServer]) -> None:
    """Behind a trusted proxy (MEDIAGATE_TRUSTED_PROXIES) X-Forwarded-Proto counts;
    the cookie then carries Secure. From anyone else the header is ignored."""
    untrusted = server_factory()
    form = requests.get(
        untrusted.base_url + "/console/login", headers={"X-Forwarded-Proto": "https"}, timeout=10
    )
    assert "Secure" not in form.headers["set-cookie"]
    server = server_factory(MEDIAGATE_TRUSTED_PROXIES="127.0.0.1/32")
    acct = server.new_account("Behind TLS")
    http = requests.Session()
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1"}
    form = http.get(server.base_url + "/console/login", headers=proxied, timeout=10)
    assert "Secure" in form.headers["set-cookie"]
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    # requests keeps Secure cookies for https only, so hand the pre-login cookie back explicitly.
    pre = re.search(r"mg_console_login=([^;]+)", form.headers["set-cookie"])
    assert pre is not None
    r = requests.post(
        server.base_url + "/console/login",
        data={"csrf_token": token.group(1), "username": acct.sid, "password": acct.token},
        headers={**proxied, "Cookie": f"mg_console_login={pre.group(1)}"},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 303, r.text
    session = next(c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("mg_console="))
    attrs = {a.strip().split("=")[0].lower() for a in session.split(";")}
    assert {"httponly", "secure", "samesite"} <= attrs
    assert "samesite=lax" in session.lower()
