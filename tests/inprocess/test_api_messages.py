"""The Messages resource with the app in process (tests/support/api_inprocess.py) on SQLite and
PostgreSQL: Twilio's shapes, statuses, deletion, filters, paging and channels, through
twilio-python and ``requests``. Moved from tests/e2e/test_messages.py with the assertions
unchanged; a sample over a real server stays there."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from mediagate.db.models import Media
from tests.support.api_inprocess import LOCAL_SHAPES, ApiServer, shape_server
from tests.support.clients import twilio_client
from tests.support.fileserver import JPEG, FileServer, png_bytes
from tests.support.loops import eventually
from tests.support.schema import RFC2822_GMT, assert_matches_schema
from tests.support.server import Account
from tests.support.shapes import shape_id
from tests.support.stored import stored_keys

MESSAGE_SCHEMA = "api.v2010.account.message"
MEDIA_SCHEMA = "api.v2010.account.message.media"
ENVELOPE_KEYS = {
    "first_page_uri",
    "next_page_uri",
    "previous_page_uri",
    "page",
    "page_size",
    "start",
    "end",
    "uri",
}
TO = "+15551230001"
FROM = "+15557650001"


# --------------------------------------------------------------------------- helpers


RunningServer = ApiServer  # the moved tests' annotations


@pytest.fixture(scope="module", params=LOCAL_SHAPES, ids=shape_id)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with shape_server(request, tmp_path_factory) as srv:
        yield srv


def messages_url(server: RunningServer, acct: Account) -> str:
    return f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json"


def settled(client: Client, sid: str) -> Any:
    """The message once its media fetch is over: Twilio answers the create ``queued``
    and fetches afterwards, so the outcome shows when the status leaves ``queued``."""
    return eventually(lambda: (m := client.messages(sid).fetch()).status != "queued" and m)


def wait_for_status(client: Client, sid: str, status: str) -> Any:
    """The message once the carrier worker has moved it to ``status``."""
    return eventually(lambda: (m := client.messages(sid).fetch()).status == status and m)


# --------------------------------------------------------------------------- create / fetch / delete


def test_create_sms_answers_201_in_twilio_shape(server: RunningServer) -> None:
    acct = server.new_account("messages-create")
    body = "a" * 161  # one GSM segment holds 160 characters; 161 need two (153 each)
    r = requests.post(
        messages_url(server, acct),
        data={"To": TO, "From": FROM, "Body": body},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/json")
    created = r.json()
    assert_matches_schema(created, MESSAGE_SCHEMA)
    assert created["sid"].startswith("SM")
    assert created["account_sid"] == acct.sid
    assert (created["to"], created["from"], created["body"]) == (TO, FROM, body)
    assert created["num_media"] == "0" and created["num_segments"] == "2"
    assert created["status"] == "queued" and created["direction"] == "outbound-api"
    assert created["error_code"] is None and created["date_sent"] is None
    assert created["uri"] == f"/2010-04-01/Accounts/{acct.sid}/Messages/{created['sid']}.json"
    assert created["subresource_uris"]["media"] == created["uri"].replace(".json", "/Media.json")

    fetched = requests.get(
        f"{server.base_url}{created['uri']}", auth=(acct.sid, acct.token), timeout=10
    ).json()
    assert_matches_schema(fetched, MESSAGE_SCHEMA)
    assert fetched["sid"] == created["sid"] and fetched["body"] == body


def test_create_and_fetch_with_twilio_python(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("messages-twilio")
    client = twilio_client(server, acct.sid, acct.token)
    sms = client.messages.create(to=TO, from_=FROM, body="hello")
    assert sms.sid.startswith("SM") and sms.num_media == "0" and sms.num_segments == "1"

    url = files.add("/messages/create/pic.png", png_bytes(2048))
    mms = client.messages.create(to=TO, from_=FROM, body="with a picture", media_url=[url])
    # Twilio's create answer counts no media yet; they are fetched afterwards.
    assert mms.sid.startswith("MM") and mms.num_media == "0" and mms.status == "queued"
    assert settled(client, mms.sid).num_media == "1"
    # A message with only media and no Body is fine too.
    bare = client.messages.create(to=TO, from_=FROM, media_url=[url])
    assert bare.sid.startswith("MM") and bare.body == ""

    fetched = client.messages(mms.sid).fetch()
    assert (fetched.sid, fetched.to, fetched.from_, fetched.body) == (mms.sid, TO, FROM, "with a picture")
    assert fetched.date_created is not None and fetched.date_created.tzinfo is not None
    raw = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{mms.sid}.json",
        auth=(acct.sid, acct.token),
        timeout=10,
    ).json()
    assert_matches_schema(raw, MESSAGE_SCHEMA)
    assert raw["num_media"] == "1"


def test_status_becomes_sent_with_date_sent(server: RunningServer) -> None:
    acct = server.new_account("messages-sent")
    client = twilio_client(server, acct.sid, acct.token)
    created = client.messages.create(to=TO, from_=FROM, body="deliver me")
    sent = wait_for_status(client, created.sid, "sent")
    assert sent.status == "sent"
    assert sent.date_sent is not None and sent.date_sent >= created.date_created
    raw = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{created.sid}.json",
        auth=(acct.sid, acct.token),
        timeout=10,
    ).json()
    assert_matches_schema(raw, MESSAGE_SCHEMA)
    assert RFC2822_GMT.match(raw["date_sent"])


def test_delete_then_fetch_is_twilio_404(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("messages-delete")
    client = twilio_client(server, acct.sid, acct.token)
    url = files.add("/messages/delete/pic.png", png_bytes(1024))
    message = client.messages.create(to=TO, from_=FROM, body="bye", media_url=[url])
    settled(client, message.sid)
    assert len(stored_keys(server.runtime, acct.sid)) == 1

    path = f"/2010-04-01/Accounts/{acct.sid}/Messages/{message.sid}.json"
    r = requests.delete(f"{server.base_url}{path}", auth=(acct.sid, acct.token), timeout=10)
    assert r.status_code == 204 and r.content == b""

    gone = requests.get(f"{server.base_url}{path}", auth=(acct.sid, acct.token), timeout=10)
    assert gone.status_code == 404
    assert gone.json() == {
        "code": 20404,
        "message": f"The requested resource {path} was not found",
        "more_info": "https://www.twilio.com/docs/errors/20404",
        "status": 404,
    }
    # Its media went with it, rows and bytes.
    assert stored_keys(server.runtime, acct.sid) == []
    media_list = requests.get(
        f"{server.base_url}{path.replace('.json', '/Media.json')}", auth=(acct.sid, acct.token), timeout=10
    )
    assert media_list.status_code == 404 and media_list.json()["code"] == 20404
    with server.runtime.sessions() as session:
        left = session.scalar(select(func.count()).select_from(Media).where(Media.message_sid == message.sid))
    assert left == 0
    # Deleting twice is a 404, and twilio-python's delete() reports success on 204.
    assert (
        requests.delete(f"{server.base_url}{path}", auth=(acct.sid, acct.token), timeout=10).status_code
        == 404
    )
    other = client.messages.create(to=TO, from_=FROM, body="delete me with the client")
    assert client.messages(other.sid).delete() is True
    with pytest.raises(TwilioRestException) as exc:
        client.messages(other.sid).fetch()
    assert exc.value.status == 404 and exc.value.code == 20404
    assert path.replace(message.sid, other.sid) in str(exc.value.msg)


def test_list_filters_to_from_and_date_sent(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("messages-filters")
    client = twilio_client(server, acct.sid, acct.token)
    a = client.messages.create(to="+15550000001", from_=FROM, body="a")
    b = client.messages.create(to="+15550000002", from_=FROM, body="b")
    c = client.messages.create(to="+15550000001", from_="+15557659999", body="c")
    failed = client.messages.create(
        to="+15550000001", from_=FROM, media_url=[files.add("/messages/filters/missing.png", b"", status=404)]
    )
    assert settled(client, failed.sid).status == "failed"

    assert [m.sid for m in client.messages.list(to="+15550000001")] == [failed.sid, c.sid, a.sid]
    assert [m.sid for m in client.messages.list(from_="+15557659999")] == [c.sid]
    assert [m.sid for m in client.messages.list(to="+15550000001", from_=FROM)] == [failed.sid, a.sid]
    assert client.messages.list(to="+15559999999") == []

    sent_on = {m.sid: wait_for_status(client, m.sid, "sent").date_sent for m in (a, b, c)}
    assert all(isinstance(d, datetime) for d in sent_on.values())
    day = min(d for d in sent_on.values() if d is not None)
    # Messages that are not sent have no date_sent and never match a DateSent filter.
    on_day = {m.sid for m in client.messages.list(date_sent=day)}
    assert {a.sid, b.sid, c.sid} <= on_day and failed.sid not in on_day
    assert client.messages.list(date_sent=day - timedelta(days=1)) == []
    assert {m.sid for m in client.messages.list(date_sent_before=day)} >= {a.sid, b.sid, c.sid}
    assert client.messages.list(date_sent_before=day - timedelta(days=1)) == []
    assert {m.sid for m in client.messages.list(date_sent_after=day)} >= {a.sid, b.sid, c.sid}
    assert client.messages.list(date_sent_after=day + timedelta(days=2)) == []
    # Filters combine.
    b_day = sent_on[b.sid]
    assert b_day is not None
    assert [m.sid for m in client.messages.list(to="+15550000002", date_sent=b_day)] == [b.sid]
    assert client.messages.list(to="+15550000002", date_sent=b_day + timedelta(days=1)) == []
    # The raw query form Twilio documents (DateSent=YYYY-MM-DD) works as well.
    r = requests.get(
        messages_url(server, acct),
        params={"DateSent": b_day.strftime("%Y-%m-%d"), "To": "+15550000002"},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 200
    assert [m["sid"] for m in r.json()["messages"]] == [b.sid]


def test_messages_of_another_account_are_invisible(server: RunningServer) -> None:
    alice = server.new_account("messages-alice")
    bob = server.new_account("messages-bob")
    secret = twilio_client(server, alice.sid, alice.token).messages.create(
        to=TO, from_=FROM, body="alice only"
    )
    bob_client = twilio_client(server, bob.sid, bob.token)
    assert bob_client.messages.list() == []
    # Bob's credentials on Bob's path cannot name Alice's message.
    with pytest.raises(TwilioRestException) as exc:
        bob_client.messages(secret.sid).fetch()
    assert exc.value.status == 404 and exc.value.code == 20404
    # Bob's credentials on Alice's path are refused.
    r = requests.get(messages_url(server, alice), auth=(bob.sid, bob.token), timeout=10)
    assert r.status_code == 401 and r.json()["code"] == 20003


# --------------------------------------------------------------------------- paging


@pytest.fixture(scope="module")
def paged(server: RunningServer) -> Iterator[tuple[Account, list[str]]]:
    """An account with 25 messages; the sids in creation order."""
    acct = server.new_account("messages-paging")
    created: list[str] = []
    with requests.Session() as s:
        s.auth = (acct.sid, acct.token)
        for i in range(25):
            r = s.post(messages_url(server, acct), data={"To": TO, "From": FROM, "Body": f"#{i}"}, timeout=10)
            assert r.status_code == 201, r.text
            created.append(r.json()["sid"])
    yield acct, created


def test_list_walks_every_page_newest_first(server: RunningServer, paged: tuple[Account, list[str]]) -> None:
    acct, created = paged
    client = twilio_client(server, acct.sid, acct.token)
    listed = [m.sid for m in client.messages.list(page_size=7)]
    assert listed == list(reversed(created))
    assert len(set(listed)) == 25
    # limit stops early without skipping.
    assert [m.sid for m in client.messages.list(limit=10, page_size=7)] == list(reversed(created))[:10]


def test_page_next_page_chain(server: RunningServer, paged: tuple[Account, list[str]]) -> None:
    acct, created = paged
    client = twilio_client(server, acct.sid, acct.token)
    page = client.messages.page(page_size=7)
    pages: list[list[str]] = []
    while page is not None:
        pages.append([m.sid for m in page])
        page = page.next_page()
    assert [len(p) for p in pages] == [7, 7, 7, 4]
    assert [sid for p in pages for sid in p] == list(reversed(created))


def test_raw_envelope_and_previous_page(server: RunningServer, paged: tuple[Account, list[str]]) -> None:
    acct, created = paged
    newest_first = list(reversed(created))
    auth = (acct.sid, acct.token)
    path = f"/2010-04-01/Accounts/{acct.sid}/Messages.json"

    first = requests.get(f"{server.base_url}{path}?PageSize=7", auth=auth, timeout=10).json()
    assert set(first) == ENVELOPE_KEYS | {"messages"}
    assert first["page"] == 0 and first["page_size"] == 7 and first["start"] == 0 and first["end"] == 6
    assert first["previous_page_uri"] is None
    assert first["uri"] == first["first_page_uri"] == f"{path}?PageSize=7&Page=0"
    assert first["first_page_uri"].startswith(f"{path}?") and "PageToken" not in first["first_page_uri"]
    assert first["next_page_uri"].startswith("/2010-04-01/")
    assert [m["sid"] for m in first["messages"]] == newest_first[:7]
    for item in first["messages"]:
        assert_matches_schema(item, MESSAGE_SCHEMA)

    second = requests.get(f"{server.base_url}{first['next_page_uri']}", auth=auth, timeout=10).json()
    assert set(second) == ENVELOPE_KEYS | {"messages"}
    assert second["page"] == 1 and second["start"] == 7 and second["end"] == 13
    assert [m["sid"] for m in second["messages"]] == newest_first[7:14]
    assert second["previous_page_uri"].startswith("/2010-04-01/")
    assert parse_qs(urlsplit(second["next_page_uri"]).query)["PageSize"] == ["7"]

    # previous_page_uri leads back to exactly the first page.
    back = requests.get(f"{server.base_url}{second['previous_page_uri']}", auth=auth, timeout=10).json()
    assert set(back) == ENVELOPE_KEYS | {"messages"}
    assert [m["sid"] for m in back["messages"]] == newest_first[:7]
    assert back["page"] == 0

    # Walk to the end, then all the way back with previous_page_uri.
    pages = [first, second]
    while pages[-1]["next_page_uri"]:
        nxt = requests.get(f"{server.base_url}{pages[-1]['next_page_uri']}", auth=auth, timeout=10)
        pages.append(nxt.json())
    last = pages[-1]
    assert [m["sid"] for m in last["messages"]] == newest_first[21:]
    assert last["next_page_uri"] is None and last["end"] == 24
    walked_back = [[m["sid"] for m in last["messages"]]]
    current = last
    while current["previous_page_uri"]:
        current = requests.get(
            f"{server.base_url}{current['previous_page_uri']}", auth=auth, timeout=10
        ).json()
        walked_back.append([m["sid"] for m in current["messages"]])
    assert [sid for p in reversed(walked_back) for sid in p] == newest_first

    # twilio-python's previous_page() follows the same link.
    client = twilio_client(server, acct.sid, acct.token)
    p2 = client.messages.page(page_size=7).next_page()
    assert p2 is not None
    p1 = p2.previous_page()
    assert p1 is not None and [m.sid for m in p1] == newest_first[:7]


def test_page_size_one_thousand_returns_everything(
    server: RunningServer, paged: tuple[Account, list[str]]
) -> None:
    acct, created = paged
    r = requests.get(
        messages_url(server, acct), params={"PageSize": "1000"}, auth=(acct.sid, acct.token), timeout=10
    ).json()
    assert [m["sid"] for m in r["messages"]] == list(reversed(created))
    assert r["next_page_uri"] is None and r["end"] == 24


# --------------------------------------------------------------------------- media list


def test_media_list_shape_and_date_filter(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("messages-media")
    client = twilio_client(server, acct.sid, acct.token)
    urls = [
        files.add("/messages/media/one.png", png_bytes(1500)),
        files.add("/messages/media/two.jpg", JPEG, "image/jpeg"),
    ]
    message = client.messages.create(to=TO, from_=FROM, media_url=urls)
    assert settled(client, message.sid).num_media == "2"

    media = client.messages(message.sid).media.list()
    assert len(media) == 2
    assert {m.content_type for m in media} == {"image/png", "image/jpeg"}
    assert all(m.parent_sid == message.sid and m.account_sid == acct.sid for m in media)

    path = f"/2010-04-01/Accounts/{acct.sid}/Messages/{message.sid}/Media.json"
    raw = requests.get(f"{server.base_url}{path}", auth=(acct.sid, acct.token), timeout=10).json()
    assert set(raw) == ENVELOPE_KEYS | {"media_list"}
    assert len(raw["media_list"]) == 2
    for item in raw["media_list"]:
        assert_matches_schema(item, MEDIA_SCHEMA)
        assert item["uri"] == path.replace(".json", f"/{item['sid']}.json")
        one = requests.get(f"{server.base_url}{item['uri']}", auth=(acct.sid, acct.token), timeout=10)
        assert one.status_code == 200
        assert_matches_schema(one.json(), MEDIA_SCHEMA)
        assert one.json() == item

    created_on = media[0].date_created
    assert created_on is not None
    assert len(client.messages(message.sid).media.list(date_created=created_on)) == 2
    assert client.messages(message.sid).media.list(date_created=created_on - timedelta(days=1)) == []
    assert len(client.messages(message.sid).media.list(date_created_before=created_on)) == 2
    assert client.messages(message.sid).media.list(date_created_before=created_on - timedelta(days=1)) == []
    assert len(client.messages(message.sid).media.list(date_created_after=created_on)) == 2
    assert client.messages(message.sid).media.list(date_created_after=created_on + timedelta(days=2)) == []
    # Media list pages like the message list does.
    first = client.messages(message.sid).media.page(page_size=1)
    second = first.next_page()
    assert second is not None
    assert {m.sid for m in first} | {m.sid for m in second} == {m.sid for m in media}
    assert second.next_page() is None


# --------------------------------------------------------------------------- channels


def test_whatsapp_addresses(server: RunningServer) -> None:
    acct = server.new_account("messages-whatsapp")
    client = twilio_client(server, acct.sid, acct.token)
    message = client.messages.create(to="whatsapp:+15551230002", from_="whatsapp:+15557650002", body="hi")
    assert message.to == "whatsapp:+15551230002" and message.from_ == "whatsapp:+15557650002"
    assert [m.sid for m in client.messages.list(to="whatsapp:+15551230002")] == [message.sid]


def test_whatsapp_keeps_only_the_first_media_url(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("messages-whatsapp-media")
    client = twilio_client(server, acct.sid, acct.token)
    paths = [f"/messages/wa/{acct.sid}/{i}.png" for i in range(3)]
    urls = [files.add(p, png_bytes(1000 + i)) for i, p in enumerate(paths)]
    message = client.messages.create(
        to="whatsapp:+15551230003", from_="whatsapp:+15557650003", media_url=urls
    )
    assert message.sid.startswith("MM") and settled(client, message.sid).num_media == "1"
    media = client.messages(message.sid).media.list()
    assert len(media) == 1
    content = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{message.sid}/Media/{media[0].sid}",
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert content.status_code == 200 and content.content == png_bytes(1000)
    # The ignored URLs were never fetched.
    assert files.hits(paths[0]) == 1 and files.hits(paths[1]) == 0 and files.hits(paths[2]) == 0


def test_mixed_channels_are_refused(server: RunningServer) -> None:
    acct = server.new_account("messages-mixed")
    client = twilio_client(server, acct.sid, acct.token)
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to="whatsapp:+15551230004", from_="+15557650004", body="nope")
    assert exc.value.status == 400 and exc.value.code == 21910
    r = requests.post(
        messages_url(server, acct),
        data={"To": "+15551230004", "From": "whatsapp:+15557650004", "Body": "nope"},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["code"] == 21910
    assert client.messages.list() == []


def test_created_dates_are_recent_gmt(server: RunningServer) -> None:
    acct = server.new_account("messages-dates")
    before = datetime.now(UTC).replace(microsecond=0)
    r = requests.post(
        messages_url(server, acct),
        data={"To": TO, "From": FROM, "Body": "when"},
        auth=(acct.sid, acct.token),
        timeout=10,
    ).json()
    created = parsedate_to_datetime(r["date_created"])
    assert created.tzinfo is not None and created.utcoffset() == timedelta(0)
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)
    assert r["date_updated"] == r["date_created"]


def test_addresses_are_stored_trimmed_and_found_by_filters(server: RunningServer) -> None:
    acct = server.new_account("messages-trim")
    r = requests.post(
        messages_url(server, acct),
        data={"To": " +15551230077 ", "From": "+15557650077\t", "Body": "spaces"},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    assert (r.json()["to"], r.json()["from"]) == ("+15551230077", "+15557650077")
    client = twilio_client(server, acct.sid, acct.token)
    assert [m.sid for m in client.messages.list(to="+15551230077")] == [r.json()["sid"]]
    assert [m.sid for m in client.messages.list(from_="+15557650077")] == [r.json()["sid"]]


# --------------------------------------------------------------------------- UpdateMessage (redaction)


def test_twilio_python_redacts_a_sent_message(server: RunningServer) -> None:
    """``client.messages(sid).update(body="")``, unmodified, as Twilio documents redaction."""
    acct = server.new_account("messages-redact")
    client = twilio_client(server, acct.sid, acct.token)
    created = client.messages.create(to=TO, from_=FROM, body="your code is 123456")
    assert wait_for_status(client, created.sid, "sent").status == "sent"
    redacted = client.messages(created.sid).update(body="")
    assert (redacted.sid, redacted.body, redacted.status) == (created.sid, "", "sent")
    assert client.messages(created.sid).fetch().body == ""
    with pytest.raises(TwilioRestException) as exc:
        client.messages(created.sid).update(status="canceled")
    assert exc.value.status == 400 and exc.value.code == 30409
