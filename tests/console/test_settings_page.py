"""The seed's three steps in a real browser: open General SMS Settings, select Enable, Save."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from mediagate.accounts import accounts
from tests.console.conftest import (
    LAPTOP,
    PHONE,
    api_enforcement,
    login,
    set_api_enforcement,
    shot,
)
from tests.support.server import RunningServer


def test_seed_steps_enable_enforcement_through_the_console(page: Page, server: RunningServer) -> None:
    acct = server.new_account("Seed Console")
    set_api_enforcement(server, acct.sid, acct.token, False)
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    page.on("request", record)
    login(page, server, acct.sid, acct.token)

    # Step 1: open the General SMS Settings page via Messaging > Settings > General.
    nav = page.get_by_role("navigation", name="Console")
    nav.get_by_role("link", name="Messaging", exact=True).click()
    page.get_by_role("link", name="Settings", exact=True).first.click()
    page.get_by_role("link", name="General", exact=True).first.click()
    expect(page).to_have_url(re.compile(r"/console/messaging/settings/general$"))
    expect(page.get_by_role("heading", name="General SMS Settings")).to_be_visible()
    section = page.locator("section", has=page.get_by_role("heading", name="Enforce HTTP Auth on Media URLs"))
    section.scroll_into_view_if_needed()
    expect(section).to_contain_text("stays at its public URL")
    expect(section).to_contain_text("4 hours")
    expect(page.get_by_label("Disable")).to_be_checked()
    # Named by the label alone, the help read as the description (the accessibility tree's own).
    enable = page.get_by_role("radio", name="Enable", exact=True)
    expect(enable).to_have_accessible_name("Enable")
    expect(enable).to_have_accessible_description("Credentials required for new media (recommended).")

    # Step 2: select Enable (a click anywhere on its card).  Step 3: click Save.
    page.locator(".choice", has=enable).click()  # the card: its stretched label takes the click
    expect(enable).to_be_checked()
    page.get_by_label("Disable").check()
    page.get_by_label("Enable").check()
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status")).to_have_text("Settings saved.")
    expect(page.get_by_label("Enable")).to_be_checked()
    # The API reports the new value at once.
    assert api_enforcement(server, acct.sid, acct.token) is True
    # The history says who changed it, through what, and when.
    latest = page.locator("#setting-history tbody tr").first
    expect(latest).to_contain_text("Disabled → Enabled")
    expect(latest).to_contain_text(acct.sid)
    expect(latest).to_contain_text("console")
    change = accounts.setting_history(server.runtime, acct.sid)[0]
    assert (change.new_value, change.actor, change.via) == ("true", acct.sid, "console")
    shot(page, server, "settings-general")

    # Every asset came from the server itself (no CDN).
    assert requested and all(url.startswith(server.base_url) for url in requested), requested

    # And back: Disable, Save.
    page.get_by_label("Disable").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Settings saved.")
    assert api_enforcement(server, acct.sid, acct.token) is False
    expect(page.locator("#setting-history tbody tr").first).to_contain_text("Enabled → Disabled")


@pytest.mark.browser_only
def test_settings_change_with_the_keyboard_only(page: Page, server: RunningServer) -> None:
    acct = server.new_account("Keyboard")
    set_api_enforcement(server, acct.sid, acct.token, False)
    login(page, server, acct.sid, acct.token)
    page.goto(server.base_url + "/console/messaging/settings/general")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "enforce_media_http_auth":
            break
    else:
        raise AssertionError("the Enable/Disable radios are not reachable with Tab")
    # Radios in one group: the arrow keys move the choice; Space selects the focused one.
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Space")
    expect(page.get_by_label("Enable")).to_be_checked()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Save"
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Settings saved.")
    assert api_enforcement(server, acct.sid, acct.token) is True


@pytest.mark.browser_only
def test_console_works_without_javascript(browser: Browser, server: RunningServer) -> None:
    acct = server.new_account("No JS")
    set_api_enforcement(server, acct.sid, acct.token, False)
    ctx = browser.new_context(viewport=LAPTOP, java_script_enabled=False)
    try:
        page = ctx.new_page()
        login(page, server, acct.sid, acct.token)
        page.goto(server.base_url + "/console/messaging/settings/general")
        page.get_by_label("Enable").check()
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_have_text("Settings saved.")
        assert api_enforcement(server, acct.sid, acct.token) is True
        # The copy buttons need script, so they stay hidden; the values are still plain text.
        page.goto(server.base_url + "/console/dashboard")
        expect(page.get_by_role("button", name="Copy")).to_have_count(0)
        expect(page.locator("#account-sid")).to_have_text(acct.sid)
    finally:
        ctx.close()


@pytest.mark.browser_only
def test_settings_page_fits_a_phone(browser: Browser, server: RunningServer) -> None:
    acct = server.new_account("Phone")
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = ctx.new_page()
        login(page, server, acct.sid, acct.token)
        for path in (
            "/console/dashboard",
            "/console/messaging/settings/general",
            "/console/keys",
            "/console/messages",
        ):
            page.goto(server.base_url + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at phone width"
        page.goto(server.base_url + "/console/messaging/settings/general")
        expect(page.get_by_role("button", name="Save")).to_be_visible()
        shot(page, server, "settings-general-phone")
    finally:
        ctx.close()
