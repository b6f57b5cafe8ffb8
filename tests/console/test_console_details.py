"""Small things a console user sees, in process (no browser) on SQLite and PostgreSQL:
the dashboard's "media in the last hour" is the database's count (not a per-process
counter), a short signed-URL lifetime reads as seconds, the Enable/Disable radios are
named by their label alone with the help as their description, and the delete
confirmation does not offer the media's own Delete link again."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from typing import TypeVar

import httpx
import pytest

from mediagate.accounts import accounts
from mediagate.console.web import duration
from mediagate.core.clock import ManualClock
from mediagate.http.app import create_app
from mediagate.media import media
from mediagate.runtime.context import Runtime
from tests.conftest import MakeRuntime
from tests.support.console_http import csrf_token
from tests.support.fileserver import png_bytes
from tests.support.stored import message_with_media

BASE = "http://mediagate.test"
T = TypeVar("T")


def _signed_in(rt: Runtime, user: str, secret: str, visit: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """``visit`` with a client signed in to ``rt``'s console through the real form."""

    async def go() -> T:
        app = create_app(rt)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url=BASE, timeout=60) as client,
        ):
            form = await client.get("/console/login")
            r = await client.post(
                "/console/login",
                data={"csrf_token": csrf_token(form.text), "username": user, "password": secret},
            )
            assert r.status_code == 303, r.text
            return await visit(client)

    return asyncio.run(go())


def _page(rt: Runtime, user: str, secret: str, path: str) -> str:
    async def get(client: httpx.AsyncClient) -> str:
        r = await client.get(path)
        assert r.status_code == 200, r.text
        return r.text

    return _signed_in(rt, user, secret, get)


def _stat(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', html)
    assert found is not None, html
    return found.group(1).strip()


# --------------------------------------------------------------------------- dashboard


def test_media_in_the_last_hour_comes_from_the_database(make_runtime: MakeRuntime) -> None:
    clock = ManualClock()
    rt = make_runtime(clock=clock)
    made = accounts.create(rt, "dashboard")
    sid, token = made.account.sid, made.auth_token
    message_sid, _ = message_with_media(rt, sid)
    for _ in range(16):  # stored straight through the service: no ingest meter involved
        media.add(rt, sid, message_sid, "image/png", [png_bytes(100)])
    # Another process (another runtime on the same database) serves the console.
    other = make_runtime(clock=clock)
    assert _stat(_page(other, sid, token, "/console/dashboard"), "quota-ingest") == "17"
    clock.advance(3601)
    assert _stat(_page(other, sid, token, "/console/dashboard"), "quota-ingest") == "0"


# --------------------------------------------------------------------------- settings page


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (1, "1 second"),
        (3, "3 seconds"),
        (60, "1 minute"),
        (90, "90 seconds"),
        (5400, "90 minutes"),
        (14400, "4 hours"),
        (86400, "1 day"),
        (604800, "7 days"),
    ],
)
def test_durations_read_in_whole_units(seconds: int, said: str) -> None:
    assert duration(seconds) == said


class _Radios(HTMLParser):
    """Each radio's label text (``<label for>``) and description (``aria-describedby``)."""

    def __init__(self) -> None:
        super().__init__()
        self.radios: dict[str, dict[str, str]] = {}
        self.text: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []  # (tag, the id or label-for it collects for)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("type") == "radio":
            self.radios[a["id"] or ""] = {"describedby": a.get("aria-describedby") or ""}
            return
        key = f"label:{a['for']}" if tag == "label" and a.get("for") else a.get("id")
        self._open.append((tag, key))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                return

    def handle_data(self, data: str) -> None:
        for _, key in self._open:
            if key:
                self.text[key] = self.text.get(key, "") + data


def test_settings_page_ttl_and_radio_names(make_runtime: MakeRuntime) -> None:
    rt = make_runtime(signed_url_ttl=3)
    made = accounts.create(rt, "settings")
    html = _page(rt, made.account.sid, made.auth_token, "/console/messaging/settings/general")
    assert "3 seconds." in html and "hours" not in html
    parsed = _Radios()
    parsed.feed(html)
    names = {}
    for radio_id, radio in parsed.radios.items():
        names[parsed.text[f"label:{radio_id}"].strip()] = parsed.text[radio["describedby"]].strip()
    assert names == {
        "Enable": "Credentials required for new media (recommended).",
        "Disable": "New media is public to anyone with its URL.",
    }


# --------------------------------------------------------------------------- delete confirmation


def test_delete_confirmation_has_no_delete_link_of_its_own(runtime: Runtime) -> None:
    made = accounts.create(runtime, "confirm")
    message_sid, media_sid = message_with_media(runtime, made.account.sid)
    delete = f"/console/messages/{message_sid}/media/{media_sid}/delete"
    message_page = _page(runtime, made.account.sid, made.auth_token, f"/console/messages/{message_sid}")
    assert f'href="{delete}?back=' in message_page  # the card offers it where it belongs
    html = _page(runtime, made.account.sid, made.auth_token, f"{delete}?back=/console/messages")
    assert f'href="{delete}' not in html
    assert html.count(">Delete<") == 0 and "Delete media</button>" in html
    assert media_sid in html and "Download" in html  # the card itself is still shown
