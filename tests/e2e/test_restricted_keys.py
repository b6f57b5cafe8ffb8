"""Key kinds against the real server: restricted keys (IAM v1 ``/v1/Keys`` with a Policy),
standard keys and main keys. A sample of the policies x endpoints matrix (tests/support/restricted.py;
the whole matrix runs in process, tests/inprocess/test_restricted_key_matrix.py) checks what each
key may do, and that a refused request changed nothing (rows and files intact)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from mediagate.accounts import permissions as perms
from mediagate.db.models import ApiKey
from tests.support.clients import assert_twilio_error, main_key, standard_key, twilio_client
from tests.support.restricted import (
    FROM,
    SAMPLE,
    TO,
    Endpoint,
    Seeded,
    assert_refused,
    check_matrix_row,
    iam_create,
    restricted_key,
    snapshot,
)
from tests.support.server import Account, RunningServer


@pytest.mark.parametrize(("policy", "endpoint"), [pytest.param(p, e, id=f"{p}-{e.name}") for p, e in SAMPLE])
def test_restricted_key_sample(server: RunningServer, policy: str, endpoint: Endpoint) -> None:
    check_matrix_row(server, requests.Session(), policy, endpoint)


# --------------------------------------------------------------------------- creating restricted keys


def test_create_restricted_key_with_twilio_python(server: RunningServer) -> None:
    acct = server.new_account("rk-python")
    seeded = Seeded.make(server, acct)
    client = twilio_client(server, acct.sid, acct.token)
    new = client.iam.v1.new_api_key.create(
        account_sid=acct.sid,
        friendly_name="reader",
        key_type="restricted",
        policy={"allow": [perms.MESSAGES_READ]},
    )
    assert new.sid is not None and new.sid.startswith("SK")
    assert new.secret and len(new.secret) >= 32
    assert new.policy == {"allow": [perms.MESSAGES_READ]}
    assert new.friendly_name == "reader" and new.date_created is not None

    reader = twilio_client(server, new.sid, new.secret, acct.sid)
    assert [m.sid for m in reader.messages.list()] == [seeded.message_sid]
    assert reader.messages(seeded.message_sid).fetch().body == "seed"
    with pytest.raises(TwilioRestException) as info:
        reader.messages.create(to=TO, from_=FROM, body="nope")
    assert info.value.status == 403 and info.value.code == 70051
    with pytest.raises(TwilioException):  # a list call: twilio-python raises the plain kind
        reader.messages(seeded.message_sid).media.list()

    fetched = client.iam.v1.api_key(new.sid).fetch()
    assert fetched.policy == {"allow": [perms.MESSAGES_READ]}
    assert not hasattr(fetched, "secret")
    listed = {k.sid: k for k in client.iam.v1.get_api_keys.list(account_sid=acct.sid)}
    assert listed[new.sid].flags == ["restricted"]


@pytest.mark.parametrize(
    "fields",
    [
        {"KeyType": "restricted", "Policy": "not json"},
        {"KeyType": "restricted", "Policy": "[]"},
        {"KeyType": "restricted", "Policy": '{"deny": ["/twilio/messaging/messages/read"]}'},
        {"KeyType": "restricted", "Policy": '{"allow": []}'},
        {"KeyType": "restricted", "Policy": '{"allow": "/twilio/messaging/messages/read"}'},
        {"KeyType": "restricted", "Policy": '{"allow": ["/twilio/voice/calls/read"]}'},
        {"KeyType": "restricted", "Policy": '{"allow": ["manage-keys"]}'},
        {"KeyType": "restricted", "Policy": '{"allow": ["manage-accounts"]}'},
        {"KeyType": "restricted", "Policy": '{"allow": ["/twilio/messaging/settings/write"]}'},
        {"KeyType": "restricted"},
        {"KeyType": "restricted", "Policy": ""},
        {"KeyType": "superuser"},
        # Main keys come from the CLI only, never from the API.
        {"KeyType": "main"},
        # A Policy on a key that is not restricted would be silently dropped, leaving a wider key.
        {"Policy": '{"allow": ["/twilio/messaging/messages/read"]}'},
    ],
    ids=lambda f: "-".join(f"{k}={v}" for k, v in f.items())[:60],
)
def test_bad_key_requests_are_400_and_create_nothing(server: RunningServer, fields: dict[str, str]) -> None:
    acct = server.new_account("rk-bad")
    before = snapshot(server, acct.sid)
    r = iam_create(server, (acct.sid, acct.token), acct.sid, FriendlyName="bad", **fields)
    assert_twilio_error(r, 400, 20001)
    assert snapshot(server, acct.sid) == before


def test_twilio_python_bad_policy_raises_400(server: RunningServer) -> None:
    acct = server.new_account("rk-bad-py")
    client = twilio_client(server, acct.sid, acct.token)
    with pytest.raises(TwilioRestException) as info:
        client.iam.v1.new_api_key.create(
            account_sid=acct.sid, key_type="restricted", policy={"allow": ["/twilio/voice/calls/read"]}
        )
    assert info.value.status == 400 and info.value.code == 20001


def test_account_sid_is_required_and_must_be_reachable(server: RunningServer) -> None:
    acct = server.new_account("rk-acsid")
    other = server.new_account("rk-other")
    auth = (acct.sid, acct.token)
    r = requests.post(f"{server.base_url}/v1/Keys", data={"FriendlyName": "x"}, auth=auth, timeout=10)
    assert_twilio_error(r, 400, 20001)
    assert_twilio_error(requests.get(f"{server.base_url}/v1/Keys", auth=auth, timeout=10), 400, 20001)
    # Another account's keys: neither listed nor created.
    assert_twilio_error(iam_create(server, auth, other.sid, FriendlyName="x"), 401, 20003)
    r = requests.get(f"{server.base_url}/v1/Keys", params={"AccountSid": other.sid}, auth=auth, timeout=10)
    assert_twilio_error(r, 401, 20003)
    # Another account's key sid is indistinguishable from an unknown one.
    foreign = standard_key(server, other)[0]
    assert_twilio_error(
        requests.get(f"{server.base_url}/v1/Keys/{foreign}", auth=auth, timeout=10), 404, 20404
    )
    r = requests.delete(f"{server.base_url}/v1/Keys/{foreign}", auth=auth, timeout=10)
    assert_twilio_error(r, 404, 20404)
    assert foreign in [k[0] for k in snapshot(server, other.sid)["keys"]]


# --------------------------------------------------------------------------- policy changes and deletion


def test_policy_update_takes_effect_on_the_next_request(server: RunningServer) -> None:
    acct = server.new_account("rk-update")
    seeded = Seeded.make(server, acct)
    key = restricted_key(server, acct, [perms.MESSAGES_READ])
    media_list = f"{seeded.message_url}/Media.json"
    messages_list = f"{seeded.base}/Messages.json"

    assert requests.get(messages_list, auth=key, timeout=10).status_code == 200
    assert_refused(requests.get(media_list, auth=key, timeout=10))

    r = requests.post(
        f"{server.base_url}/v1/Keys/{key[0]}",
        data={"Policy": json.dumps({"allow": [perms.MEDIA_READ]})},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json()["policy"] == {"allow": [perms.MEDIA_READ]}
    assert "secret" not in r.json()

    assert requests.get(media_list, auth=key, timeout=10).status_code == 200
    assert_refused(requests.get(messages_list, auth=key, timeout=10))

    # Same through twilio-python, widening again.
    client = twilio_client(server, acct.sid, acct.token)
    updated = client.iam.v1.api_key(key[0]).update(
        friendly_name="both", policy={"allow": [perms.MESSAGES_READ, perms.MEDIA_READ]}
    )
    assert updated.friendly_name == "both"
    assert updated.policy == {"allow": sorted([perms.MESSAGES_READ, perms.MEDIA_READ])}
    assert requests.get(messages_list, auth=key, timeout=10).status_code == 200
    assert requests.get(media_list, auth=key, timeout=10).status_code == 200

    # A bad policy update is refused and the old policy stays.
    r = requests.post(
        f"{server.base_url}/v1/Keys/{key[0]}",
        data={"Policy": json.dumps({"allow": [perms.MANAGE_KEYS]})},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert_twilio_error(r, 400, 20001)
    assert client.iam.v1.api_key(key[0]).fetch().policy == {
        "allow": sorted([perms.MESSAGES_READ, perms.MEDIA_READ])
    }


def test_policy_cannot_be_put_on_a_standard_key(server: RunningServer) -> None:
    acct = server.new_account("rk-std-policy")
    std = standard_key(server, acct)
    r = requests.post(
        f"{server.base_url}/v1/Keys/{std[0]}",
        data={"Policy": json.dumps({"allow": [perms.MESSAGES_READ]})},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert_twilio_error(r, 400, 20001)
    # Still a standard key, with a standard key's reach.
    assert requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json", auth=std, timeout=10
    ).ok


def test_deleted_restricted_key_is_401_on_the_next_request(server: RunningServer) -> None:
    acct = server.new_account("rk-delete")
    seeded = Seeded.make(server, acct)
    key = restricted_key(server, acct, [perms.MESSAGES_READ, perms.MEDIA_READ])
    assert requests.get(seeded.content_url, auth=key, allow_redirects=False, timeout=10).status_code == 307

    client = twilio_client(server, acct.sid, acct.token)
    assert client.iam.v1.api_key(key[0]).delete() is True

    for url in (f"{seeded.base}/Messages.json", seeded.content_url, f"{seeded.message_url}/Media.json"):
        r = requests.get(url, auth=key, allow_redirects=False, timeout=10)
        assert_twilio_error(r, 401, 20003)
        assert r.headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'
    assert key[0] not in {k.sid for k in client.iam.v1.get_api_keys.list(account_sid=acct.sid)}
    with pytest.raises(TwilioRestException) as info:
        client.iam.v1.api_key(key[0]).fetch()
    assert info.value.status == 404


def test_parents_restricted_key_reaches_subaccount_within_its_policy(server: RunningServer) -> None:
    parent = server.new_account("rk-parent")
    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts.json",
        data={"FriendlyName": "child"},
        auth=(parent.sid, parent.token),
        timeout=10,
    )
    assert r.status_code == 201
    sub = Account(r.json()["sid"], r.json()["auth_token"])
    seeded = Seeded.make(server, sub)
    key = restricted_key(server, parent, [perms.MESSAGES_READ])
    assert requests.get(f"{seeded.base}/Messages.json", auth=key, timeout=10).status_code == 200
    assert_refused(requests.get(f"{seeded.message_url}/Media.json", auth=key, timeout=10))
    assert_refused(requests.delete(f"{seeded.message_url}.json", auth=key, timeout=10))
    # Its reach stops at the subaccount: no account management there either.
    assert_refused(
        requests.get(f"{server.base_url}/2010-04-01/Accounts/{sub.sid}.json", auth=key, timeout=10)
    )
    assert seeded.file().read_bytes() == seeded.body


# --------------------------------------------------------------------------- standard vs main keys


def key_management_calls(server: RunningServer, acct: Account, victim: str) -> list[tuple[str, str, Any]]:
    v2010 = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Keys"
    iam = f"{server.base_url}/v1/Keys"
    return [
        ("GET", f"{v2010}.json", None),
        ("POST", f"{v2010}.json", {"FriendlyName": "made"}),
        ("GET", f"{v2010}/{victim}.json", None),
        ("POST", f"{v2010}/{victim}.json", {"FriendlyName": "renamed"}),
        ("GET", f"{iam}?AccountSid={acct.sid}", None),
        ("POST", iam, {"AccountSid": acct.sid, "FriendlyName": "made"}),
        (
            "POST",
            iam,
            {
                "AccountSid": acct.sid,
                "KeyType": "restricted",
                "Policy": json.dumps({"allow": [perms.MESSAGES_READ]}),
            },
        ),
        ("GET", f"{iam}/{victim}", None),
        ("POST", f"{iam}/{victim}", {"FriendlyName": "renamed"}),
    ]


def test_standard_key_cannot_manage_keys(server: RunningServer) -> None:
    acct = server.new_account("rk-standard")
    std = standard_key(server, acct)
    victim = standard_key(server, acct)
    before = snapshot(server, acct.sid)
    for method, url, data in key_management_calls(server, acct, victim[0]):
        r = requests.request(method, url, data=data, auth=std, timeout=10)
        assert_refused(r)
    for url in (
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Keys/{victim[0]}.json",
        f"{server.base_url}/v1/Keys/{victim[0]}",
        f"{server.base_url}/v1/Keys/{std[0]}",  # not even itself
    ):
        assert_refused(requests.delete(url, auth=std, timeout=10))
    assert snapshot(server, acct.sid) == before

    # twilio-python: instance calls raise TwilioRestException with the code.
    client = twilio_client(server, std[0], std[1], acct.sid)
    with pytest.raises(TwilioRestException) as info:
        client.api.v2010.accounts(acct.sid).new_keys.create(friendly_name="x")
    assert info.value.status == 403 and info.value.code == 70051
    with pytest.raises(TwilioRestException) as info:
        client.iam.v1.new_api_key.create(account_sid=acct.sid, friendly_name="x")
    assert info.value.code == 70051
    # But a standard key does the messaging work.
    assert client.messages.create(to=TO, from_=FROM, body="ok").account_sid == acct.sid


def test_main_key_manages_keys_on_both_apis(server: RunningServer) -> None:
    acct = server.new_account("rk-main")
    main = main_key(server, acct)
    victim = standard_key(server, acct)
    for method, url, data in key_management_calls(server, acct, victim[0]):
        r = requests.request(method, url, data=data, auth=main, timeout=10)
        assert r.status_code in (200, 201), f"{method} {url}: {r.status_code} {r.text}"
    created_by_main = {
        sid for sid, kind, _ in snapshot(server, acct.sid)["keys"] if sid not in (main[0], victim[0])
    }
    assert len(created_by_main) == 3  # v2010 standard, IAM standard, IAM restricted

    # A key made by the main key works.
    made = iam_create(server, main, acct.sid, FriendlyName="by main")
    assert made.status_code == 201
    made_creds = (made.json()["sid"], made.json()["secret"])
    msgs = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json"
    assert requests.get(msgs, auth=made_creds, timeout=10).status_code == 200

    # And the main key deletes keys on both APIs, revoking them at once.
    r = requests.delete(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Keys/{victim[0]}.json", auth=main, timeout=10
    )
    assert r.status_code == 204
    assert (
        requests.delete(f"{server.base_url}/v1/Keys/{made_creds[0]}", auth=main, timeout=10).status_code
        == 204
    )
    assert_twilio_error(requests.get(msgs, auth=victim, timeout=10), 401, 20003)
    assert_twilio_error(requests.get(msgs, auth=made_creds, timeout=10), 401, 20003)

    # twilio-python with the main key.
    client = twilio_client(server, main[0], main[1], acct.sid)
    new = client.iam.v1.new_api_key.create(
        account_sid=acct.sid, key_type="restricted", policy={"allow": [perms.MEDIA_READ]}
    )
    assert new.secret
    assert new.sid in {k.sid for k in client.iam.v1.get_api_keys.list(account_sid=acct.sid)}


def test_secret_is_never_returned_by_fetch_or_list(server: RunningServer) -> None:
    acct = server.new_account("rk-secret")
    auth = (acct.sid, acct.token)
    secrets = {}
    for fields in (
        {"FriendlyName": "std"},
        {"FriendlyName": "res", "KeyType": "restricted", "Policy": json.dumps({"allow": [perms.MEDIA_READ]})},
    ):
        r = iam_create(server, auth, acct.sid, **fields)
        assert r.status_code == 201
        body = r.json()
        assert set(body) == {
            "sid",
            "friendly_name",
            "date_created",
            "date_updated",
            "policy",
            "url",
            "secret",
        }
        assert body["url"] == f"{server.base_url}/v1/Keys/{body['sid']}"
        secrets[body["sid"]] = body["secret"]

    listed = requests.get(
        f"{server.base_url}/v1/Keys", params={"AccountSid": acct.sid}, auth=auth, timeout=10
    )
    assert listed.status_code == 200
    assert {k["sid"] for k in listed.json()["keys"]} == set(secrets)
    assert listed.json()["meta"]["key"] == "keys"
    flags = {k["sid"]: k["flags"] for k in listed.json()["keys"]}
    v2010_list = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Keys.json", auth=auth, timeout=10
    )
    for sid, secret in secrets.items():
        fetched = requests.get(f"{server.base_url}/v1/Keys/{sid}", auth=auth, timeout=10)
        assert fetched.status_code == 200
        assert "secret" not in fetched.json() and secret not in fetched.text
        v2010 = requests.get(
            f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Keys/{sid}.json", auth=auth, timeout=10
        )
        assert v2010.status_code == 200 and secret not in v2010.text
        assert secret not in listed.text and secret not in v2010_list.text
    assert sorted(f[0] for f in flags.values()) == ["restricted", "standard"]
    # The stored row holds a hash, never the secret.
    with server.runtime.sessions() as session:
        for sid, secret in secrets.items():
            row = session.get(ApiKey, sid)
            assert row is not None and secret not in row.secret_hash
