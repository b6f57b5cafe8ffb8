"""``/docs`` renders the API description in a real browser, from this server
alone, with no CSP violation (Swagger UI is vendored, started by a file)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.support.server import RunningServer


@pytest.mark.browser_only
def test_docs_page_renders_every_operation_offline(page: Page, server: RunningServer) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    origins: set[str] = set()
    page.on("request", lambda r: origins.add(urlsplit(r.url).netloc))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(server.base_url + "/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=60_000)
    expect(page.locator("#swagger-ui")).to_contain_text("/2010-04-01/Accounts/{AccountSid}/Messages.json")
    expect(page.locator("#swagger-ui")).to_contain_text("Redirect to the media's bytes")
    assert page.locator(".opblock").count() >= 40
    assert problems == []  # a CSP violation or script error shows up here
    assert origins == {urlsplit(server.base_url).netloc}  # no CDN, nothing else
