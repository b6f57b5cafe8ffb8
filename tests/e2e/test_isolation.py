"""Cross-account isolation against the real server, on every database.

Two accounts, A and B, each with messages, media and keys. Every endpoint that
names B (or needs a credential at all) is tried with credentials that are not
B's own valid one: A's credentials, mismatched halves of B's, garbage headers.
Each attempt must be a Twilio 401 and must leave B exactly as it was.

Here a sample crosses the process (tests/support/isolation.py: every endpoint and
every credential at least once, the fast-path media routes with every credential);
the whole matrix runs in process (tests/inprocess/test_isolation_matrix.py), the
credential forms against the authenticator (tests/unit/test_authenticator.py) and
each route's declaration against the permission table (tests/unit/test_api_routes.py).
"""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from twilio.rest import Client

from mediagate.db.models import Account as AccountRow
from mediagate.db.models import RetentionRule
from tests.support.carrier import carrier_auth
from tests.support.clients import basic
from tests.support.fileserver import FileServer, png_bytes
from tests.support.isolation import (
    B_ENDPOINTS,
    B_SAMPLE,
    CREDENTIAL_ENDPOINTS,
    CREDENTIAL_SAMPLE,
    DROPPED,
    FOREIGN,
    INVALID,
    Tenant,
    World,
    assert_b_intact,
    assert_twilio_401,
    download,
    make_world,
    send,
    snapshot,
    tenant,
)
from tests.support.server import RunningServer


@pytest.fixture(scope="module")
def world(server: RunningServer, files: FileServer) -> World:
    return make_world(server, requests.Session(), files)


@pytest.mark.parametrize(("name", "cred"), [pytest.param(n, c, id=f"{n}-{c}") for n, c in B_SAMPLE])
def test_b_endpoints_refuse_everything_but_bs_credentials(
    world: World, files: FileServer, name: str, cred: str
) -> None:
    endpoint = B_ENDPOINTS[name]
    r = send(world, endpoint, {**FOREIGN, **INVALID}[cred](world))
    assert_twilio_401(r, endpoint.method)
    assert files.hits(world.never_fetched_path) == 0
    assert_b_intact(world, endpoint.mutates)


def test_every_endpoint_accepts_its_own_accounts_credentials(
    server: RunningServer, world: World, files: FileServer
) -> None:
    """The control for the matrix: with the account's own token every endpoint
    does its job, so the 401s above are about the credential, not a broken route."""
    c = tenant(world.server, world.http, files, "iso-c")
    path = f"/iso/{c.acct.sid}/fetched.png"
    as_c = dataclasses.replace(
        world, b=c, never_fetched=files.add(path, png_bytes(700)), never_fetched_path=path
    )
    header = basic(c.acct.sid, c.acct.token)
    deletes = ["Media delete", "Legacy media delete", "Message delete", "Key delete", "Number delete"]
    order = [n for n in B_ENDPOINTS if n not in deletes] + deletes
    for name in order:
        endpoint = B_ENDPOINTS[name]
        # Carrier ingress is the carrier's, not a tenant's: its control is the carrier credential.
        own = basic(*carrier_auth(server)) if name.startswith("Carrier inbound") else header
        r = send(as_c, endpoint, own)
        if name == "Account update":
            # Accepted as C, refused for what it asks: only a parent suspends an account.
            assert r.status_code == 403 and r.json()["code"] == 20403, r.text
        else:
            assert r.status_code in (200, 201, 204, 307), (name, r.status_code, r.text)
    assert files.hits(path) == 2  # Messages create and the carrier's inbound fetched it
    with world.server.runtime.sessions() as session:
        row = session.get(AccountRow, c.acct.sid)
        assert row is not None and row.enforce_media_http_auth is False  # the settings POST applied
        rule = session.get(RetentionRule, c.acct.sid)
        assert rule is not None and rule.days_after_last_access == 3650  # the retention POST applied
    assert_b_intact(world, mutated=True)


@pytest.mark.parametrize(("name", "cred"), [pytest.param(n, c, id=f"{n}-{c}") for n, c in CREDENTIAL_SAMPLE])
def test_credential_endpoints_refuse_invalid_credentials(world: World, name: str, cred: str) -> None:
    endpoint = CREDENTIAL_ENDPOINTS[name]
    r = send(world, endpoint, INVALID[cred](world))
    assert_twilio_401(r, endpoint.method)
    assert_b_intact(world, endpoint.mutates)
    # Nothing happened to A either (mixes use A's halves).
    assert (
        requests.get(
            f"{world.server.base_url}/2010-04-01/Accounts/{world.a.acct.sid}/Messages.json",
            auth=(world.a.acct.sid, world.a.acct.token),
            timeout=10,
        ).status_code
        == 200
    )


