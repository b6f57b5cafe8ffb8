"""Playwright (sync API) driving Debian's chromium against the real server.

No browser is ever downloaded: ``make browser`` installs the ``chromium``
apt package and the tests launch it by path. Screenshots go to
``tests/artifacts/console/`` (git-ignored).
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.support.server import RunningServer

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ONE_DATABASE = "sqlite"
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "browser_only: a fact of the browser (keyboard, no script, phone width, the docs page's assets), "
        "not of the database: runs against the SQLite server only",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A ``browser_only`` test runs once, against the session's SQLite server: what it checks
    (focus order, the page without script, layout at phone width, the vendored Swagger UI)
    is the same page whatever database is behind it; every test that reads or writes data
    still runs on both."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        shape = callspec.params.get("server") if callspec is not None else None
        if item.get_closest_marker("browser_only") and shape is not None and shape[0] != ONE_DATABASE:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make browser` (apt-get install chromium)")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=LAPTOP)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def backend(server: RunningServer) -> str:
    return "postgresql" if server.env["MEDIAGATE_DATABASE_URL"].startswith("postgresql") else "sqlite"


def shot(page: Page, server: RunningServer, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{backend(server)}-{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def login(page: Page, server: RunningServer, user: str, secret: str) -> None:
    page.goto(server.base_url + "/console/login")
    page.get_by_label("Account SID").fill(user)
    page.get_by_label("Auth Token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console/dashboard$"))


def api_enforcement(server: RunningServer, sid: str, token: str) -> bool:
    r = requests.get(f"{server.base_url}/v1/Accounts/{sid}/MessagingSettings", auth=(sid, token), timeout=10)
    assert r.status_code == 200, r.text
    value: bool = r.json()["enforce_media_http_auth"]
    return value


def set_api_enforcement(server: RunningServer, sid: str, token: str, on: bool) -> None:
    r = requests.post(
        f"{server.base_url}/v1/Accounts/{sid}/MessagingSettings",
        data={"EnforceMediaHttpAuth": "true" if on else "false"},
        auth=(sid, token),
        timeout=10,
    )
    assert r.status_code == 200, r.text


def picture_png(width: int = 64, height: int = 64, hue: int = 0) -> bytes:
    """A real, decodable PNG (a colour gradient), so thumbnails actually render."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            r = x * 255 // max(width - 1, 1)
            g = y * 255 // max(height - 1, 1)
            b = (160 + hue) % 256
            rows += bytes((r, g, b))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )
