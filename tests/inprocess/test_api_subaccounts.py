"""Subaccounts with the app in process (tests/support/api_inprocess.py) on SQLite and PostgreSQL:
twilio-python for the Accounts resource, ``requests`` where the status, code or body matter, the
database and disk for what is stored. Moved from tests/e2e/test_subaccounts.py with the assertions
unchanged: these are the API's rules; a sample over a real server stays there."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import func, select
from twilio.base.exceptions import TwilioRestException

from mediagate.db.models import Media, Message
from mediagate.media import media as media_service
from tests.support import restricted
from tests.support.api_inprocess import LOCAL_SHAPES, ApiServer, shape_server
from tests.support.cli import run_cli
from tests.support.clients import assert_twilio_error, standard_key, twilio_client
from tests.support.fileserver import png_bytes
from tests.support.schema import assert_matches_schema
from tests.support.server import Account
from tests.support.shapes import shape_id

TO, FROM = "+15551230001", "+15557650001"
ACCOUNT_SCHEMA = "api.v2010.account"
Creds = tuple[str, str]


# --------------------------------------------------------------------------- helpers


RunningServer = ApiServer  # the moved tests' annotations


@pytest.fixture(scope="module", params=LOCAL_SHAPES, ids=shape_id)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with shape_server(request, tmp_path_factory) as srv:
        yield srv


def assert_401(r: requests.Response) -> None:
    assert_twilio_error(r, 401, 20003)
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="Twilio API"'


def main_key(server: RunningServer, acct: Account) -> Creds:
    """tests/support/clients.main_key's command through typer's runner (tests/support/cli.py):
    main keys come only from the CLI, as at Twilio's console; the executable's run is in
    tests/e2e/test_keys.py and tests/e2e/test_subaccounts.py."""
    out = run_cli(server.env, "keys", "create", acct.sid, "--kind", "main", "--json")
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout.strip().splitlines()[-1])
    assert created["sid"].startswith("SK")
    return created["sid"], created["secret"]


def accounts_url(server: RunningServer, sid: str | None = None) -> str:
    base = f"{server.base_url}/2010-04-01/Accounts"
    return f"{base}/{sid}.json" if sid else f"{base}.json"


def new_subaccount(server: RunningServer, parent: Account, name: str) -> Account:
    r = requests.post(
        accounts_url(server), data={"FriendlyName": name}, auth=(parent.sid, parent.token), timeout=10
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["owner_account_sid"] == parent.sid
    return Account(body["sid"], body["auth_token"])


class Seeded(restricted.Seeded):
    """One message with one PNG media item, arranged through the services
    (tests/support/restricted.py), and what these tests ask of it."""

    def media_rows(self) -> int:
        with self.server.runtime.sessions() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(Media).where(Media.account_sid == self.acct.sid)
                )
                or 0
            )

    def endpoints(self) -> list[tuple[str, str, str, dict[str, str] | None, int]]:
        """(name, method, url, form, success status) for the account's resources."""
        msg = f"{self.base}/Messages/{self.message_sid}"
        settings = f"{self.server.base_url}/v1/Accounts/{self.acct.sid}/MessagingSettings"
        return [
            ("messages.list", "GET", f"{self.base}/Messages.json", None, 200),
            (
                "messages.create",
                "POST",
                f"{self.base}/Messages.json",
                {"To": TO, "From": FROM, "Body": "x"},
                201,
            ),
            ("messages.fetch", "GET", f"{msg}.json", None, 200),
            ("media.list", "GET", f"{msg}/Media.json", None, 200),
            ("media.fetch", "GET", f"{msg}/Media/{self.media_sid}.json", None, 200),
            ("media.content", "GET", self.content_url, None, 307),
            ("settings.read", "GET", settings, None, 200),
            ("settings.write", "POST", settings, {"EnforceMediaHttpAuth": "true"}, 200),
            ("account.fetch", "GET", accounts_url(self.server, self.acct.sid), None, 200),
            ("keys.list", "GET", f"{self.base}/Keys.json", None, 200),
            ("iam.keys.list", "GET", f"{self.server.base_url}/v1/Keys?AccountSid={self.acct.sid}", None, 200),
        ]