def test_legacy_media_is_public_only_to_anonymous(world: World) -> None:
    url = (
        f"{world.server.base_url}/2010-04-01/Accounts/{world.b.acct.sid}/Messages/"
        f"{world.b.legacy_message_sid}/Media/{world.b.legacy_media_sid}"
    )
    anon = requests.get(url, allow_redirects=False, timeout=10)
    assert anon.status_code == 307
    empty = requests.get(url, headers={"Authorization": ""}, allow_redirects=False, timeout=10)
    assert empty.status_code == 307 and empty.headers["Location"] == anon.headers["Location"]
    assert (
        urlsplit(anon.headers["Location"]).path
        == f"/_media/public/{world.b.acct.sid}/{world.b.legacy_media_sid}"
    )
    # A header the server drops (not visible ASCII) is no credential: the anonymous answer.
    for cred in DROPPED:
        dropped = requests.get(
            url, headers={"Authorization": INVALID[cred](world)}, allow_redirects=False, timeout=10
        )
        assert dropped.status_code == 307 and dropped.headers["Location"] == anon.headers["Location"], cred
    # Credentials, when sent, must be B's even for public media.
    assert_twilio_401(requests.get(url, auth=(world.a.acct.sid, world.a.acct.token), timeout=10), "GET")
    assert requests.get(url, auth=(world.b.acct.sid, world.b.acct.token), timeout=10).status_code == 200


# --------------------------------------------------------------------------- B's sids under A's path


def _a_paths(w: World) -> list[tuple[str, str, dict[str, str] | None]]:
    a, b = f"/2010-04-01/Accounts/{w.a.acct.sid}", w.b
    return [
        ("GET", f"{a}/Messages/{b.message_sid}.json", None),
        ("DELETE", f"{a}/Messages/{b.message_sid}.json", None),
        ("GET", f"{a}/Messages/{b.message_sid}/Media.json", None),
        ("GET", f"{a}/Messages/{b.message_sid}/Media/{b.media_sid}.json", None),
        ("DELETE", f"{a}/Messages/{b.message_sid}/Media/{b.media_sid}.json", None),
        ("GET", f"{a}/Messages/{b.message_sid}/Media/{b.media_sid}", None),
        ("HEAD", f"{a}/Messages/{b.message_sid}/Media/{b.media_sid}", None),
        ("GET", f"{a}/Messages/{b.legacy_message_sid}/Media/{b.legacy_media_sid}", None),
        # A's own message with B's media sid.
        ("GET", f"{a}/Messages/{w.a.message_sid}/Media/{b.media_sid}.json", None),
        ("DELETE", f"{a}/Messages/{w.a.message_sid}/Media/{b.media_sid}.json", None),
        ("GET", f"{a}/Messages/{w.a.message_sid}/Media/{b.media_sid}", None),
        ("GET", f"{a}/Messages/{w.a.message_sid}/Media/{b.legacy_media_sid}", None),
        # B's message with A's media sid.
        ("GET", f"{a}/Messages/{b.message_sid}/Media/{w.a.media_sid}", None),
        # B's number.
        ("GET", f"{a}/IncomingPhoneNumbers/{b.number_sid}.json", None),
        ("POST", f"{a}/IncomingPhoneNumbers/{b.number_sid}.json", {"SmsUrl": "http://127.0.0.1:9/x"}),
        ("DELETE", f"{a}/IncomingPhoneNumbers/{b.number_sid}.json", None),
    ]


def _a_key_paths(w: World) -> list[tuple[str, str, dict[str, str] | None]]:
    a = f"/2010-04-01/Accounts/{w.a.acct.sid}"
    return [
        ("GET", f"{a}/Keys/{w.b.key_sid}.json", None),
        ("POST", f"{a}/Keys/{w.b.key_sid}.json", {"FriendlyName": "pwned"}),
        ("DELETE", f"{a}/Keys/{w.b.key_sid}.json", None),
        ("GET", f"/v1/Keys/{w.b.key_sid}", None),
        ("POST", f"/v1/Keys/{w.b.key_sid}", {"FriendlyName": "pwned"}),
        ("DELETE", f"/v1/Keys/{w.b.key_sid}", None),
    ]


