"""Keyset paging: request bounds, PageToken round trips, and no duplicates or gaps across pages
when many rows share one ``date_created`` (the sid breaks the tie), forward and backward."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from mediagate.accounts import accounts
from mediagate.core import sids
from mediagate.core.errors import BadRequest
from mediagate.core.paging import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Cursor,
    Page,
    PageRequest,
    PageUris,
    envelope,
    page_token,
    page_uris,
    parse_page_request,
)
from mediagate.db.models import Media, Message
from mediagate.media import media
from mediagate.messaging import messages
from mediagate.runtime.context import Runtime

SID = "SM" + "0123456789abcdef" * 2

# --------------------------------------------------------------------------- parse_page_request


def test_defaults() -> None:
    assert parse_page_request({}) == PageRequest(DEFAULT_PAGE_SIZE, 0, None)
    assert parse_page_request({"PageSize": "", "Page": "", "PageToken": ""}) == PageRequest(50, 0, None)


@pytest.mark.parametrize(("raw", "size"), [("1", 1), ("7", 7), ("50", 50), ("1000", MAX_PAGE_SIZE)])
def test_page_size_in_bounds(raw: str, size: int) -> None:
    assert parse_page_request({"PageSize": raw}).size == size


@pytest.mark.parametrize(
    "raw",
    ["0", "1001", "99999", "-1", "+5", "abc", "1.5", "1e3", " 5", "5 ", "0x10", "²", "٣", "9" * 5000, "007"],
)
def test_page_size_out_of_bounds_or_not_a_number(raw: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_page_request({"PageSize": raw})
    assert exc.value.code == 20001 and exc.value.status == 400
    assert "PageSize" in exc.value.message


@pytest.mark.parametrize(("raw", "number"), [("0", 0), ("3", 3), ("1000000000", 10**9)])
def test_page_number_in_bounds(raw: str, number: int) -> None:
    assert parse_page_request({"Page": raw}).number == number


@pytest.mark.parametrize("raw", ["-1", "1000000001", "one", "²"])
def test_page_number_invalid(raw: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_page_request({"Page": raw})
    assert exc.value.code == 20001


def test_page_token_decodes_direction_time_and_sid() -> None:
    forward = parse_page_request({"PageToken": f"PA1700000000123456_{SID}"}).cursor
    assert forward == Cursor(True, datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC), SID)
    backward = parse_page_request({"PageToken": f"PB0_{SID}"}).cursor
    assert backward == Cursor(False, datetime(1970, 1, 1, tzinfo=UTC), SID)


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        f"PC1_{SID}",  # unknown direction
        f"PA_{SID}",  # no time
        f"PA-1_{SID}",
        f"PA1.5_{SID}",
        "PA1_SM0123",  # short sid
        f"PA1_{SID.lower()}",  # prefix must be upper case
        f"PA1_{SID[:-1]}G",  # not hex
        f"PA1_{SID}x",
        f"pa1_{SID}",
        f"PA{'1' * 21}_{SID}",  # more digits than a token ever has
        f"PA999999999999999999_{SID}",  # past the year 9999
        f"PB99999999999999999999_{SID}",  # past timedelta's range
    ],
)
def test_invalid_page_tokens(token: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_page_request({"PageToken": token})
    assert exc.value.code == 20001 and "PageToken" in exc.value.message


# --------------------------------------------------------------------------- walking real rows

T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
# Many rows on one instant (with and without microseconds), a few on neighbouring instants
# one microsecond away, so both halves of the (date_created, sid) key are exercised.
STAMPS = (
    [T0] * 9
    + [T0 + timedelta(microseconds=1)] * 3
    + [T0 - timedelta(microseconds=1)] * 2
    + [T0 + timedelta(microseconds=123_456)] * 4
    + [T0 - timedelta(seconds=1)]
    + [T0 + timedelta(days=400)] * 2
)


def _insert_messages(rt: Runtime, account_sid: str) -> list[tuple[datetime, str]]:
    rows = []
    with rt.tx() as session:
        for when in STAMPS:
            sid = sids.new_sid(sids.SMS)
            session.add(
                Message(
                    sid=sid,
                    account_sid=account_sid,
                    to="+15551230001",
                    from_="+15557650001",
                    body="",
                    status="sent",
                    direction="outbound-api",
                    date_created=when,
                    date_updated=when,
                )
            )
            rows.append((when, sid))
    return rows


def _newest_first(rows: list[tuple[datetime, str]]) -> list[str]:
    return [sid for _, sid in sorted(rows, reverse=True)]


def _query(uri: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(uri).query, keep_blank_values=True))


def _body(path: str, req: PageRequest, page: Page) -> dict[str, Any]:
    return envelope(
        path=path,
        filters={},
        req=req,
        page=page,
        list_key="messages",
        items=[{"sid": r.sid} for r in page.rows],
    )


def _walk(rt: Runtime, account_sid: str, size: int) -> tuple[list[list[str]], list[list[str]]]:
    """All pages following next_page_uri from the first, then all pages following
    previous_page_uri from the last; each URI goes through parse_page_request as a client sends it."""
    path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
    query: dict[str, str] = {"PageSize": str(size)}
    forward: list[list[str]] = []
    bodies: list[dict[str, Any]] = []
    while True:
        req = parse_page_request(query)
        body = _body(path, req, messages.page(rt, account_sid, query, req))
        assert body["page"] == len(forward) and body["page_size"] == size
        assert body["start"] == len(forward) * size
        forward.append([m["sid"] for m in body["messages"]])
        bodies.append(body)
        if body["next_page_uri"] is None:
            break
        assert body["next_page_uri"].startswith(path + "?")
        query = _query(body["next_page_uri"])
        assert query["PageToken"].startswith("PA")
    backward: list[list[str]] = [forward[-1]]
    body = bodies[-1]
    while body["previous_page_uri"] is not None:
        query = _query(body["previous_page_uri"])
        assert query["PageToken"].startswith("PB")
        req = parse_page_request(query)
        body = _body(path, req, messages.page(rt, account_sid, query, req))
        backward.append([m["sid"] for m in body["messages"]])
        assert len(backward) <= len(forward), "walked back past the first page"
    return forward, backward


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 9, len(STAMPS) - 1, len(STAMPS), 50])
def test_equal_timestamps_page_without_duplicates_or_gaps(runtime: Runtime, size: int) -> None:
    acct = accounts.create(runtime, "paging").account.sid
    rows = _insert_messages(runtime, acct)
    expected = _newest_first(rows)
    assert len(set(expected)) == len(STAMPS)

    forward, backward = _walk(runtime, acct, size)
    flat = [sid for page in forward for sid in page]
    assert flat == expected
    assert all(len(page) == size for page in forward[:-1]) and 0 < len(forward[-1]) <= size
    assert len(forward) == -(-len(STAMPS) // size)
    # Walking back from the last page visits exactly the same pages in reverse.
    assert list(reversed(backward)) == forward


def test_other_accounts_rows_never_leak_into_pages(runtime: Runtime) -> None:
    mine = accounts.create(runtime, "mine").account.sid
    theirs = accounts.create(runtime, "theirs").account.sid
    my_rows = _insert_messages(runtime, mine)
    _insert_messages(runtime, theirs)  # same instants, different sids
    forward, backward = _walk(runtime, mine, 4)
    assert [sid for page in forward for sid in page] == _newest_first(my_rows)
    assert list(reversed(backward)) == forward


def test_envelope_links(runtime: Runtime) -> None:
    acct = accounts.create(runtime, "links").account.sid
    _insert_messages(runtime, acct)
    path = f"/2010-04-01/Accounts/{acct}/Messages.json"
    req = parse_page_request({"PageSize": "5"})
    page = messages.page(runtime, acct, {}, req)
    body = envelope(
        path=path,
        filters={"To": "+15551230001"},
        req=req,
        page=page,
        list_key="messages",
        items=[{"sid": r.sid} for r in page.rows],
    )
    assert set(body) == {
        "first_page_uri",
        "next_page_uri",
        "previous_page_uri",
        "page",
        "page_size",
        "start",
        "end",
        "uri",
        "messages",
    }
    assert body["previous_page_uri"] is None
    assert (body["page"], body["start"], body["end"]) == (0, 0, 4)
    # Twilio's spelling: filters, PageSize, Page; page 0's own uri is its first_page_uri.
    assert body["uri"] == body["first_page_uri"] == f"{path}?To=%2B15551230001&PageSize=5&Page=0"
    first = _query(body["first_page_uri"])
    assert first == {"To": "+15551230001", "PageSize": "5", "Page": "0"}
    nxt = _query(body["next_page_uri"])
    # Filters ride along on the next link, so the next page is filtered the same way.
    assert nxt["To"] == "+15551230001" and nxt["PageSize"] == "5" and nxt["Page"] == "1"
    cursor = parse_page_request(nxt).cursor
    last = page.rows[-1]
    assert cursor is not None and cursor.forward and cursor.sid == last.sid
    stored = last.date_created if last.date_created.tzinfo else last.date_created.replace(tzinfo=UTC)
    assert cursor.when == stored  # microseconds survive the round trip


def test_empty_list(runtime: Runtime) -> None:
    acct = accounts.create(runtime, "empty").account.sid
    req = parse_page_request({})
    page = messages.page(runtime, acct, {}, req)
    assert list(page.rows) == [] and not page.has_next and not page.has_previous
    body = _body("/x.json", req, page)
    assert body["next_page_uri"] is None and body["previous_page_uri"] is None
    assert body["messages"] == [] and body["start"] == 0


def test_media_pages_break_ties_by_sid(runtime: Runtime) -> None:
    acct = accounts.create(runtime, "media-paging").account.sid
    message_sid = sids.new_sid(sids.MMS)
    media_sids = [sids.new_sid(sids.MEDIA) for _ in range(10)]
    with runtime.tx() as session:
        session.add(
            Message(
                sid=message_sid,
                account_sid=acct,
                to="+15551230001",
                from_="+15557650001",
                status="sent",
                direction="outbound-api",
                num_media=10,
                date_created=T0,
                date_updated=T0,
            )
        )
        session.flush()
        for sid in media_sids:
            session.add(
                Media(
                    sid=sid,
                    account_sid=acct,
                    message_sid=message_sid,
                    content_type="image/png",
                    size=1,
                    sha256="0" * 64,
                    storage_key=f"{acct}/{sid}",
                    auth_required=True,
                    date_created=T0,
                    date_updated=T0,
                )
            )
    seen: list[str] = []
    query: dict[str, str] = {"PageSize": "3"}
    while True:
        req = parse_page_request(query)
        page = media.page(runtime, acct, message_sid, query, req)
        seen += [m.sid for m in page.rows]
        body = envelope(
            path="/m.json",
            filters={},
            req=req,
            page=page,
            list_key="media_list",
            items=[],
        )
        if body["next_page_uri"] is None:
            break
        query = _query(body["next_page_uri"])
    assert seen == sorted(media_sids, reverse=True)


# --------------------------------------------------------------------------- page_uris: Twilio's spelling
#
# The expected strings are Twilio's own examples (twilio_api_v2010.json, ListMessage and
# ListMedia responses) with our tokens: filters first, then PageSize (50 when the request
# named none), Page, and past page 0 the PageToken that reaches the page.

_AC = "AC" + "a" * 32
_MSGS = f"/2010-04-01/Accounts/{_AC}/Messages.json"
_ROW_TIME = datetime(2008, 1, 2, tzinfo=UTC)


@dataclass(frozen=True)
class _Row:
    sid: str
    date_created: datetime


def _rows(*sids_: str) -> list[_Row]:
    return [_Row(s, _ROW_TIME) for s in sids_]


_SM1, _SM2 = "SM" + "1" * 32, "SM" + "2" * 32


def test_page_uris_first_page_without_page_size_matches_twilios_media_example() -> None:
    path = f"/2010-04-01/Accounts/{_AC}/Messages/SM{'a' * 32}/Media.json"
    uris = page_uris(path, {"DateCreated<": "2008-01-02"}, parse_page_request({}), Page([], False, False))
    expected = f"{path}?DateCreated%3C=2008-01-02&PageSize=50&Page=0"
    assert uris == PageUris(uri=expected, first=expected, next=None, previous=None)


def test_page_uris_no_filters_no_page_size() -> None:
    uris = page_uris(_MSGS, {}, parse_page_request({}), Page([], False, False))
    assert uris.uri == uris.first == f"{_MSGS}?PageSize=50&Page=0"


def test_page_uris_first_page_with_page_size_matches_twilios_messages_example() -> None:
    filters = {"To": "+123456789", "From": "+987654321", "DateSent>": "2008-01-02"}
    req = parse_page_request({"PageSize": "2", **filters})
    uris = page_uris(_MSGS, filters, req, Page(_rows(_SM1, _SM2), True, False))
    head = f"{_MSGS}?To=%2B123456789&From=%2B987654321&DateSent%3E=2008-01-02&PageSize=2"
    assert uris.uri == uris.first == f"{head}&Page=0"
    token = page_token(True, _ROW_TIME, _SM2)
    assert uris.next == f"{head}&Page=1&PageToken={token}"
    assert uris.previous is None


def test_page_uris_later_page_uri_is_the_link_that_reached_it() -> None:
    reached_by = page_token(True, _ROW_TIME, _SM1)
    req = parse_page_request({"PageSize": "1", "Page": "1", "PageToken": reached_by})
    uris = page_uris(_MSGS, {}, req, Page(_rows(_SM2), True, True))
    assert uris.uri == f"{_MSGS}?PageSize=1&Page=1&PageToken={reached_by}"
    assert uris.first == f"{_MSGS}?PageSize=1&Page=0"
    assert uris.next == f"{_MSGS}?PageSize=1&Page=2&PageToken={page_token(True, _ROW_TIME, _SM2)}"
    assert uris.previous == f"{_MSGS}?PageSize=1&Page=0&PageToken={page_token(False, _ROW_TIME, _SM2)}"


def test_page_uris_backward_page_keeps_its_pb_token() -> None:
    back = page_token(False, _ROW_TIME, _SM2)
    req = parse_page_request({"PageSize": "1", "Page": "0", "PageToken": back})
    uris = page_uris(_MSGS, {}, req, Page(_rows(_SM1), True, False))
    assert uris.uri == f"{_MSGS}?PageSize=1&Page=0&PageToken={back}"


def test_page_uris_under_a_v1_url() -> None:
    base = "https://mediagate.example/v1/Keys"
    uris = page_uris(base, {"AccountSid": _AC}, parse_page_request({}), Page([], False, False))
    assert uris.uri == uris.first == f"{base}?AccountSid={_AC}&PageSize=50&Page=0"