def call(method: str, url: str, data: dict[str, str] | None, creds: Creds) -> requests.Response:
    return requests.request(method, url, data=data, auth=creds, allow_redirects=False, timeout=10)


# --------------------------------------------------------------------------- create / list / fetch / update


def test_create_list_fetch_update_with_twilio_python(server: RunningServer) -> None:
    parent = server.new_account("sub-parent")
    client = twilio_client(server, parent.sid, parent.token)

    sub = client.api.v2010.accounts.create(friendly_name="tenant one")
    assert sub.sid is not None and sub.sid.startswith("AC") and sub.sid != parent.sid
    assert sub.owner_account_sid == parent.sid
    assert sub.friendly_name == "tenant one"
    assert sub.status == "active"
    assert sub.auth_token and re.fullmatch(r"[0-9a-f]{32}", sub.auth_token)
    assert sub.date_created is not None

    listed = {a.sid: a for a in client.api.v2010.accounts.list()}
    assert set(listed) == {parent.sid, sub.sid}
    assert listed[parent.sid].owner_account_sid == parent.sid  # a parent is its own owner
    assert listed[sub.sid].owner_account_sid == parent.sid

    fetched = client.api.v2010.accounts(sub.sid).fetch()
    assert fetched.friendly_name == "tenant one" and fetched.auth_token == sub.auth_token

    renamed = client.api.v2010.accounts(sub.sid).update(friendly_name="tenant 1")
    assert renamed.friendly_name == "tenant 1"
    assert client.api.v2010.accounts(sub.sid).fetch().friendly_name == "tenant 1"

    # The new subaccount's token works on its own resources at once.
    own = twilio_client(server, sub.sid, sub.auth_token)
    assert own.messages.list() == []
    assert [a.sid for a in own.api.v2010.accounts.list()] == [sub.sid]


def test_bodies_validate_against_twilios_account_schema(server: RunningServer) -> None:
    parent = server.new_account("sub-schema")
    auth = (parent.sid, parent.token)
    created = requests.post(accounts_url(server), data={"FriendlyName": "schema"}, auth=auth, timeout=10)
    assert created.status_code == 201
    assert_matches_schema(created.json(), ACCOUNT_SCHEMA)
    sub_sid = created.json()["sid"]
    assert created.json()["uri"] == f"/2010-04-01/Accounts/{sub_sid}.json"
    assert created.json()["subresource_uris"]["messages"] == f"/2010-04-01/Accounts/{sub_sid}/Messages.json"

    for r in (
        requests.get(accounts_url(server, sub_sid), auth=auth, timeout=10),
        requests.get(accounts_url(server, parent.sid), auth=auth, timeout=10),
        requests.post(
            accounts_url(server, sub_sid), data={"FriendlyName": "schema 2"}, auth=auth, timeout=10
        ),
    ):
        assert r.status_code == 200, r.text
        assert_matches_schema(r.json(), ACCOUNT_SCHEMA)

    listed = requests.get(accounts_url(server), auth=auth, timeout=10)
    assert listed.status_code == 200
    page = listed.json()
    assert page["page"] == 0 and page["uri"].startswith("/2010-04-01/Accounts.json")
    assert {a["sid"] for a in page["accounts"]} == {parent.sid, sub_sid}
    for item in page["accounts"]:
        assert_matches_schema(item, ACCOUNT_SCHEMA)


def test_list_filters_by_friendly_name_and_status(server: RunningServer) -> None:
    parent = server.new_account("sub-filter")
    auth = (parent.sid, parent.token)
    a = new_subaccount(server, parent, "alpha")
    b = new_subaccount(server, parent, "beta")
    assert requests.post(accounts_url(server, b.sid), data={"Status": "suspended"}, auth=auth, timeout=10).ok

    def sids(**params: str) -> set[str]:
        r = requests.get(accounts_url(server), params=params, auth=auth, timeout=10)
        assert r.status_code == 200, r.text
        return {x["sid"] for x in r.json()["accounts"]}

    assert sids(FriendlyName="alpha") == {a.sid}
    assert sids(Status="suspended") == {b.sid}
    assert sids(Status="active") == {parent.sid, a.sid}
    assert_twilio_error(
        requests.get(accounts_url(server), params={"Status": "gone"}, auth=auth, timeout=10), 400, 20001
    )