def _assert_not_found_without_b_data(w: World, r: requests.Response, method: str) -> None:
    assert r.status_code == 404, (method, r.url, r.status_code, r.text)
    assert "Location" not in r.headers
    if method != "HEAD":
        body = r.json()
        assert body["code"] == 20404 and body["status"] == 404
        for secret in ("iso-b private body", "iso-b standard", "iso-b line", w.b.key_secret, w.b.acct.token):
            assert secret not in r.text
    assert w.b.media_bytes not in r.content


@pytest.mark.parametrize("who", ["token", "main key", "standard key"])
def test_a_cannot_reach_bs_sids_under_its_own_path(world: World, who: str) -> None:
    a = world.a
    auth = {
        "token": (a.acct.sid, a.acct.token),
        "main key": (a.main_key_sid, a.main_key_secret),
        "standard key": (a.key_sid, a.key_secret),
    }[who]
    for method, path, data in _a_paths(world):
        r = requests.request(
            method, world.server.base_url + path, data=data, auth=auth, allow_redirects=False, timeout=10
        )
        _assert_not_found_without_b_data(world, r, method)
    for method, path, data in _a_key_paths(world):
        r = requests.request(method, world.server.base_url + path, data=data, auth=auth, timeout=10)
        if who == "standard key":
            # Not allowed to manage keys at all: refused before any lookup.
            assert r.status_code == 403 and r.json()["code"] == 70051, r.text
            assert "iso-b" not in r.text
        else:
            _assert_not_found_without_b_data(world, r, method)
    assert_b_intact(world, mutated=True)


def test_a_sees_only_its_own_data_in_lists(world: World) -> None:
    a, b = world.a, world.b
    auth = (a.acct.sid, a.acct.token)
    base = f"{world.server.base_url}/2010-04-01/Accounts/{a.acct.sid}"
    msgs = requests.get(f"{base}/Messages.json?PageSize=1000", auth=auth, timeout=10).json()["messages"]
    assert {m["account_sid"] for m in msgs} == {a.acct.sid}
    assert b.message_sid not in {m["sid"] for m in msgs}
    keys_listed = requests.get(f"{base}/Keys.json", auth=auth, timeout=10).json()["keys"]
    assert {k["sid"] for k in keys_listed} == {a.key_sid, a.main_key_sid}
    accounts = requests.get(f"{world.server.base_url}/2010-04-01/Accounts.json", auth=auth, timeout=10)
    assert [x["sid"] for x in accounts.json()["accounts"]] == [a.acct.sid]
    iam = requests.get(f"{world.server.base_url}/v1/Keys?AccountSid={a.acct.sid}", auth=auth, timeout=10)
    assert {k["sid"] for k in iam.json()["keys"]} == {a.key_sid, a.main_key_sid}
    nums = requests.get(f"{base}/IncomingPhoneNumbers.json", auth=auth, timeout=10).json()
    assert [n["sid"] for n in nums["incoming_phone_numbers"]] == [a.number_sid]
    # Filtering A's webhook deliveries by B's message finds nothing.
    deliveries = requests.get(
        f"{world.server.base_url}/v1/Accounts/{a.acct.sid}/WebhookDeliveries?MessageSid={b.message_sid}",
        auth=auth,
        timeout=10,
    )
    assert deliveries.status_code == 200 and deliveries.json()["webhook_deliveries"] == []


# --------------------------------------------------------------------------- signed URLs


def _signed(w: World, t: Tenant, message_sid: str, media_sid: str) -> str:
    url = f"{w.server.base_url}/2010-04-01/Accounts/{t.acct.sid}/Messages/{message_sid}/Media/{media_sid}"
    r = requests.get(url, auth=(t.acct.sid, t.acct.token), allow_redirects=False, timeout=10)
    assert r.status_code == 307
    location: str = r.headers["Location"]
    assert urlsplit(location).path.startswith("/_media/secure/")
    return location


