"""Messages & media browser: paging, signed thumbnails, protection labels, download, delete."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import requests
from playwright.sync_api import Page, expect

from tests.console.conftest import login, picture_png, set_api_enforcement, shot
from tests.support.clients import settled_message, twilio_client
from tests.support.fileserver import FileServer
from tests.support.server import RunningServer


def test_browse_messages_with_signed_thumbnails_then_delete_media(
    page: Page, server: RunningServer, files: FileServer
) -> None:
    acct = server.new_account("Browser")
    client = twilio_client(server, acct.sid, acct.token)
    for i in range(21):  # more than one page (20 a page)
        client.messages.create(to="+15551230001", from_="+15557650001", body=f"text only {i}")
    legacy_png, secured_png = picture_png(hue=0), picture_png(hue=120)
    set_api_enforcement(server, acct.sid, acct.token, False)
    legacy = client.messages.create(
        to="+15551230002",
        from_="+15557650001",
        body="Old photo, sent before enforcement",
        media_url=[files.add("/browser/legacy.png", legacy_png)],
    )
    # The media are fetched after the create answers (as on Twilio); a media's protection
    # is fixed when it is stored, so the legacy one must be stored before enforcement.
    assert settled_message(server, acct, legacy.sid)["num_media"] == "1"
    set_api_enforcement(server, acct.sid, acct.token, True)
    secured = client.messages.create(
        to="+15551230003",
        from_="+15557650001",
        body="New photo, needs auth",
        media_url=[files.add("/browser/secured.png", secured_png)],
    )
    assert settled_message(server, acct, secured.sid)["num_media"] == "1"
    legacy_me = client.messages(legacy.sid).media.list()[0].sid
    secured_me = client.messages(secured.sid).media.list()[0].sid
    public_url = f"{server.base_url}/_media/public/{acct.sid}/{legacy_me}"
    assert requests.get(public_url, timeout=10).content == legacy_png

    login(page, server, acct.sid, acct.token)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Messages & media").click()
    expect(page.get_by_role("heading", name="Messages & media")).to_be_visible()
    messages = page.locator("li.message")
    expect(messages).to_have_count(20)
    # Newest first: the secured message, then the legacy one.
    expect(messages.nth(0)).to_contain_text(secured.sid)
    expect(messages.nth(1)).to_contain_text(legacy.sid)
    expect(messages.nth(0).locator(".protection")).to_have_text("auth-required")
    expect(messages.nth(1).locator(".protection")).to_have_text("legacy-public")

    # Thumbnails come from short-lived signed URLs on the secured host, never the public host.
    images = page.locator("li.media-item img")
    expect(images).to_have_count(2)
    srcs = [images.nth(i).get_attribute("src") or "" for i in range(2)]
    for src in srcs:
        parts = urlsplit(src)
        assert parts.path.startswith("/_media/secure/"), src
        assert {"Expires", "Signature", "Key-Pair-Id"} <= {p.split("=")[0] for p in parts.query.split("&")}
    for i in range(2):
        expect(images.nth(i)).to_have_js_property("complete", True)
        assert images.nth(i).evaluate("img => img.naturalWidth") == 64  # really decoded
    shot(page, server, "messages", full_page=False)

    # Paging: the 23rd message is on the next page.
    page.get_by_role("link", name="Older →").click()
    expect(page.locator("li.message")).to_have_count(3)
    expect(page.locator("main")).to_contain_text("Page 2")
    page.get_by_role("link", name="← Newer").click()
    expect(page.locator("li.message")).to_have_count(20)

    # Download goes through a fresh signed URL and returns the bytes.
    download = page.request.get(
        f"{server.base_url}/console/messages/{secured.sid}/media/{secured_me}/download", max_redirects=0
    )
    assert download.status == 303
    assert urlsplit(download.headers["location"]).path == f"/_media/secure/{acct.sid}/{secured_me}"
    saved = requests.get(download.headers["location"], timeout=10)
    assert saved.content == secured_png
    # "Download" downloads: attachment, where the same image's thumbnail URL shows inline.
    assert saved.headers["content-disposition"].startswith("attachment;"), saved.headers
    thumbnail = requests.get(images.first.get_attribute("src") or "", timeout=10)
    assert thumbnail.headers["content-disposition"].startswith("inline;"), thumbnail.headers
    # Without a session the download link only leads to sign-in.
    anon = requests.get(
        f"{server.base_url}/console/messages/{secured.sid}/media/{secured_me}/download",
        allow_redirects=False,
        timeout=10,
    )
    assert anon.status_code == 303 and anon.headers["location"].startswith("/console/login")

    # Delete the legacy (public) media, with a confirmation step.
    legacy_item = page.locator("li.media-item", has_text=legacy_me)
    legacy_item.get_by_role("link", name=re.compile("^Delete")).click()
    expect(page.get_by_role("heading", name=re.compile("Delete media"))).to_be_visible()
    expect(page.locator("main")).to_contain_text("public")
    page.get_by_role("button", name="Cancel").or_(page.get_by_role("link", name="Cancel")).click()
    expect(page.locator("li.media-item", has_text=legacy_me)).to_have_count(1)
    assert requests.get(public_url, timeout=10).status_code == 200

    page.locator("li.media-item", has_text=legacy_me).get_by_role("link", name=re.compile("^Delete")).click()
    page.get_by_role("button", name="Delete media").click()
    expect(page.get_by_role("status")).to_contain_text("The media was deleted")
    expect(page.locator("li.media-item", has_text=legacy_me)).to_have_count(0)
    assert client.messages(legacy.sid).media.list() == []
    assert requests.get(public_url, timeout=10).status_code == 404
    # The other media is untouched.
    assert [m.sid for m in client.messages(secured.sid).media.list()] == [secured_me]


def test_message_detail_and_message_delete(page: Page, server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("Detail")
    client = twilio_client(server, acct.sid, acct.token)
    msg = client.messages.create(
        to="+15551230004",
        from_="+15557650001",
        body="With a picture",
        media_url=[files.add("/detail/pic.png", picture_png(hue=60))],
    )
    login(page, server, acct.sid, acct.token)
    page.goto(server.base_url + "/console/messages")
    page.get_by_role("link", name=msg.sid).click()
    expect(page.get_by_role("heading", name=re.compile("Message"))).to_contain_text(msg.sid)
    expect(page.locator("main")).to_contain_text("With a picture")
    expect(page.locator("li.media-item")).to_have_count(1)
    page.get_by_role("link", name="Delete message…").click()
    page.get_by_role("button", name="Delete message").click()
    expect(page.get_by_role("status")).to_contain_text("The message and its media were deleted.")
    r = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{msg.sid}.json",
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 404
