"""Cross-account isolation: the world and the matrix, shared by the end-to-end sample
(tests/e2e/test_isolation.py) and the whole matrix in process (tests/inprocess/test_isolation_matrix.py).

Two accounts, A and B, each with messages, media and keys. Every endpoint that
names B (or needs a credential at all) is tried with every credential that is
not B's own valid one: A's credentials, mismatched halves of B's, garbage
headers. Each attempt must be a Twilio 401 and must leave B exactly as it was.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from sqlalchemy import func, select

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
from mediagate.runtime.context import Runtime
from tests.support.clients import basic
from tests.support.fileserver import FileServer, png_bytes
from tests.support.loops import eventually
from tests.support.server import Account

TO, FROM = "+15551230001", "+15557650001"
UNAUTHORIZED = {
    "code": 20003,
    "message": "Authenticate",
    "more_info": "https://www.twilio.com/docs/errors/20003",
    "status": 401,
}


# A session to the real server (tests/support/server.py) or to the app in process
# (tests/support/inprocess.py); the tests send everything through it.
Http = requests.Session


class Served(Protocol):
    """A real server (tests/support/server.py) or the app in process (tests/support/inprocess.py)."""

    base_url: str
    runtime: Runtime

    def new_account(self, name: str = ...) -> Account: ...

    def assign_number(self, account_sid: str, number: str) -> None: ...


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
    server: Served
    http: Http
    a: Tenant
    b: Tenant
    b_deleted_key: tuple[str, str]
    never_fetched: str  # a MediaUrl no refused request may fetch
    never_fetched_path: str
    baseline: dict[str, Any]  # B's state, taken once everything is set up


def _set_enforcement(server: Served, http: Http, acct: Account, on: bool) -> None:
    r = http.request(
        "POST",
        f"{server.base_url}/v1/Accounts/{acct.sid}/MessagingSettings",
        data={"EnforceMediaHttpAuth": "true" if on else "false"},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 200, r.text


def _random_number() -> str:
    return "+1555" + "".join(str(secrets.randbelow(10)) for _ in range(7))


def _message(server: Served, http: Http, acct: Account, body: str, media_url: str) -> tuple[str, list[str]]:
    """A message with one MediaUrl, through the API; its sid and its media sids."""
    base = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}"
    auth = (acct.sid, acct.token)
    made = http.request(
        "POST",
        f"{base}/Messages.json",
        data={"To": TO, "From": FROM, "Body": body, "MediaUrl": media_url},
        auth=auth,
        timeout=10,
    )
    assert made.status_code == 201, made.text
    sid: str = made.json()["sid"]

    # The create answers ``queued`` and the worker fetches the MediaUrl afterwards; the
    # media row (and its auth_required, from the setting then) exists once the status moves on.
    def settled() -> dict[str, Any] | None:
        got = http.request("GET", f"{base}/Messages/{sid}.json", auth=auth, timeout=10)
        assert got.status_code == 200, got.text
        message: dict[str, Any] = got.json()
        return None if message["status"] == "queued" else message

    assert eventually(settled, timeout=60)["num_media"] == "1"
    listed = http.request("GET", f"{base}/Messages/{sid}/Media.json", auth=auth, timeout=10)
    assert listed.status_code == 200, listed.text
    return sid, [m["sid"] for m in listed.json()["media_list"]]


def tenant(server: Served, http: Http, files: FileServer, name: str) -> Tenant:
    acct = server.new_account(name)
    _set_enforcement(server, http, acct, False)
    legacy_url = files.add(f"/iso/{acct.sid}/legacy.png", png_bytes(1500))
    legacy_sid, legacy_media = _message(server, http, acct, f"{name} legacy", legacy_url)
    _set_enforcement(server, http, acct, True)
    body = png_bytes(2500) + acct.sid.encode()
    url = files.add(f"/iso/{acct.sid}/secret.png", body)
    msg_sid, media = _message(server, http, acct, f"{name} private body", url)
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
    return Tenant(
        acct,
        msg_sid,
        media[0],
        body,
        legacy_sid,
        legacy_media[0],
        number.sid,
        number.phone_number,
        std.key.sid,
        std.secret,
        main.key.sid,
        main.secret,
        spare,
    )


def snapshot(server: Served, sid: str) -> dict[str, Any]:
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


def make_world(server: Served, http: Http, files: FileServer) -> World:
    a = tenant(server, http, files, "iso-a")
    b = tenant(server, http, files, "iso-b")
    gone = keys.create(server.runtime, b.acct.sid, "iso-b deleted", actor="test")
    keys.delete(server.runtime, b.acct.sid, gone.key.sid, actor="test")
    path = f"/iso/{b.acct.sid}/never-fetched.png"
    url = files.add(path, png_bytes(600))
    return World(server, http, a, b, (gone.key.sid, gone.secret), url, path, snapshot(server, b.acct.sid))


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
    return w.http.request(
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
    r = w.http.request("GET", url, auth=(t.acct.sid, t.acct.token), timeout=10)
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
# Every (endpoint, credential) pair that must be a 401.
B_MATRIX = [
    (name, cred)
    for name in B_ENDPOINTS
    for cred in [*FOREIGN, *INVALID]
    # Without any credential, legacy media is public by design
    # (test_legacy_media_is_public_only_to_anonymous).
    if not (name == "Legacy media content with credentials" and cred in (*ANONYMOUS, *DROPPED))
]

# The media content routes: the RSGI fast path answers them (serving/fast.py), which
# the in-process matrix does not cross, so the end-to-end sample keeps all their rows.
FAST_PATH = ("Media content GET", "Media content HEAD", "Legacy media content with credentials")


def _diagonal(names: list[str], creds: list[str], allowed: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each name with one credential, turning through ``creds``: with at least as many
    names as credentials, every credential is used too."""
    picked, i = [], 0
    for name in names:
        while (name, creds[i % len(creds)]) not in allowed:
            i += 1
        picked.append((name, creds[i % len(creds)]))
        i += 1
    return picked


# The end-to-end sample of B_MATRIX (tests/e2e/test_isolation.py, on every database):
# every endpoint and every credential at least once, the fast-path routes with all.
B_SAMPLE = [pair for pair in B_MATRIX if pair[0] in FAST_PATH] + _diagonal(
    [n for n in B_ENDPOINTS if n not in FAST_PATH], [*FOREIGN, *INVALID], set(B_MATRIX)
)
CREDENTIAL_MATRIX = [(name, cred) for name in CREDENTIAL_ENDPOINTS for cred in INVALID]
# Every invalid credential once, the credential endpoints turning through it.
CREDENTIAL_SAMPLE = [
    (name, cred) for cred, name in zip(INVALID, [*CREDENTIAL_ENDPOINTS] * len(INVALID), strict=False)
]
