"""Cross-account isolation against the real server.

Two accounts, A and B, each with messages, media and keys. Every endpoint that
names B (or needs a credential at all) is tried with every credential that is
not B's own valid one: A's credentials, mismatched halves of B's, garbage
headers. Each attempt must be a Twilio 401 and must leave B exactly as it was.
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from sqlalchemy import func, select
from twilio.rest import Client

from mediagate.accounts import keys
from mediagate.db.models import Account as AccountRow
from mediagate.db.models import (
    ApiKey,
    AuditEvent,
    IncomingPhoneNumber,
    Media,
    Message,
    RetentionRule,
    SettingChange,
)
from mediagate.messaging import numbers
from tests.support.carrier import carrier_auth
from tests.support.clients import basic
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import Account, RunningServer

TO, FROM = "+15551230001", "+15557650001"
UNAUTHORIZED = {
    "code": 20003,
    "message": "Authenticate",
    "more_info": "https://www.twilio.com/docs/errors/20003",
    "status": 401,
}


@dataclass
class Tenant:
    acct: Account
    message_sid: str  # a message with one secured media
    media_sid: str
    media_bytes: bytes
    legacy_message_sid: str  # a message whose media predates enforcement (public)
    legacy_media_sid: str
    number_sid: str  # an IncomingPhoneNumber
    phone_number: str
    key_sid: str  # standard key
    key_secret: str
    main_key_sid: str
    main_key_secret: str
    spare_number: str  # assigned by the operator, not claimed: what "Number create" asks for


@dataclass
class World:
    server: RunningServer
    a: Tenant
    b: Tenant
    b_deleted_key: tuple[str, str]
    never_fetched: str  # a MediaUrl no refused request may fetch
    never_fetched_path: str
    baseline: dict[str, Any]  # B's state, taken once everything is set up


def _client(server: RunningServer, acct: Account) -> Client:
    client = Client(acct.sid, acct.token)
    client.api.base_url = server.base_url
    return client


def _set_enforcement(server: RunningServer, acct: Account, on: bool) -> None:
    r = requests.post(
        f"{server.base_url}/v1/Accounts/{acct.sid}/MessagingSettings",
        data={"EnforceMediaHttpAuth": "true" if on else "false"},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 200, r.text


def _random_number() -> str:
    return "+1555" + "".join(str(secrets.randbelow(10)) for _ in range(7))


def _tenant(server: RunningServer, files: FileServer, name: str) -> Tenant:
    acct = server.new_account(name)
    client = _client(server, acct)
    _set_enforcement(server, acct, False)
    legacy_url = files.add(f"/iso/{acct.sid}/legacy.png", png_bytes(1500))
    legacy = client.messages.create(to=TO, from_=FROM, body=f"{name} legacy", media_url=[legacy_url])
    _set_enforcement(server, acct, True)
    body = png_bytes(2500) + acct.sid.encode()
    url = files.add(f"/iso/{acct.sid}/secret.png", body)
    msg = client.messages.create(to=TO, from_=FROM, body=f"{name} private body", media_url=[url])
    media = client.messages(msg.sid).media.list()
    legacy_media = client.messages(legacy.sid).media.list()
    assert len(media) == 1 and len(legacy_media) == 1
    phone_number = _random_number()
    server.assign_number(acct.sid, phone_number)
    number = numbers.create(
        server.runtime,
        acct.sid,
        {"PhoneNumber": phone_number, "FriendlyName": f"{name} line"},
        actor="test",
    )
    spare = _random_number()
    server.assign_number(acct.sid, spare)
    std = keys.create(server.runtime, acct.sid, f"{name} standard", actor="test")
    main = keys.create(server.runtime, acct.sid, f"{name} main", actor="test", kind="main")
    assert msg.sid and legacy.sid and media[0].sid and legacy_media[0].sid
    return Tenant(
        acct,
        msg.sid,
        media[0].sid,
        body,
        legacy.sid,
        legacy_media[0].sid,
        number.sid,
        number.phone_number,
        std.key.sid,
        std.secret,
        main.key.sid,
        main.secret,
        spare,
    )


def snapshot(server: RunningServer, sid: str) -> dict[str, Any]:
    """Everything of an account that a refused request could have changed."""
    rt = server.runtime
    with rt.sessions() as s:
        acct = s.get(AccountRow, sid)
        assert acct is not None
        media = s.scalars(select(Media).where(Media.account_sid == sid)).all()
        state: dict[str, Any] = {
            "account": (
                acct.status,
                acct.friendly_name,
                acct.enforce_media_http_auth,
                acct.auth_token_hash,
                acct.auth_token_sealed,
                acct.secondary_token_hash,
                acct.owner_account_sid,
                acct.media_urls_revoked_before,
            ),
            "messages": sorted(
                (m.sid, m.to, m.from_, m.body, m.num_media)
                for m in s.scalars(select(Message).where(Message.account_sid == sid))
            ),
            "media": sorted(
                (
                    m.sid,
                    m.message_sid,
                    m.sha256,
                    m.size,
                    m.auth_required,
                    m.urls_revoked_before,
                    m.storage_key,
                )
                for m in media
            ),
            "keys": sorted(
                (k.sid, k.friendly_name, k.kind, k.secret_hash, k.permissions)
                for k in s.scalars(select(ApiKey).where(ApiKey.account_sid == sid))
            ),
            "numbers": sorted(
                (n.sid, n.phone_number, n.friendly_name, n.sms_url, n.sms_method)
                for n in s.scalars(select(IncomingPhoneNumber).where(IncomingPhoneNumber.account_sid == sid))
            ),
            "setting_changes": s.scalar(
                select(func.count()).select_from(SettingChange).where(SettingChange.account_sid == sid)
            ),
            "audit_events": s.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.account_sid == sid)
            ),
            "subaccounts": sorted(
                s.scalars(select(AccountRow.sid).where(AccountRow.owner_account_sid == sid))
            ),
            "retention": (
                (
                    r.days_after_creation,
                    r.days_after_last_access,
                    r.after_first_download,
                    r.after_webhook_delivered,
                )
                if (r := s.get(RetentionRule, sid)) is not None
                else None
            ),
        }
    state["stored"] = sorted((m.sid, rt.store.stat(m.storage_key)) for m in media)
    return state


@pytest.fixture(scope="module")
def world(server: RunningServer, files: FileServer) -> World:
    a = _tenant(server, files, "iso-a")
    b = _tenant(server, files, "iso-b")
    gone = keys.create(server.runtime, b.acct.sid, "iso-b deleted", actor="test")
    keys.delete(server.runtime, b.acct.sid, gone.key.sid, actor="test")
    path = f"/iso/{b.acct.sid}/never-fetched.png"
    url = files.add(path, png_bytes(600))
    return World(server, a, b, (gone.key.sid, gone.secret), url, path, snapshot(server, b.acct.sid))


# --------------------------------------------------------------------------- credentials


Header = str | bytes | None

# Valid credentials, but A's: they must not reach B.
FOREIGN: dict[str, Callable[[World], Header]] = {
    "A token on B": lambda w: basic(w.a.acct.sid, w.a.acct.token),
    "A standard key on B": lambda w: basic(w.a.key_sid, w.a.key_secret),
    "A main key on B": lambda w: basic(w.a.main_key_sid, w.a.main_key_secret),
}

# Never valid credentials for anyone.
INVALID: dict[str, Callable[[World], Header]] = {
    "A sid + B token": lambda w: basic(w.a.acct.sid, w.b.acct.token),
    "B sid + A token": lambda w: basic(w.b.acct.sid, w.a.acct.token),
    "A key sid + B key secret": lambda w: basic(w.a.key_sid, w.b.key_secret),
    "B key sid + A key secret": lambda w: basic(w.b.key_sid, w.a.key_secret),
    "B main key sid + B standard secret": lambda w: basic(w.b.main_key_sid, w.b.key_secret),
    "B key sid + B token": lambda w: basic(w.b.key_sid, w.b.acct.token),
    "B sid + B key secret": lambda w: basic(w.b.acct.sid, w.b.key_secret),
    "B deleted key": lambda w: basic(*w.b_deleted_key),
    "B sid + empty password": lambda w: basic(w.b.acct.sid, ""),
    "empty user + B token": lambda w: basic("", w.b.acct.token),
    "B sid + uppercased token": lambda w: basic(w.b.acct.sid, w.b.acct.token.upper()),
    "B sid + token with newline": lambda w: basic(w.b.acct.sid, w.b.acct.token + "\n"),
    "lowercase sid + B token": lambda w: basic(w.b.acct.sid.lower(), w.b.acct.token),
    "B sid + unicode password": lambda w: basic(w.b.acct.sid, "pässwörd ✓"),
    "no auth": lambda w: None,
    "empty header": lambda w: "",
    "Basic !!!": lambda w: "Basic !!!",
    "Basic only": lambda w: "Basic",
    "Bearer x": lambda w: "Bearer x",
    "Bearer B token": lambda w: f"Bearer {w.b.acct.token}",
    "Digest": lambda w: f'Digest username="{w.b.acct.sid}", response="{w.b.acct.token}"',
    "no colon": lambda w: "Basic " + base64.b64encode(w.b.acct.sid.encode()).decode(),
    "valid pair + trailing junk": lambda w: basic(w.b.acct.sid, w.b.acct.token) + "!!",
    "latin-1 credentials": lambda w: (
        "Basic " + base64.b64encode(f"{w.b.acct.sid}:pässwörd".encode("latin-1")).decode()
    ),
    "raw utf-8 header bytes": lambda w: "Basic ✓é".encode(),
    "raw latin-1 header bytes": lambda w: b"Basic \xe9\xe9\xe9\xe9",
}


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: Callable[[World], str]
    data: Callable[[World], dict[str, Any] | None] = lambda w: None
    mutates: bool = False


def _b(w: World) -> str:
    return f"/2010-04-01/Accounts/{w.b.acct.sid}"


# Every endpoint whose path or parameters name account B.
B_ENDPOINTS: dict[str, Endpoint] = {
    "Messages list": Endpoint("GET", lambda w: f"{_b(w)}/Messages.json"),
    "Messages create": Endpoint(
        "POST",
        lambda w: f"{_b(w)}/Messages.json",
        lambda w: {"To": TO, "From": FROM, "Body": "injected", "MediaUrl": w.never_fetched},
        mutates=True,
    ),
    "Message fetch": Endpoint("GET", lambda w: f"{_b(w)}/Messages/{w.b.message_sid}.json"),
    "Message delete": Endpoint("DELETE", lambda w: f"{_b(w)}/Messages/{w.b.message_sid}.json", mutates=True),
    "Media list": Endpoint("GET", lambda w: f"{_b(w)}/Messages/{w.b.message_sid}/Media.json"),
    "Media fetch": Endpoint(
        "GET", lambda w: f"{_b(w)}/Messages/{w.b.message_sid}/Media/{w.b.media_sid}.json"
    ),
    "Media delete": Endpoint(
        "DELETE", lambda w: f"{_b(w)}/Messages/{w.b.message_sid}/Media/{w.b.media_sid}.json", mutates=True
    ),
    "Media content GET": Endpoint(
        "GET", lambda w: f"{_b(w)}/Messages/{w.b.message_sid}/Media/{w.b.media_sid}"
    ),
    "Media content HEAD": Endpoint(
        "HEAD", lambda w: f"{_b(w)}/Messages/{w.b.message_sid}/Media/{w.b.media_sid}"
    ),
    "Legacy media content with credentials": Endpoint(
        "GET", lambda w: f"{_b(w)}/Messages/{w.b.legacy_message_sid}/Media/{w.b.legacy_media_sid}"
    ),
    "Legacy media delete": Endpoint(
        "DELETE",
        lambda w: f"{_b(w)}/Messages/{w.b.legacy_message_sid}/Media/{w.b.legacy_media_sid}.json",
        mutates=True,
    ),
    "Keys list": Endpoint("GET", lambda w: f"{_b(w)}/Keys.json"),
    "Keys create": Endpoint("POST", lambda w: f"{_b(w)}/Keys.json", lambda w: {"FriendlyName": "x"}, True),
    "Key fetch": Endpoint("GET", lambda w: f"{_b(w)}/Keys/{w.b.key_sid}.json"),
    "Key update": Endpoint(
        "POST", lambda w: f"{_b(w)}/Keys/{w.b.key_sid}.json", lambda w: {"FriendlyName": "pwned"}, True
    ),
    "Key delete": Endpoint("DELETE", lambda w: f"{_b(w)}/Keys/{w.b.key_sid}.json", mutates=True),
    "MessagingSettings GET": Endpoint("GET", lambda w: f"/v1/Accounts/{w.b.acct.sid}/MessagingSettings"),
    "MessagingSettings POST": Endpoint(
        "POST",
        lambda w: f"/v1/Accounts/{w.b.acct.sid}/MessagingSettings",
        lambda w: {"EnforceMediaHttpAuth": "false"},
        True,
    ),
    "MediaDelivery GET": Endpoint("GET", lambda w: f"/v1/Accounts/{w.b.acct.sid}/MediaDelivery"),
    "MediaDelivery POST": Endpoint(
        "POST", lambda w: f"/v1/Accounts/{w.b.acct.sid}/MediaDelivery", lambda w: {"Mode": "direct"}, True
    ),
    "MediaRetention GET": Endpoint("GET", lambda w: f"/v1/Accounts/{w.b.acct.sid}/MediaRetention"),
    "MediaRetention POST": Endpoint(
        "POST",
        lambda w: f"/v1/Accounts/{w.b.acct.sid}/MediaRetention",
        lambda w: {"DaysAfterLastAccess": "3650"},
        True,
    ),
    "Account fetch": Endpoint("GET", lambda w: f"{_b(w)}.json"),
    "Account update": Endpoint(
        "POST", lambda w: f"{_b(w)}.json", lambda w: {"FriendlyName": "pwned", "Status": "suspended"}, True
    ),
    "Numbers list": Endpoint("GET", lambda w: f"{_b(w)}/IncomingPhoneNumbers.json"),
    "Number create": Endpoint(
        "POST",
        lambda w: f"{_b(w)}/IncomingPhoneNumbers.json",
        lambda w: {"PhoneNumber": w.b.spare_number},
        True,
    ),
    "Number fetch": Endpoint("GET", lambda w: f"{_b(w)}/IncomingPhoneNumbers/{w.b.number_sid}.json"),
    "Number update": Endpoint(
        "POST",
        lambda w: f"{_b(w)}/IncomingPhoneNumbers/{w.b.number_sid}.json",
        lambda w: {"SmsUrl": "http://127.0.0.1:9/steal", "FriendlyName": "pwned"},
        True,
    ),
    "Number delete": Endpoint(
        "DELETE", lambda w: f"{_b(w)}/IncomingPhoneNumbers/{w.b.number_sid}.json", mutates=True
    ),
    "Webhook deliveries": Endpoint("GET", lambda w: f"/v1/Accounts/{w.b.acct.sid}/WebhookDeliveries"),
    "Media access events": Endpoint("GET", lambda w: f"/v1/Accounts/{w.b.acct.sid}/MediaAccessEvents"),
    "Media revocation": Endpoint(
        "POST", lambda w: f"/v1/Accounts/{w.b.acct.sid}/Media/{w.b.media_sid}/Revocations", mutates=True
    ),
    "Account media revocation": Endpoint(
        "POST", lambda w: f"/v1/Accounts/{w.b.acct.sid}/MediaRevocations", mutates=True
    ),
    "Carrier inbound to B's number": Endpoint(
        "POST",
        lambda w: "/v1/Carrier/Inbound",
        lambda w: {"To": w.b.phone_number, "From": FROM, "Body": "spoofed", "MediaUrl": w.never_fetched},
        True,
    ),
    "IAM keys list": Endpoint("GET", lambda w: f"/v1/Keys?AccountSid={w.b.acct.sid}"),
    "IAM keys create": Endpoint(
        "POST", lambda w: "/v1/Keys", lambda w: {"AccountSid": w.b.acct.sid, "FriendlyName": "x"}, True
    ),
}

# Endpoints that take the account from the credential (or a key sid): with a
# credential that is no credential at all, they must be 401 too.
CREDENTIAL_ENDPOINTS: dict[str, Endpoint] = {
    "IAM key fetch": Endpoint("GET", lambda w: f"/v1/Keys/{w.b.key_sid}"),
    "IAM key update": Endpoint(
        "POST", lambda w: f"/v1/Keys/{w.b.key_sid}", lambda w: {"FriendlyName": "x"}, True
    ),
    "IAM key delete": Endpoint("DELETE", lambda w: f"/v1/Keys/{w.b.key_sid}", mutates=True),
    "Accounts list": Endpoint("GET", lambda w: "/2010-04-01/Accounts.json"),
    "Subaccount create": Endpoint(
        "POST", lambda w: "/2010-04-01/Accounts.json", lambda w: {"FriendlyName": "x"}, True
    ),
    "Secondary token create": Endpoint("POST", lambda w: "/v1/AuthTokens/Secondary", mutates=True),
    "Secondary token delete": Endpoint("DELETE", lambda w: "/v1/AuthTokens/Secondary", mutates=True),
    "Token promote": Endpoint("POST", lambda w: "/v1/AuthTokens/Promote", mutates=True),
}


def send(w: World, endpoint: Endpoint, header: Header) -> requests.Response:
    headers: dict[str, str | bytes] = {} if header is None else {"Authorization": header}
    return requests.request(
        endpoint.method,
        w.server.base_url + endpoint.path(w),
        headers=headers,
        data=endpoint.data(w),
        allow_redirects=False,
        timeout=10,
    )


def assert_twilio_401(r: requests.Response, method: str) -> None:
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="Twilio API"'
    assert "Location" not in r.headers
    if method != "HEAD":
        assert r.json() == UNAUTHORIZED


def download(w: World, t: Tenant) -> bytes:
    url = f"{w.server.base_url}/2010-04-01/Accounts/{t.acct.sid}/Messages/{t.message_sid}/Media/{t.media_sid}"
    r = requests.get(url, auth=(t.acct.sid, t.acct.token), timeout=10)
    assert r.status_code == 200, r.text
    return r.content


def assert_b_intact(w: World, mutated: bool) -> None:
    assert snapshot(w.server, w.b.acct.sid) == w.baseline
    if mutated:
        # B's files are still served to B with B's own credentials.
        assert download(w, w.b) == w.b.media_bytes


# --------------------------------------------------------------------------- the matrix


ANONYMOUS = ("no auth", "empty header")
# Header values that are not visible ASCII never reach the app: granian drops
# such a field (its RSGI headers are text), so these requests carry no
# Authorization at all. Everywhere that needs credentials that is a 401 like
# any other (the matrix below); for legacy media it is the anonymous answer
# (test_legacy_media_is_public_only_to_anonymous).
DROPPED = ("raw utf-8 header bytes", "raw latin-1 header bytes")
B_MATRIX = [
    pytest.param(name, cred, id=f"{name}-{cred}")
    for name in B_ENDPOINTS
    for cred in [*FOREIGN, *INVALID]
    # Without any credential, legacy media is public by design
    # (test_legacy_media_is_public_only_to_anonymous).
    if not (name == "Legacy media content with credentials" and cred in (*ANONYMOUS, *DROPPED))
]


@pytest.mark.parametrize(("name", "cred"), B_MATRIX)
def test_b_endpoints_refuse_everything_but_bs_credentials(
    world: World, files: FileServer, name: str, cred: str
) -> None:
    endpoint = B_ENDPOINTS[name]
    r = send(world, endpoint, {**FOREIGN, **INVALID}[cred](world))
    assert_twilio_401(r, endpoint.method)
    assert files.hits(world.never_fetched_path) == 0
    assert_b_intact(world, endpoint.mutates)


def test_every_endpoint_accepts_its_own_accounts_credentials(world: World, files: FileServer) -> None:
    """The control for the matrix: with the account's own token every endpoint
    does its job, so the 401s above are about the credential, not a broken route."""
    c = _tenant(world.server, files, "iso-c")
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
        own = basic(*carrier_auth(world.server)) if name.startswith("Carrier inbound") else header
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


@pytest.mark.parametrize("cred", list(INVALID))
@pytest.mark.parametrize("name", list(CREDENTIAL_ENDPOINTS))
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
