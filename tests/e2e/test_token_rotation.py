"""Auth-token rotation (Twilio's accounts v1 ``/v1/AuthTokens``) against the real server,
driven with twilio-python; ``requests`` where the status, code or body matter."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from mediagate.accounts import permissions as perms
from mediagate.db.models import Account as AccountRow
from mediagate.media import media as media_service
from mediagate.messaging import messages as message_service
from tests.support.clients import assert_twilio_error, standard_key, twilio_client
from tests.support.fileserver import png_bytes
from tests.support.schema import ACCOUNTS_V1, assert_matches_schema
from tests.support.server import Account, RunningServer

TO, FROM = "+15551230001", "+15557650001"
Creds = tuple[str, str]


# --------------------------------------------------------------------------- helpers


class Seeded:
    """One message with one auth-required PNG, arranged through the services."""

    def __init__(self, server: RunningServer, acct: Account) -> None:
        rt = server.runtime
        new = message_service.NewMessage(to=TO, from_=FROM, body="seed", media_urls=[])
        msg = message_service.create(rt, acct.sid, new, actor="test")
        self.body = png_bytes(900)
        row = media_service.add(rt, acct.sid, msg.sid, "image/png", [self.body])
        assert row.auth_required
        base = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}"
        self.messages_url = f"{base}/Messages.json"
        self.content_url = f"{base}/Messages/{msg.sid}/Media/{row.sid}"
        self.message_sid = msg.sid


def works(seeded: Seeded, creds: Creds) -> bool:
    """The credential lists messages and gets the media bytes; False if both are 401."""
    listed = requests.get(seeded.messages_url, auth=creds, timeout=10)
    content = requests.get(seeded.content_url, auth=creds, timeout=10)
    if listed.status_code == 401:
        assert_twilio_error(listed, 401, 20003)
        assert_twilio_error(content, 401, 20003)
        return False
    assert listed.status_code == 200, listed.text
    assert seeded.message_sid in [m["sid"] for m in listed.json()["messages"]]
    assert content.status_code == 200 and content.content == seeded.body
    return True


def secondary_url(server: RunningServer) -> str:
    return f"{server.base_url}/v1/AuthTokens/Secondary"


def promote_url(server: RunningServer) -> str:
    return f"{server.base_url}/v1/AuthTokens/Promote"


# --------------------------------------------------------------------------- the rotation


def test_rotate_with_twilio_python(server: RunningServer) -> None:
    acct = server.new_account("rotate")
    seeded = Seeded(server, acct)
    old = (acct.sid, acct.token)
    client = twilio_client(server, *old)

    created = client.accounts.v1.secondary_auth_token().create()
    assert created.account_sid == acct.sid
    secondary = created.secondary_auth_token
    assert secondary and re.fullmatch(r"[0-9a-f]{32}", secondary) and secondary != acct.token
    assert isinstance(created.date_created, datetime)  # twilio-python parsed Twilio's ISO 8601
    assert created.date_created.tzinfo is not None
    assert created.url == f"{server.base_url}/v1/AuthTokens/Secondary"

    # Both tokens work, for the API and the media content URL, and with twilio-python.
    assert works(seeded, old)
    assert works(seeded, (acct.sid, secondary))
    sent = twilio_client(server, acct.sid, secondary).messages.create(to=TO, from_=FROM, body="via secondary")
    assert sent.account_sid == acct.sid

    promoted = client.accounts.v1.auth_token_promotion().update()
    assert promoted.account_sid == acct.sid
    assert promoted.auth_token == secondary
    assert isinstance(promoted.date_updated, datetime)
    assert promoted.url == f"{server.base_url}/v1/AuthTokens/Promote"

    # The old primary fails from the very next request; the old secondary is the primary.
    assert not works(seeded, old)
    assert works(seeded, (acct.sid, secondary))
    with pytest.raises(TwilioRestException) as info:
        client.messages(sent.sid).fetch()
    assert info.value.status == 401 and info.value.code == 20003

    # There is no secondary any more: promoting again is refused.
    with pytest.raises(TwilioRestException) as info:
        twilio_client(server, acct.sid, secondary).accounts.v1.auth_token_promotion().update()
    assert info.value.status == 400


def test_account_shows_the_new_auth_token_after_promotion(server: RunningServer) -> None:
    acct = server.new_account("rotate-fetch")
    account_url = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}.json"
    before = requests.get(account_url, auth=(acct.sid, acct.token), timeout=10)
    assert before.status_code == 200 and before.json()["auth_token"] == acct.token

    secondary = requests.post(secondary_url(server), auth=(acct.sid, acct.token), timeout=10).json()[
        "secondary_auth_token"
    ]
    # The secondary is not the account's auth_token until promoted.
    during = requests.get(account_url, auth=(acct.sid, secondary), timeout=10)
    assert during.status_code == 200 and during.json()["auth_token"] == acct.token

    r = requests.post(promote_url(server), auth=(acct.sid, acct.token), timeout=10)
    assert r.status_code == 200, r.text
    after = requests.get(account_url, auth=(acct.sid, secondary), timeout=10)
    assert after.status_code == 200 and after.json()["auth_token"] == secondary
    assert_twilio_error(requests.get(account_url, auth=(acct.sid, acct.token), timeout=10), 401, 20003)
    # twilio-python sees the same.
    fetched = twilio_client(server, acct.sid, secondary).api.v2010.accounts(acct.sid).fetch()
    assert fetched.auth_token == secondary


def test_creating_a_secondary_twice_replaces_the_first(server: RunningServer) -> None:
    acct = server.new_account("rotate-twice")
    seeded = Seeded(server, acct)
    client = twilio_client(server, acct.sid, acct.token)
    first = client.accounts.v1.secondary_auth_token().create().secondary_auth_token
    second = client.accounts.v1.secondary_auth_token().create().secondary_auth_token
    assert first and second and first != second

    assert not works(seeded, (acct.sid, first))
    assert works(seeded, (acct.sid, second))
    assert works(seeded, (acct.sid, acct.token))

    # Promotion promotes the second; the first never comes back.
    assert client.accounts.v1.auth_token_promotion().update().auth_token == second
    assert not works(seeded, (acct.sid, first))
    assert not works(seeded, (acct.sid, acct.token))
    assert works(seeded, (acct.sid, second))


def test_deleting_the_secondary_revokes_it_at_once(server: RunningServer) -> None:
    acct = server.new_account("rotate-delete")
    seeded = Seeded(server, acct)
    client = twilio_client(server, acct.sid, acct.token)
    secondary = client.accounts.v1.secondary_auth_token().create().secondary_auth_token
    assert secondary and works(seeded, (acct.sid, secondary))

    assert client.accounts.v1.secondary_auth_token().delete() is True
    assert not works(seeded, (acct.sid, secondary))
    assert works(seeded, (acct.sid, acct.token))

    # Nothing to delete or promote any more.
    assert_twilio_error(
        requests.delete(secondary_url(server), auth=(acct.sid, acct.token), timeout=10), 404, 20404
    )
    assert_twilio_error(
        requests.post(promote_url(server), auth=(acct.sid, acct.token), timeout=10), 400, 20001
    )
    assert works(seeded, (acct.sid, acct.token))


def test_promote_without_a_secondary_is_400(server: RunningServer) -> None:
    acct = server.new_account("rotate-none")
    seeded = Seeded(server, acct)
    r = requests.post(promote_url(server), auth=(acct.sid, acct.token), timeout=10)
    body = assert_twilio_error(r, 400, 20001)
    assert "secondary" in body["message"].lower()
    client = twilio_client(server, acct.sid, acct.token)
    with pytest.raises(TwilioRestException) as info:
        client.accounts.v1.auth_token_promotion().update()
    assert info.value.status == 400 and info.value.code == 20001
    assert works(seeded, (acct.sid, acct.token))  # the primary is untouched


def test_the_secondary_token_itself_may_promote(server: RunningServer) -> None:
    acct = server.new_account("rotate-self")
    seeded = Seeded(server, acct)
    secondary = requests.post(secondary_url(server), auth=(acct.sid, acct.token), timeout=10).json()[
        "secondary_auth_token"
    ]
    r = requests.post(promote_url(server), auth=(acct.sid, secondary), timeout=10)
    assert r.status_code == 200 and r.json()["auth_token"] == secondary
    assert not works(seeded, (acct.sid, acct.token))
    assert works(seeded, (acct.sid, secondary))


def test_response_shapes_match_twilios_accounts_v1_schema(server: RunningServer) -> None:
    acct = server.new_account("rotate-schema")
    auth = (acct.sid, acct.token)
    created = requests.post(secondary_url(server), auth=auth, timeout=10)
    assert created.status_code == 201
    assert created.headers["content-type"].startswith("application/json")
    assert_matches_schema(
        created.json(), "accounts.v1.secondary_auth_token", document=ACCOUNTS_V1, exact=True, filled=True
    )
    assert created.json()["account_sid"] == acct.sid

    promoted = requests.post(promote_url(server), auth=auth, timeout=10)
    assert promoted.status_code == 200
    assert_matches_schema(
        promoted.json(), "accounts.v1.auth_token_promotion", document=ACCOUNTS_V1, exact=True, filled=True
    )
    assert promoted.json()["auth_token"] == created.json()["secondary_auth_token"]
    assert promoted.json()["url"] == f"{server.base_url}/v1/AuthTokens/Promote"

    def parse(value: str) -> datetime:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

    assert parse(promoted.json()["date_updated"]) >= parse(promoted.json()["date_created"])

    # The secondary's delete answers 204 with no body.
    again = requests.post(secondary_url(server), auth=(acct.sid, promoted.json()["auth_token"]), timeout=10)
    deleted = requests.delete(
        secondary_url(server), auth=(acct.sid, promoted.json()["auth_token"]), timeout=10
    )
    assert again.status_code == 201 and deleted.status_code == 204 and deleted.content == b""


# --------------------------------------------------------------------------- who may rotate


def test_standard_and_restricted_keys_cannot_rotate(server: RunningServer) -> None:
    acct = server.new_account("rotate-keys")
    seeded = Seeded(server, acct)
    std = standard_key(server, acct)
    r = requests.post(
        f"{server.base_url}/v1/Keys",
        data={
            "AccountSid": acct.sid,
            "KeyType": "restricted",
            "Policy": json.dumps({"allow": sorted(perms.GRANTABLE)}),
        },
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 201
    restricted = (r.json()["sid"], r.json()["secret"])

    for creds in (std, restricted):
        for method, url in (
            ("POST", secondary_url(server)),
            ("DELETE", secondary_url(server)),
            ("POST", promote_url(server)),
        ):
            assert_twilio_error(requests.request(method, url, auth=creds, timeout=10), 403, 70051)
        client = twilio_client(server, creds[0], creds[1], acct.sid)
        with pytest.raises(TwilioRestException) as info:
            client.accounts.v1.secondary_auth_token().create()
        assert info.value.status == 403 and info.value.code == 70051

    # Nothing changed: no secondary exists (promotion finds none), the primary still works.
    with server.runtime.sessions() as session:
        row = session.get(AccountRow, acct.sid)
        assert row is not None and row.secondary_token_hash is None
    assert works(seeded, (acct.sid, acct.token))
    # The keys themselves keep working after a rotation by the token.
    requests.post(secondary_url(server), auth=(acct.sid, acct.token), timeout=10)
    assert requests.post(promote_url(server), auth=(acct.sid, acct.token), timeout=10).status_code == 200
    assert works(seeded, std)


def test_rotation_touches_only_the_credentials_account(server: RunningServer) -> None:
    parent = server.new_account("rotate-parent")
    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts.json",
        data={"FriendlyName": "child"},
        auth=(parent.sid, parent.token),
        timeout=10,
    )
    assert r.status_code == 201
    sub = Account(r.json()["sid"], r.json()["auth_token"])
    parent_seeded, sub_seeded = Seeded(server, parent), Seeded(server, sub)

    # The subaccount rotates its own token; the parent's is untouched.
    sub_client = twilio_client(server, sub.sid, sub.token)
    new_sub = sub_client.accounts.v1.secondary_auth_token().create().secondary_auth_token
    assert new_sub
    sub_client.accounts.v1.auth_token_promotion().update()
    assert not works(sub_seeded, (sub.sid, sub.token))
    assert works(sub_seeded, (sub.sid, new_sub))
    assert works(parent_seeded, (parent.sid, parent.token))
    assert works(sub_seeded, (parent.sid, parent.token))  # the parent still reaches the subaccount

    # The parent's secondary reaches the subaccount too, and the parent's rotation leaves the sub alone.
    parent_client = twilio_client(server, parent.sid, parent.token)
    new_parent = parent_client.accounts.v1.secondary_auth_token().create().secondary_auth_token
    assert new_parent
    assert works(sub_seeded, (parent.sid, new_parent))
    parent_client.accounts.v1.auth_token_promotion().update()
    assert not works(parent_seeded, (parent.sid, parent.token))
    assert works(parent_seeded, (parent.sid, new_parent))
    assert works(sub_seeded, (sub.sid, new_sub))
