"""Every list route's paging URIs, spelled as Twilio's documented examples spell them
(twilio_api_v2010.json: ``Messages.json?To=...&PageSize=2&Page=0``, ``Media.json?...
&PageSize=50&Page=0``): filters, then ``PageSize`` (50 when the request named none),
``Page``, and past page 0 the ``PageToken`` that reached the page. In process, on
SQLite and PostgreSQL.

The routes are found in the app's own route table (every GET route whose answer is a
list envelope), so a list added later is checked without editing this file."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from mediagate.accounts import accounts
from mediagate.api.common import ApiRoute
from mediagate.core import sids
from mediagate.http.app import create_app
from mediagate.media import media
from mediagate.runtime.context import Runtime
from tests.support.fileserver import png_bytes
from tests.support.stored import message_with_media

BASE = "http://mediagate.test"
# The list routes the app has today, by path template: the test fails if one appears or
# goes without this table changing, so the new one is looked at.
LISTS = {
    "/2010-04-01/Accounts.json",
    "/2010-04-01/Accounts/{account_sid}/Messages.json",
    "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media.json",
    "/2010-04-01/Accounts/{account_sid}/Keys.json",
    "/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers.json",
    "/v1/Accounts/{account_sid}/MediaAccessEvents",
    "/v1/Accounts/{account_sid}/WebhookDeliveries",
    "/v1/Keys",
}
# The query each list needs whatever the page (IAM's Keys list takes its account as a parameter).
NEEDED = {"/v1/Keys": "AccountSid"}


@dataclass
class Walked:
    """One list route's answers: ``start`` the two first requests (no PageSize, then
    PageSize=1) as (what was asked, body); ``followed`` each next/previous link taken
    from the PageSize=1 walk, as (the link, the page it reached)."""

    head: str  # the list's base (full URL for the v1 Keys list) plus its needed query
    start: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    followed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _links(body: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    """(uri, first, next, previous) of a v2010 envelope or of a v1 ``meta``."""
    if "meta" in body:
        m = body["meta"]
        return m["url"], m["first_page_url"], m["next_page_url"], m["previous_page_url"]
    return body["uri"], body["first_page_uri"], body["next_page_uri"], body["previous_page_uri"]


def _is_list(body: Any) -> bool:
    return isinstance(body, dict) and ("first_page_uri" in body or "first_page_url" in body.get("meta", {}))


async def _walk(rt: Runtime) -> dict[str, Walked]:
    made = accounts.create(rt, "paging")
    acct, token = made.account.sid, made.auth_token
    message_sid, _ = message_with_media(rt, acct, "one")
    media.add(rt, acct, message_sid, "image/png", [png_bytes(200)])  # two media: two pages of one
    message_with_media(rt, acct, "two")
    fill = {
        "account_sid": acct,
        "message_sid": message_sid,
        "media_sid": sids.new_sid(sids.MEDIA),
        "key_sid": sids.new_sid(sids.KEY),
        "number_sid": sids.new_sid(sids.PHONE_NUMBER),
    }
    app = create_app(rt)
    found: dict[str, Walked] = {}
    auth = (acct, token)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, timeout=60) as client,
    ):
        for r in app.routes:
            if not isinstance(r, ApiRoute) or "GET" not in r.access.needs or r.access.account is None:
                continue
            path = r.path.format(**fill)
            needed = f"{NEEDED[r.path]}={acct}&" if r.path in NEEDED else ""
            walked = Walked(head=f"{BASE if r.path.startswith('/v1/Keys') else ''}{path}?{needed}")
            for query in ("", "PageSize=1"):
                asked = f"{path}?{needed}{query}"
                got = await client.get(asked, auth=auth)
                if got.status_code != 200 or not _is_list(got.json()):
                    break
                walked.start.append((asked, got.json()))
            if not walked.start:
                continue
            found[r.path] = walked
            # From the PageSize=1 page: every next link to the end, then previous links back.
            body = walked.start[-1][1]
            for step in (2, 3):
                while (link := _links(body)[step]) is not None:
                    body = (await client.get(link.removeprefix(BASE), auth=auth)).json()
                    walked.followed.append((link, body))
    return found


@pytest.fixture
def walked(runtime: Runtime) -> dict[str, Walked]:
    # A fresh thread: a browser test earlier on the same xdist worker may leave an
    # event loop running on this one (Playwright's sync API), and asyncio.run refuses it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _walk(runtime)).result()


def test_every_list_route_is_covered(walked: dict[str, Walked]) -> None:
    assert set(walked) == LISTS


def test_first_page_uris(walked: dict[str, Walked]) -> None:
    for template, w in walked.items():
        assert len(w.start) == 2, template
        for (_, body), size in zip(w.start, (50, 1), strict=True):
            uri, first, _, previous = _links(body)
            assert uri == first == f"{w.head}PageSize={size}&Page=0", (template, uri, first)
            assert previous is None, template


def test_later_pages_uri_is_the_link_that_reached_them(walked: dict[str, Walked]) -> None:
    for template, w in walked.items():
        for link, body in w.followed:
            uri, first, nxt, previous = _links(body)
            assert uri == link, (template, uri, link)
            assert first == f"{w.head}PageSize=1&Page=0", template
            for other in (link, nxt, previous):
                if other is not None:
                    assert re.fullmatch(
                        re.escape(w.head) + r"PageSize=1&Page=\d+&PageToken=P[AB]\d+_\w+", other
                    )
    multi = {t for t, w in walked.items() if w.followed}
    # Two messages and a message with two media: both lists have two pages of one.
    assert {
        "/2010-04-01/Accounts/{account_sid}/Messages.json",
        "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media.json",
    } <= multi
    for t in multi:
        assert any(_links(b)[3] is None and "Page=0&" in link for link, b in walked[t].followed), t