def test_create_without_friendly_name_gets_a_default(server: RunningServer) -> None:
    parent = server.new_account("sub-default")
    r = requests.post(accounts_url(server), auth=(parent.sid, parent.token), timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["friendly_name"].startswith("SubAccount Created at ")


def test_friendly_name_too_long_is_400(server: RunningServer) -> None:
    parent = server.new_account("sub-long")
    auth = (parent.sid, parent.token)
    assert_twilio_error(
        requests.post(accounts_url(server), data={"FriendlyName": "x" * 65}, auth=auth, timeout=10),
        400,
        20001,
    )
    sub = new_subaccount(server, parent, "x" * 64)  # 64 is the limit, inclusive
    r = requests.post(accounts_url(server, sub.sid), data={"FriendlyName": "y" * 65}, auth=auth, timeout=10)
    assert_twilio_error(r, 400, 20001)
    assert (
        requests.get(accounts_url(server, sub.sid), auth=auth, timeout=10).json()["friendly_name"] == "x" * 64
    )
    # Only the parent and its one subaccount exist: the refused create made nothing.
    assert len(requests.get(accounts_url(server), auth=auth, timeout=10).json()["accounts"]) == 2


def test_unknown_status_is_400(server: RunningServer) -> None:
    parent = server.new_account("sub-status")
    sub = new_subaccount(server, parent, "s")
    r = requests.post(
        accounts_url(server, sub.sid), data={"Status": "paused"}, auth=(parent.sid, parent.token), timeout=10
    )
    assert_twilio_error(r, 400, 20001)


# --------------------------------------------------------------------------- who reaches what


@pytest.mark.parametrize("credential", ["token", "main_key", "standard_key"])
def test_parent_credentials_reach_the_subaccounts_resources(server: RunningServer, credential: str) -> None:
    parent = server.new_account("sub-reach")
    sub = new_subaccount(server, parent, "reached")
    seeded = Seeded.make(server, sub)
    creds: Creds = {
        "token": lambda: (parent.sid, parent.token),
        "main_key": lambda: main_key(server, parent),
        "standard_key": lambda: standard_key(server, parent),
    }[credential]()

    for name, method, url, data, ok in seeded.endpoints():
        r = call(method, url, data, creds)
        if credential == "standard_key" and name in ("account.fetch", "keys.list", "iam.keys.list"):
            # A standard key has no account or key management, not even on a subaccount.
            assert_twilio_error(r, 403, 70051)
            continue
        assert r.status_code == ok, f"{name}: {r.status_code} {r.text}"

    # The content URL, followed, gives the bytes.
    followed = requests.get(seeded.content_url, auth=creds, timeout=10)
    assert followed.status_code == 200 and followed.content == seeded.body

    # twilio-python with the parent's credential and the subaccount's sid.
    client = twilio_client(server, creds[0], creds[1], sub.sid)
    assert seeded.message_sid in {m.sid for m in client.messages.list()}
    assert [m.sid for m in client.messages(seeded.message_sid).media.list()] == [seeded.media_sid]
    sent = client.messages.create(to=TO, from_=FROM, body="from parent")
    assert sent.account_sid == sub.sid


def test_subaccount_token_never_reaches_parent_or_sibling(server: RunningServer) -> None:
    parent = server.new_account("sub-iso")
    sub = new_subaccount(server, parent, "one")
    sibling = new_subaccount(server, parent, "two")
    targets = {"parent": Seeded.make(server, parent), "sibling": Seeded.make(server, sibling)}
    media_before = {k: t.media_rows() for k, t in targets.items()}

    sub_standard = standard_key(server, sub)
    for creds in [(sub.sid, sub.token), sub_standard, main_key(server, sub)]:
        for label, target in targets.items():
            for name, method, url, data, _ in target.endpoints():
                r = call(method, url, data, creds)
                assert r.status_code == 401, f"{label} {name} with {creds[0][:2]}: {r.status_code}"
                assert_401(r)
            # Deletes too.
            msg_url = f"{target.base}/Messages/{target.message_sid}"
            assert_401(call("DELETE", f"{msg_url}/Media/{target.media_sid}.json", None, creds))
            assert_401(call("DELETE", f"{msg_url}.json", None, creds))
        listed = requests.get(accounts_url(server), auth=creds, timeout=10)
        if creds == sub_standard:
            assert_twilio_error(listed, 403, 70051)
        else:
            assert listed.status_code == 200
            assert {a["sid"] for a in listed.json()["accounts"]} == {sub.sid}

    # Nothing changed for the targets.
    for label, target in targets.items():
        assert target.media_rows() == media_before[label]
        assert target.file().read_bytes() == target.body
        with server.runtime.sessions() as session:
            assert session.get(Message, target.message_sid) is not None
            count = session.scalar(
                select(func.count()).select_from(Message).where(Message.account_sid == target.acct.sid)
            )
            assert count == 1, label  # the refused creates made no message


def test_standard_key_cannot_list_or_create_accounts(server: RunningServer) -> None:
    parent = server.new_account("sub-std")
    creds = standard_key(server, parent)
    assert_twilio_error(requests.get(accounts_url(server), auth=creds, timeout=10), 403, 70051)
    assert_twilio_error(
        requests.post(accounts_url(server), data={"FriendlyName": "no"}, auth=creds, timeout=10), 403, 70051
    )
    assert_twilio_error(requests.get(accounts_url(server, parent.sid), auth=creds, timeout=10), 403, 70051)
    # twilio-python surfaces the instance refusal as TwilioRestException.
    client = twilio_client(server, creds[0], creds[1], parent.sid)
    with pytest.raises(TwilioRestException) as info:
        client.api.v2010.accounts.create(friendly_name="no")
    assert info.value.status == 403 and info.value.code == 70051
    # Nothing was created.
    listed = requests.get(accounts_url(server), auth=(parent.sid, parent.token), timeout=10).json()[
        "accounts"
    ]
    assert [a["sid"] for a in listed] == [parent.sid]


def test_main_key_manages_subaccounts(server: RunningServer) -> None:
    parent = server.new_account("sub-main")
    creds = main_key(server, parent)
    created = requests.post(accounts_url(server), data={"FriendlyName": "by main"}, auth=creds, timeout=10)
    assert created.status_code == 201, created.text
    sub_sid = created.json()["sid"]
    r = requests.post(accounts_url(server, sub_sid), data={"Status": "suspended"}, auth=creds, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "suspended"


def test_subaccount_cannot_create_subaccounts(server: RunningServer) -> None:
    parent = server.new_account("sub-nest")
    sub = new_subaccount(server, parent, "child")
    r = requests.post(
        accounts_url(server), data={"FriendlyName": "grandchild"}, auth=(sub.sid, sub.token), timeout=10
    )
    assert_twilio_error(r, 403, 20403)
    client = twilio_client(server, sub.sid, sub.token)
    with pytest.raises(TwilioRestException) as info:
        client.api.v2010.accounts.create(friendly_name="grandchild")
    assert info.value.status == 403
    listed = requests.get(accounts_url(server), auth=(parent.sid, parent.token), timeout=10).json()[
        "accounts"
    ]
    assert {a["sid"] for a in listed} == {parent.sid, sub.sid}


def test_subaccount_cannot_change_its_own_status_but_may_rename(server: RunningServer) -> None:
    parent = server.new_account("sub-self")
    sub = new_subaccount(server, parent, "self")
    auth = (sub.sid, sub.token)
    for status in ("suspended", "closed"):
        assert_twilio_error(
            requests.post(accounts_url(server, sub.sid), data={"Status": status}, auth=auth, timeout=10),
            403,
            20403,
        )
    r = requests.get(accounts_url(server, sub.sid), auth=auth, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "active"
    # A parent cannot change its own status through the API either.
    r = requests.post(
        accounts_url(server, parent.sid),
        data={"Status": "suspended"},
        auth=(parent.sid, parent.token),
        timeout=10,
    )
    assert_twilio_error(r, 403, 20403)
    # Renaming itself is fine.
    r = requests.post(accounts_url(server, sub.sid), data={"FriendlyName": "renamed"}, auth=auth, timeout=10)
    assert r.status_code == 200 and r.json()["friendly_name"] == "renamed"
    # The subaccount cannot fetch or change its parent.
    assert_401(requests.get(accounts_url(server, parent.sid), auth=auth, timeout=10))
    assert_401(
        requests.post(accounts_url(server, parent.sid), data={"FriendlyName": "x"}, auth=auth, timeout=10)
    )


# --------------------------------------------------------------------------- suspend / reactivate / close


def test_suspend_then_reactivate(server: RunningServer) -> None:
    parent = server.new_account("sub-suspend")
    sub = new_subaccount(server, parent, "suspended one")
    seeded = Seeded.make(server, sub)
    sub_key = standard_key(server, sub)
    parent_key = standard_key(server, parent)
    parent_client = twilio_client(server, parent.sid, parent.token)

    suspended = parent_client.api.v2010.accounts(sub.sid).update(status="suspended")
    assert suspended.status == "suspended"

    # The subaccount's own credentials fail everywhere.
    for creds in [(sub.sid, sub.token), sub_key]:
        for _, method, url, data, _ in seeded.endpoints():
            assert_401(call(method, url, data, creds))
    # The parent's credentials reach the account record but not its resources.
    for creds in [(parent.sid, parent.token), parent_key]:
        for name, method, url, data, _ in seeded.endpoints():
            if name in ("account.fetch", "iam.keys.list"):
                # Management views that name no account in the path still see a
                # suspended subaccount (so its parent can reactivate it).
                continue
            r = call(method, url, data, creds)
            assert r.status_code == 401, f"{name}: {r.status_code}"
    assert parent_client.api.v2010.accounts(sub.sid).fetch().status == "suspended"

    # Its media is still stored.
    assert seeded.media_rows() == 1
    assert seeded.file().read_bytes() == seeded.body

    reactivated = parent_client.api.v2010.accounts(sub.sid).update(status="active")
    assert reactivated.status == "active"
    followed = requests.get(seeded.content_url, auth=(sub.sid, sub.token), timeout=10)
    assert followed.status_code == 200 and followed.content == seeded.body
    assert requests.get(seeded.content_url, auth=sub_key, timeout=10).content == seeded.body
    assert (
        requests.get(seeded.content_url, auth=(parent.sid, parent.token), timeout=10).content == seeded.body
    )


def test_close_deletes_media_and_is_final(server: RunningServer) -> None:
    parent = server.new_account("sub-close")
    sub = new_subaccount(server, parent, "closing")
    seeded = Seeded.make(server, sub)
    second = media_service.add(server.runtime, sub.sid, seeded.message_sid, "image/png", [png_bytes(700)])
    second_path = server.runtime.store.local_path(second.storage_key)
    assert second_path is not None and second_path.exists()
    other = Seeded.make(server, parent)  # the parent's own media is untouched
    auth = (parent.sid, parent.token)

    # A signed URL handed out before closing dies with the media.
    signed = requests.get(seeded.content_url, auth=auth, allow_redirects=False, timeout=10)
    assert signed.status_code == 307
    assert requests.get(signed.headers["Location"], timeout=10).content == seeded.body

    r = requests.post(accounts_url(server, sub.sid), data={"Status": "closed"}, auth=auth, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"
    assert_matches_schema(r.json(), ACCOUNT_SCHEMA)

    assert seeded.media_rows() == 0
    assert not seeded.file().exists()
    assert not second_path.exists()
    with server.runtime.sessions() as session:
        msg = session.get(Message, seeded.message_sid)
        assert msg is not None and msg.num_media == 0
    assert other.media_rows() == 1 and other.file().read_bytes() == other.body

    for creds in [(sub.sid, sub.token), auth]:
        for name, method, url, data, _ in seeded.endpoints():
            if name in ("account.fetch", "iam.keys.list") and creds == auth:
                continue
            assert call(method, url, data, creds).status_code == 401, name
    assert_401(requests.get(seeded.content_url, timeout=10))
    assert requests.get(signed.headers["Location"], timeout=10).status_code == 404

    for status in ("active", "suspended"):
        r = requests.post(accounts_url(server, sub.sid), data={"Status": status}, auth=auth, timeout=10)
        assert_twilio_error(r, 400, 20001)
    r = requests.get(accounts_url(server, sub.sid), auth=auth, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    listed = requests.get(accounts_url(server), params={"Status": "closed"}, auth=auth, timeout=10).json()[
        "accounts"
    ]
    assert [a["sid"] for a in listed] == [sub.sid]
