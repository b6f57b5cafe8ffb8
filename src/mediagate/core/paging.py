"""Twilio-style list pages over keyset cursors.

Twilio's envelope (``first_page_uri``, ``next_page_uri``, ``page``, ...) with
``PageToken`` cursors instead of OFFSET, so the hundredth page costs what
the first does at millions of rows. Order is newest first
(``date_created DESC, sid DESC``); ``PA`` tokens walk forward (older),
``PB`` tokens walk back (newer).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from mediagate.core.errors import BadRequest
from mediagate.core.inputs import int_param
from mediagate.core.timefmt import aware

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# One spelling per token (canonical micros, ``\Z`` not ``$``): see mediagate.core.inputs.
_TOKEN = re.compile(r"P([AB])(0|[1-9][0-9]{0,19})_([A-Z]{2}[0-9a-f]{32})\Z", re.ASCII)


@dataclass(frozen=True)
class Cursor:
    forward: bool
    when: datetime
    sid: str


@dataclass(frozen=True)
class PageRequest:
    size: int
    number: int
    cursor: Cursor | None


def _int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    return int_param(raw, name, low, high)


def parse_page_request(query: Mapping[str, str]) -> PageRequest:
    size = _int_param(query, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    number = _int_param(query, "Page", 0, 0, 10**9)
    token = query.get("PageToken")
    cursor = None
    if token:
        match = _TOKEN.match(token)
        if match is None:
            raise BadRequest("PageToken is not valid.", code=20001)
        direction, micros, sid = match.groups()
        try:
            when = _EPOCH + timedelta(microseconds=int(micros))
        except OverflowError:  # past datetime's year 9999: a forged token, not a server error
            raise BadRequest("PageToken is not valid.", code=20001) from None
        cursor = Cursor(direction == "A", when, sid)
    return PageRequest(size, number, cursor)


def page_token(forward: bool, when: datetime, sid: str) -> str:
    delta = aware(when) - _EPOCH
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"P{'A' if forward else 'B'}{micros}_{sid}"


@dataclass(frozen=True)
class Page:
    rows: Sequence[Any]
    has_next: bool
    has_previous: bool


def fetch_page(
    session: Session,
    stmt: Select[Any],
    created: InstrumentedAttribute[datetime],
    sid: InstrumentedAttribute[str],
    req: PageRequest,
) -> Page:
    key = tuple_(created, sid)
    cursor = req.cursor
    if cursor is None or cursor.forward:
        if cursor is not None:
            stmt = stmt.where(key < tuple_(_bind_when(cursor.when), cursor.sid))
        rows = list(session.scalars(stmt.order_by(created.desc(), sid.desc()).limit(req.size + 1)))
        return Page(rows[: req.size], len(rows) > req.size, cursor is not None)
    stmt = stmt.where(key > tuple_(_bind_when(cursor.when), cursor.sid))
    rows = list(session.scalars(stmt.order_by(created.asc(), sid.asc()).limit(req.size + 1)))
    has_previous = len(rows) > req.size
    return Page(list(reversed(rows[: req.size])), True, has_previous)


def _bind_when(when: datetime) -> datetime:
    return when.astimezone(UTC)


@dataclass(frozen=True)
class PageUris:
    """A page's own URI and its links, spelled as Twilio's documented examples spell
    them: the filters in the order the route lists them, then ``PageSize`` (always,
    50 when the request named none), ``Page`` and, past the first page, the
    ``PageToken`` that reaches it (e.g. ``Messages.json?To=%2B1...&PageSize=2&Page=1
    &PageToken=PA...``). ``uri`` is the page asked for in that same spelling, so page
    0's ``uri`` equals ``first_page_uri`` and a followed ``next_page_uri`` comes back
    as the next page's ``uri``."""

    uri: str
    first: str
    next: str | None
    previous: str | None


def page_uris(base: str, filters: Mapping[str, str], req: PageRequest, page: Page) -> PageUris:
    """The URIs of ``page`` (answered for ``req``) under ``base`` (a path, or for the
    v1 APIs a full URL); ``filters`` are the request's own, echoed."""

    def uri(number: int, token: str | None) -> str:
        params: dict[str, str | int] = {**filters, "PageSize": req.size, "Page": number}
        if token:
            params["PageToken"] = token
        return f"{base}?{urlencode(params)}"

    rows = page.rows
    cursor = req.cursor
    current = page_token(cursor.forward, cursor.when, cursor.sid) if cursor is not None else None
    next_uri = prev_uri = None
    if page.has_next and rows:
        last = rows[-1]
        next_uri = uri(req.number + 1, page_token(True, last.date_created, last.sid))
    if page.has_previous and rows:
        first = rows[0]
        prev_uri = uri(max(req.number - 1, 0), page_token(False, first.date_created, first.sid))
    return PageUris(uri=uri(req.number, current), first=uri(0, None), next=next_uri, previous=prev_uri)


def envelope(
    *,
    path: str,
    filters: Mapping[str, str],
    req: PageRequest,
    page: Page,
    list_key: str,
    items: list[dict[str, Any]],
) -> dict[str, Any]:
    """Build Twilio's list body. twilio-python refuses a page with any top-level
    key beyond these, and follows ``next_page_uri`` by prefixing its base URL."""
    uris = page_uris(path, filters, req, page)
    rows = page.rows
    start = req.number * req.size
    return {
        "first_page_uri": uris.first,
        "end": start + len(rows) - 1 if rows else start,
        "previous_page_uri": uris.previous,
        list_key: items,
        "uri": uris.uri,
        "page_size": req.size,
        "start": start,
        "next_page_uri": uris.next,
        "page": req.number,
    }
