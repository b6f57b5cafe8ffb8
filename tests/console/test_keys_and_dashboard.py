"""API keys page (create with the secret shown once, list, revoke) and the account dashboard."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import BrowserContext, Page, expect

from mediagate.accounts import accounts
from tests.console.conftest import login, set_api_enforcement, shot
from tests.support.clients import settled_message, twilio_client
from tests.support.fileserver import FileServer
from tests.support.server import RunningServer


def test_create_an_api_key_use_it_then_revoke_it(
    page: Page, context: BrowserContext, server: RunningServer
) -> None:
    acct = server.new_account("Keys")
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(page, server, acct.sid, acct.token)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys", exact=True)).to_be_visible()
    expect(page.locator("main")).to_contain_text("No API keys yet.")

    page.get_by_label("Friendly name").fill("billing-worker")
    page.get_by_role("button", name="Create API key").click()
    panel = page.locator("#new-key")
    expect(panel).to_contain_text("shown only once")
    key_sid = page.locator("#new-key-sid").inner_text()
    secret = page.get_by_label("Secret").input_value()
    assert re.fullmatch(r"SK[0-9a-f]{32}", key_sid)
    assert len(secret) >= 32
    # The copy button puts the secret on the clipboard.
    panel.get_by_role("button", name="Copy").click()
    expect(panel.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    expect(page.locator("#keys-table")).to_contain_text("billing-worker")
    shot(page, server, "keys-created")

    # The new key works against the API...
    api = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json"
    assert requests.get(api, auth=(key_sid, secret), timeout=10).status_code == 200
    # ...and its secret is never shown again.
    page.goto(server.base_url + "/console/keys")
    assert secret not in page.content()
    expect(page.locator("#keys-table")).to_contain_text(key_sid)

    # Revoke, with a confirmation step.
    page.locator("#keys-table tr", has_text=key_sid).get_by_role("link", name=re.compile("Revoke")).click()
    expect(page.get_by_role("heading", name="Revoke API key?")).to_be_visible()
    expect(page.locator("main")).to_contain_text(key_sid)
    shot(page, server, "keys-revoke-confirm")
    page.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_role("status")).to_contain_text("The API key was revoked")
    expect(page.locator("main")).not_to_contain_text(key_sid)
    assert requests.get(api, auth=(key_sid, secret), timeout=10).status_code == 401


def test_dashboard_shows_sid_masked_token_subaccounts_and_protection_counts(
    page: Page, server: RunningServer, files: FileServer
) -> None:
    acct = server.new_account("Dashboard Inc")
    client = twilio_client(server, acct.sid, acct.token)
    url = files.add("/dash/pic.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    set_api_enforcement(server, acct.sid, acct.token, False)
    legacy = client.messages.create(to="+15551230001", from_="+15557650001", media_url=[url])
    # A media row takes the setting in force when the worker stores it, after the create answered.
    assert settled_message(server, acct, legacy.sid)["num_media"] == "1"
    set_api_enforcement(server, acct.sid, acct.token, True)
    secured = client.messages.create(to="+15551230001", from_="+15557650001", media_url=[url, url])
    assert settled_message(server, acct, secured.sid)["num_media"] == "2"

    login(page, server, acct.sid, acct.token)
    main = page.locator("main")
    expect(page.locator("#account-sid")).to_have_text(acct.sid)
    assert acct.token not in page.content()
    expect(main).to_contain_text("No subaccounts yet.")
    expect(page.locator("#count-legacy-public")).to_have_text("1")
    expect(page.locator("#count-auth-required")).to_have_text("2")

    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#auth-token")).to_have_text(acct.token)
    page.get_by_role("link", name="Hide").click()
    expect(page.locator("#auth-token")).to_have_count(0)
    assert acct.token not in page.content()

    sub = accounts.create_subaccount(server.runtime, acct.sid, "Acme EU")
    page.reload()
    row = page.locator("table tr", has_text=sub.account.sid)
    expect(row).to_contain_text("Acme EU")
    expect(row).to_contain_text("active")
    shot(page, server, "dashboard")


def test_securing_legacy_media_from_the_dashboard(
    page: Page, server: RunningServer, files: FileServer
) -> None:
    acct = server.new_account("Legacy Ltd")
    client = twilio_client(server, acct.sid, acct.token)
    body = b"\x89PNG\r\n\x1a\n" + b"\x01" * 300
    url = files.add("/legacy/pic.png", body)
    set_api_enforcement(server, acct.sid, acct.token, False)
    msg = client.messages.create(to="+15551230001", from_="+15557650001", media_url=[url])
    assert settled_message(server, acct, msg.sid)["num_media"] == "1"  # fetched after the create answered
    media_sid = client.messages(msg.sid).media.list()[0].sid
    content = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{msg.sid}/Media/{media_sid}"
    public = requests.get(content, timeout=10)
    assert public.status_code == 200 and public.content == body  # legacy: no credentials needed
    public_url = public.url

    login(page, server, acct.sid, acct.token)
    expect(page.locator("#count-legacy-public")).to_have_text("1")
    # A confirmation first, like deletes; Cancel changes nothing.
    page.get_by_role("link", name="Require auth for legacy media").click()
    expect(page.get_by_role("heading", name="Require HTTP auth for 1 legacy media?")).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("#count-legacy-public")).to_have_text("1")
    assert requests.get(public_url, timeout=10).status_code == 200
    page.get_by_role("link", name="Require auth for legacy media").click()
    page.get_by_role("button", name="Require auth for legacy media").click()
    expect(page.locator("main")).to_contain_text("Legacy media now requires HTTP auth")
    expect(page.locator("#count-legacy-public")).to_have_text("0")
    expect(page.locator("#count-auth-required")).to_have_text("1")
    expect(page.get_by_role("link", name="Require auth for legacy media")).to_have_count(0)

    # Through the API: the old public URL is gone, the content URL now needs credentials.
    assert requests.get(public_url, timeout=10).status_code == 404
    assert requests.get(content, timeout=10, allow_redirects=False).status_code == 401
    secured = requests.get(content, auth=(acct.sid, acct.token), timeout=10)
    assert secured.status_code == 200 and secured.content == body
    assert "/_media/secure/" in secured.url
