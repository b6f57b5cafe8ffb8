"""API keys with the app in process (tests/support/api_inprocess.py) on SQLite and PostgreSQL:
the Keys resource through twilio-python and ``requests``, who may manage them, and what a key may do.
Moved from tests/e2e/test_keys.py with the assertions unchanged; the executable's run, the server's
log, and a sample over a real server stay there."""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests
from sqlalchemy import select
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from mediagate.db.models import ApiKey, AuditEvent
from tests.support.api_inprocess import LOCAL_SHAPES, ApiServer, shape_server
from tests.support.clients import assert_twilio_error, settled_message, twilio_client
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import Account
from tests.support.shapes import shape_id

TO, FROM = "+15551230001", "+15557650001"


RunningServer = ApiServer  # the moved tests' annotations


@pytest.fixture(scope="module", params=LOCAL_SHAPES, ids=shape_id)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with shape_server(request, tmp_path_factory) as srv:
        yield srv


def keys_url(server: RunningServer, account_sid: str, key_sid: str | None = None) -> str:
    base = f"{server.base_url}/2010-04-01/Accounts/{account_sid}/Keys"
    return f"{base}/{key_sid}.json" if key_sid else f"{base}.json"


def create_key(server: RunningServer, acct: Account, name: str = "k") -> tuple[str, str]:
    new = (
        twilio_client(server, acct.sid, acct.token)
        .api.v2010.accounts(acct.sid)
        .new_keys.create(friendly_name=name)
    )
    assert new.sid and new.secret
    return new.sid, new.secret


def assert_list_refused(client: Client, status: int, code: int) -> None:
    """twilio-python's ``list`` wraps a non-200 page in ``TwilioException(msg, response)``."""
    with pytest.raises(TwilioException) as info:
        client.messages.list()
    response = info.value.args[1]
    assert response.status_code == status
    assert f'"code":{code}' in response.text.replace(" ", "")


def assert_401(r: requests.Response) -> dict[str, Any]:
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="Twilio API"'
    return assert_twilio_error(r, 401, 20003)


def test_create_returns_the_secret_once(server: RunningServer) -> None:
    acct = server.new_account("keys-create")
    client = twilio_client(server, acct.sid, acct.token)
    new = client.api.v2010.accounts(acct.sid).new_keys.create(friendly_name="ci deploy")
    assert new.sid is not None and new.sid.startswith("SK") and len(new.sid) == 34
    assert new.friendly_name == "ci deploy"
    assert new.secret and len(new.secret) >= 32
    assert new.date_created is not None and new.date_updated is not None

    # Raw create body: Twilio's new-key shape, RFC 2822 dates.
    r = requests.post(
        keys_url(server, acct.sid), data={"FriendlyName": "raw"}, auth=(acct.sid, acct.token), timeout=10
    )
    assert r.status_code == 201
    created = r.json()
    assert set(created) == {"sid", "friendly_name", "date_created", "date_updated", "secret"}
    assert parsedate_to_datetime(created["date_created"]).utcoffset() is not None
    assert created["date_created"].endswith("+0000")

    # Never again: not on fetch, not in the list.
    for sid, secret in [(new.sid, new.secret), (created["sid"], created["secret"])]:
        fetched = requests.get(keys_url(server, acct.sid, sid), auth=(acct.sid, acct.token), timeout=10)
        assert fetched.status_code == 200
        assert set(fetched.json()) == {"sid", "friendly_name", "date_created", "date_updated"}
        assert secret not in fetched.text
        listed = requests.get(keys_url(server, acct.sid), auth=(acct.sid, acct.token), timeout=10)
        assert listed.status_code == 200
        assert secret not in listed.text
        assert all("secret" not in k for k in listed.json()["keys"])
        assert sid in {k["sid"] for k in listed.json()["keys"]}

    # twilio-python's KeyInstance has no secret either.
    key = client.api.v2010.accounts(acct.sid).keys(new.sid).fetch()
    assert key.sid == new.sid and key.friendly_name == "ci deploy"
    assert not hasattr(key, "secret")

    # Each key gets its own secret.
    assert created["secret"] != new.secret