def _with_path(url: str, path: str) -> str:
    return urlsplit(url)._replace(path=path).geturl()


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def test_signed_urls_cannot_be_retargeted(world: World) -> None:
    a, b = world.a, world.b
    b_url = _signed(world, b, b.message_sid, b.media_sid)
    a_url = _signed(world, a, a.message_sid, a.media_sid)
    # Controls: each URL serves its own bytes, with no credentials.
    assert requests.get(b_url, timeout=10).content == b.media_bytes
    assert requests.get(a_url, timeout=10).content == a.media_bytes

    b_query = dict(parse_qsl(urlsplit(b_url).query))
    a_query = dict(parse_qsl(urlsplit(a_url).query))
    forged = [
        _with_path(b_url, f"/_media/secure/{a.acct.sid}/{b.media_sid}"),  # B's media under A's account
        _with_path(b_url, f"/_media/secure/{a.acct.sid}/{a.media_sid}"),  # A's media with B's signature
        _with_path(b_url, f"/_media/secure/{b.acct.sid}/{b.legacy_media_sid}"),  # another of B's media
        _with_path(b_url, f"/_media/secure/{b.acct.sid}/{a.media_sid}"),
        _with_path(a_url, f"/_media/secure/{b.acct.sid}/{b.media_sid}"),  # A's signature on B's media
        _with_path(a_url, f"/_media/secure/{a.acct.sid}/{b.media_sid}"),
        _with_path(b_url, f"/_media/secure/{b.acct.sid}/{b.media_sid.upper()}"),
        _with_path(b_url, f"/_media/secure/{b.acct.sid.upper()}/{b.media_sid}"),
        _with_query(b_url, Signature=a_query["Signature"]),
        _with_query(b_url, Expires=str(int(b_query["Expires"]) + 3600)),
        _with_query(a_url, Signature=b_query["Signature"], Expires=b_query["Expires"]),
    ]
    for url in forged:
        r = requests.get(url, timeout=10)
        assert r.status_code == 403, (url, r.status_code)
        assert r.json()["reason"] == "invalid"
        assert b.media_bytes not in r.content and a.media_bytes not in r.content
    # The secured media is not on the public host under any account.
    for path in (
        f"/_media/public/{b.acct.sid}/{b.media_sid}",
        f"/_media/public/{a.acct.sid}/{b.media_sid}",
        f"/_media/public/{a.acct.sid}/{b.legacy_media_sid}",
    ):
        r = requests.get(world.server.base_url + path, timeout=10)
        assert r.status_code == 404
        assert b.media_bytes not in r.content
    # The originals still work.
    assert requests.get(b_url, timeout=10).content == b.media_bytes
    assert_b_intact(world, mutated=False)


# --------------------------------------------------------------------------- subaccounts


def test_subaccount_credentials_never_reach_the_parent_or_a_sibling(world: World) -> None:
    server, a = world.server, world.a
    made = []
    for name in ("iso-child-1", "iso-child-2"):
        r = requests.post(
            f"{server.base_url}/2010-04-01/Accounts.json",
            data={"FriendlyName": name},
            auth=(a.acct.sid, a.acct.token),
            timeout=10,
        )
        assert r.status_code == 201, r.text
        made.append((r.json()["sid"], r.json()["auth_token"]))
    (c1, t1), (c2, _) = made
    ok = requests.get(f"{server.base_url}/2010-04-01/Accounts/{c1}/Messages.json", auth=(c1, t1), timeout=10)
    assert ok.status_code == 200
    # The parent reaches its subaccount.
    assert (
        requests.get(
            f"{server.base_url}/2010-04-01/Accounts/{c1}/Messages.json",
            auth=(a.acct.sid, a.acct.token),
            timeout=10,
        ).status_code
        == 200
    )
    for target in (a.acct.sid, c2, world.b.acct.sid):
        for path in (
            f"/2010-04-01/Accounts/{target}/Messages.json",
            f"/2010-04-01/Accounts/{target}/Keys.json",
            f"/v1/Accounts/{target}/MessagingSettings",
            f"/v1/Accounts/{target}/MediaRetention",
        ):
            assert_twilio_401(requests.get(server.base_url + path, auth=(c1, t1), timeout=10), "GET")
    # B, a stranger, does not reach A's subaccount.
    assert_twilio_401(
        requests.get(
            f"{server.base_url}/2010-04-01/Accounts/{c1}/Messages.json",
            auth=(world.b.acct.sid, world.b.acct.token),
            timeout=10,
        ),
        "GET",
    )
    assert_b_intact(world, mutated=False)


def test_b_is_intact_and_its_credentials_still_work(world: World, files: FileServer) -> None:
    b = world.b
    assert snapshot(world.server, b.acct.sid) == world.baseline
    assert download(world, b) == b.media_bytes
    for user, password in [
        (b.acct.sid, b.acct.token),
        (b.key_sid, b.key_secret),
        (b.main_key_sid, b.main_key_secret),
    ]:
        client = Client(user, password, b.acct.sid)
        client.api.base_url = world.server.base_url
        assert {m.sid for m in client.messages.list()} == {b.message_sid, b.legacy_message_sid}
    assert files.hits(world.never_fetched_path) == 0