def test_key_authenticates_messages_and_media(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("keys-use")
    key_sid, secret = create_key(server, acct)
    client = twilio_client(server, key_sid, secret, acct.sid)

    body = png_bytes(2048)
    url = files.add("/keys/use.png", body)
    sent = client.messages.create(to=TO, from_=FROM, body="via key", media_url=[url])
    assert sent.account_sid == acct.sid and sent.status == "queued"
    # The media are fetched after the create answered (as at Twilio); the count shows once stored.
    assert settled_message(server, acct, sent.sid)["num_media"] == "1"
    assert sent.sid in {m.sid for m in client.messages.list(limit=20)}
    assert client.messages(sent.sid).fetch().body == "via key"

    media = client.messages(sent.sid).media.list()
    assert len(media) == 1
    content = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{sent.sid}/Media/{media[0].sid}"
    first = requests.get(content, auth=(key_sid, secret), allow_redirects=False, timeout=10)
    assert first.status_code == 307
    assert "/_media/secure/" in first.headers["Location"]
    downloaded = requests.get(content, auth=(key_sid, secret), timeout=10)
    assert downloaded.status_code == 200 and downloaded.content == body

    # The action is recorded under the key, not the account.
    client.messages(sent.sid).delete()
    with server.runtime.sessions() as session:
        actors = set(
            session.scalars(
                select(AuditEvent.actor).where(
                    AuditEvent.account_sid == acct.sid, AuditEvent.action == "message.delete"
                )
            )
        )
    assert actors == {key_sid}


def test_list_pages(server: RunningServer) -> None:
    acct = server.new_account("keys-paging")
    created = {create_key(server, acct, f"k{i}")[0] for i in range(5)}
    client = twilio_client(server, acct.sid, acct.token)
    listed = client.api.v2010.accounts(acct.sid).keys.list(page_size=2)
    assert [k.sid for k in listed if k.sid in created] == [k.sid for k in listed]
    assert {k.sid for k in listed} == created
    assert len(listed) == 5

    # The raw envelope walks 2 + 2 + 1 and never repeats a key.
    seen: list[str] = []
    next_uri: str | None = f"/2010-04-01/Accounts/{acct.sid}/Keys.json?PageSize=2"
    pages = 0
    while next_uri:
        r = requests.get(server.base_url + next_uri, auth=(acct.sid, acct.token), timeout=10)
        assert r.status_code == 200
        page = r.json()
        assert page["page_size"] == 2 and page["page"] == pages
        assert set(page) == {
            "first_page_uri",
            "end",
            "previous_page_uri",
            "keys",
            "uri",
            "page_size",
            "start",
            "next_page_uri",
            "page",
        }
        seen += [k["sid"] for k in page["keys"]]
        next_uri = page["next_page_uri"]
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5 and set(seen) == created

    # Newest first.
    assert listed[0].date_created >= listed[-1].date_created


def test_update_friendly_name(server: RunningServer) -> None:
    acct = server.new_account("keys-update")
    key_sid, secret = create_key(server, acct, "before")
    keys = twilio_client(server, acct.sid, acct.token).api.v2010.accounts(acct.sid).keys
    updated = keys(key_sid).update(friendly_name="after")
    assert updated.sid == key_sid and updated.friendly_name == "after"
    assert keys(key_sid).fetch().friendly_name == "after"

    too_long = requests.post(
        keys_url(server, acct.sid, key_sid),
        data={"FriendlyName": "x" * 65},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert_twilio_error(too_long, 400, 20001)
    assert keys(key_sid).fetch().friendly_name == "after"

    # Renaming does not touch the secret.
    r = requests.get(keys_url(server, acct.sid), auth=(key_sid, secret), timeout=10)
    assert r.status_code == 403  # a standard key, but authenticated
    ok = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json", auth=(key_sid, secret), timeout=10
    )
    assert ok.status_code == 200


def test_deleted_key_fails_at_once(server: RunningServer) -> None:
    acct = server.new_account("keys-delete")
    key_sid, secret = create_key(server, acct)
    messages = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json"
    assert requests.get(messages, auth=(key_sid, secret), timeout=10).status_code == 200

    keys = twilio_client(server, acct.sid, acct.token).api.v2010.accounts(acct.sid).keys
    assert keys(key_sid).delete() is True

    # The very next request with the key is refused.
    assert_401(requests.get(messages, auth=(key_sid, secret), timeout=10))
    assert_list_refused(twilio_client(server, key_sid, secret, acct.sid), 401, 20003)
    with pytest.raises(TwilioRestException) as info:
        twilio_client(server, key_sid, secret, acct.sid).messages.create(to=TO, from_=FROM, body="x")
    assert info.value.status == 401 and info.value.code == 20003

    # Gone from the API and the database.
    with pytest.raises(TwilioRestException) as gone:
        keys(key_sid).fetch()
    assert gone.value.status == 404 and gone.value.code == 20404
    assert key_sid not in {k.sid for k in keys.list()}
    with server.runtime.sessions() as session:
        assert session.get(ApiKey, key_sid) is None
    again = requests.delete(keys_url(server, acct.sid, key_sid), auth=(acct.sid, acct.token), timeout=10)
    assert_twilio_error(again, 404, 20404)


def test_standard_key_cannot_manage_keys_but_can_send(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("keys-standard")
    key_sid, secret = create_key(server, acct)
    victim_sid, _ = create_key(server, acct, "victim")
    as_key = (key_sid, secret)

    cases = [
        requests.post(keys_url(server, acct.sid), data={"FriendlyName": "escalate"}, auth=as_key, timeout=10),
        requests.get(keys_url(server, acct.sid), auth=as_key, timeout=10),
        requests.get(keys_url(server, acct.sid, victim_sid), auth=as_key, timeout=10),
        requests.post(
            keys_url(server, acct.sid, victim_sid), data={"FriendlyName": "x"}, auth=as_key, timeout=10
        ),
        requests.delete(keys_url(server, acct.sid, victim_sid), auth=as_key, timeout=10),
        requests.delete(keys_url(server, acct.sid, key_sid), auth=as_key, timeout=10),
    ]
    for r in cases:
        body = assert_twilio_error(r, 403, 70051)
        assert body["message"] == "Authorization Failed"

    # The same through twilio-python.
    key_client = twilio_client(server, key_sid, secret, acct.sid)
    with pytest.raises(TwilioRestException) as info:
        key_client.api.v2010.accounts(acct.sid).new_keys.create(friendly_name="escalate")
    assert info.value.status == 403 and info.value.code == 70051

    # Nothing changed.
    with server.runtime.sessions() as session:
        rows = session.scalars(select(ApiKey).where(ApiKey.account_sid == acct.sid)).all()
    assert {(k.sid, k.friendly_name) for k in rows} == {(key_sid, "k"), (victim_sid, "victim")}

    # But it sends messages.
    url = files.add("/keys/standard.png", png_bytes(900))
    sent = key_client.messages.create(to=TO, from_=FROM, media_url=[url])
    assert sent.status == "queued"
    assert settled_message(server, acct, sent.sid)["num_media"] == "1"  # fetched after the create answered


def test_wrong_pairings_are_401_without_saying_which_half(server: RunningServer) -> None:
    acct = server.new_account("keys-pairs")
    key_sid, secret = create_key(server, acct)
    url = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json"
    bodies = []
    for user, password in [
        (key_sid, secret[:-1] + ("A" if secret[-1] != "A" else "B")),  # wrong secret
        (key_sid, acct.token),  # key sid with the auth token
        (acct.sid, secret),  # account sid with the key secret
        (acct.sid, acct.token[:-1]),  # wrong token
        ("SK" + "0" * 32, secret),  # unknown key sid
    ]:
        body = assert_401(requests.get(url, auth=(user, password), timeout=10))
        bodies.append(body)
        # twilio-python sees the same.
        client = twilio_client(server, user, password, acct.sid)
        assert_list_refused(client, 401, 20003)
        with pytest.raises(TwilioRestException) as info:
            client.messages.create(to=TO, from_=FROM, body="never sent")
        assert info.value.status == 401 and info.value.code == 20003
    # Every wrong pairing gets the identical body: nothing hints at which half was wrong.
    assert all(b == bodies[0] for b in bodies)
    assert bodies[0]["message"] == "Authenticate"
    # The right pairing works.
    assert requests.get(url, auth=(key_sid, secret), timeout=10).status_code == 200


def test_key_of_another_account_is_not_found_on_own_path(server: RunningServer) -> None:
    a = server.new_account("keys-a")
    b = server.new_account("keys-b")
    b_key, _ = create_key(server, b, "b's key")
    for method, data in [("GET", None), ("POST", {"FriendlyName": "stolen"}), ("DELETE", None)]:
        r = requests.request(
            method, keys_url(server, a.sid, b_key), data=data, auth=(a.sid, a.token), timeout=10
        )
        body = assert_twilio_error(r, 404, 20404)
        assert "b's key" not in r.text and "secret" not in body
    with server.runtime.sessions() as session:
        row = session.get(ApiKey, b_key)
        assert row is not None and row.friendly_name == "b's key"
