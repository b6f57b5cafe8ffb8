"""Restricted keys (IAM v1 ``/v1/Keys`` with a Policy): the policies x endpoints matrix,
shared by the end-to-end sample (tests/e2e/test_restricted_keys.py) and the whole matrix
in process (tests/inprocess/test_restricted_key_matrix.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

from mediagate.accounts import permissions as perms
from mediagate.db.models import Account as AccountRow
from mediagate.db.models import ApiKey, Media, Message, RetentionRule
from mediagate.media import media as media_service
from mediagate.messaging import messages as message_service
from tests.support.clients import assert_twilio_error
from tests.support.fileserver import png_bytes
from tests.support.isolation import Http, Served
from tests.support.server import Account

TO, FROM = "+15551230001", "+15557650001"
Creds = tuple[str, str]


# --------------------------------------------------------------------------- helpers


def assert_refused(r: requests.Response) -> None:
    body = assert_twilio_error(r, 403, 70051)
    assert body["message"] == "Authorization Failed"


def iam_create(server: Served, creds: Creds, account_sid: str, **fields: str) -> requests.Response:
    return iam_create_with(requests.Session(), server, creds, account_sid, fields)


def iam_create_with(
    http: Http, server: Served, creds: Creds, account_sid: str, fields: dict[str, str]
) -> requests.Response:
    return http.request(
        "POST",
        f"{server.base_url}/v1/Keys",
        data={"AccountSid": account_sid, **fields},
        auth=creds,
        timeout=10,
    )


def restricted_key(server: Served, acct: Account, allow: list[str], *, http: Http | None = None) -> Creds:
    fields = {"FriendlyName": "restricted", "KeyType": "restricted", "Policy": json.dumps({"allow": allow})}
    r = iam_create_with(http or requests.Session(), server, (acct.sid, acct.token), acct.sid, fields)
    assert r.status_code == 201, r.text
    assert r.json()["policy"] == {"allow": sorted(set(allow))}
    return r.json()["sid"], r.json()["secret"]


@dataclass
class Seeded:
    server: Served
    acct: Account
    message_sid: str
    media_sid: str
    storage_key: str
    body: bytes
    http: Http

    @classmethod
    def make(cls, server: Served, acct: Account, *, http: Http | None = None) -> Seeded:
        rt = server.runtime
        new = message_service.NewMessage(to=TO, from_=FROM, body="seed", media_urls=[])
        msg = message_service.create(rt, acct.sid, new, actor="test")
        body = png_bytes(1200)
        row = media_service.add(rt, acct.sid, msg.sid, "image/png", [body], filename="seed.png")
        return cls(server, acct, msg.sid, row.sid, row.storage_key, body, http or requests.Session())

    @property
    def base(self) -> str:
        return f"{self.server.base_url}/2010-04-01/Accounts/{self.acct.sid}"

    @property
    def message_url(self) -> str:
        return f"{self.base}/Messages/{self.message_sid}"

    @property
    def content_url(self) -> str:
        return f"{self.message_url}/Media/{self.media_sid}"

    def file(self) -> Path:
        path = self.server.runtime.store.local_path(self.storage_key)
        assert path is not None
        return path


def snapshot(server: Served, account_sid: str) -> dict[str, Any]:
    """Everything a refused request could have changed: rows, files, tokens, settings."""
    rt = server.runtime
    with rt.sessions() as session:
        account = session.get(AccountRow, account_sid)
        assert account is not None
        media = list(session.scalars(select(Media).where(Media.account_sid == account_sid)))
        return {
            "messages": sorted(
                session.scalars(select(Message.sid).where(Message.account_sid == account_sid))
            ),
            "media": sorted((m.sid, m.storage_key) for m in media),
            "files": sorted(
                (m.sid, (p := rt.store.local_path(m.storage_key)) is not None and p.read_bytes())
                for m in media
            ),
            "keys": sorted(
                (k.sid, k.kind, k.permissions)
                for k in session.scalars(select(ApiKey).where(ApiKey.account_sid == account_sid))
            ),
            "subaccounts": sorted(
                session.scalars(select(AccountRow.sid).where(AccountRow.owner_account_sid == account_sid))
            ),
            "enforce": account.enforce_media_http_auth,
            # Early revocation cutoffs (account-wide and per media).
            "revoked": (
                account.media_urls_revoked_before,
                sorted((m.sid, m.urls_revoked_before or 0) for m in media),
            ),
            "token": account.auth_token_hash,
            "secondary": account.secondary_token_hash,
            "friendly_name": account.friendly_name,
            "retention": session.get(RetentionRule, account_sid) is not None,
        }


# --------------------------------------------------------------------------- the matrix

NEVER = "never"  # no restricted key may do this, whatever its policy


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    permission: str
    ok: int

    def request(self, s: Seeded, own_key: str) -> tuple[str, str, dict[str, str] | None]:
        base, url = s.server.base_url, s.base
        ac = s.acct.sid
        table: dict[str, tuple[str, dict[str, str] | None]] = {
            "messages.list": (f"{url}/Messages.json", None),
            "messages.create": (f"{url}/Messages.json", {"To": TO, "From": FROM, "Body": "hi"}),
            "messages.fetch": (f"{s.message_url}.json", None),
            "messages.delete": (f"{s.message_url}.json", None),
            "media.list": (f"{s.message_url}/Media.json", None),
            "media.fetch": (f"{s.content_url}.json", None),
            "media.delete": (f"{s.content_url}.json", None),
            "media.content": (s.content_url, None),
            "media.revoke": (f"{base}/v1/Accounts/{ac}/Media/{s.media_sid}/Revocations", None),
            "media.revoke_all": (f"{base}/v1/Accounts/{ac}/MediaRevocations", None),
            "media.access_events": (
                f"{base}/v1/Accounts/{ac}/MediaAccessEvents?MediaSid={s.media_sid}",
                None,
            ),
            "keys.list": (f"{url}/Keys.json", None),
            "keys.create": (f"{url}/Keys.json", {"FriendlyName": "escalate"}),
            "keys.fetch_own": (f"{url}/Keys/{own_key}.json", None),
            "iam.keys.list": (f"{base}/v1/Keys?AccountSid={ac}", None),
            "iam.keys.create": (f"{base}/v1/Keys", {"AccountSid": ac, "FriendlyName": "escalate"}),
            "iam.key.update_own": (
                f"{base}/v1/Keys/{own_key}",
                {"Policy": json.dumps({"allow": sorted(perms.GRANTABLE)})},
            ),
            "iam.key.delete_own": (f"{base}/v1/Keys/{own_key}", None),
            "accounts.list": (f"{base}/2010-04-01/Accounts.json", None),
            "accounts.create": (f"{base}/2010-04-01/Accounts.json", {"FriendlyName": "escalate"}),
            "account.fetch": (f"{base}/2010-04-01/Accounts/{ac}.json", None),
            "account.update": (f"{base}/2010-04-01/Accounts/{ac}.json", {"FriendlyName": "renamed"}),
            "settings.read": (f"{base}/v1/Accounts/{ac}/MessagingSettings", None),
            "settings.write": (
                f"{base}/v1/Accounts/{ac}/MessagingSettings",
                {"EnforceMediaHttpAuth": "false"},
            ),
            "delivery.read": (f"{base}/v1/Accounts/{ac}/MediaDelivery", None),
            "delivery.write": (f"{base}/v1/Accounts/{ac}/MediaDelivery", {"Mode": "direct"}),
            "retention.read": (f"{base}/v1/Accounts/{ac}/MediaRetention", None),
            "retention.write": (f"{base}/v1/Accounts/{ac}/MediaRetention", {"DaysAfterLastAccess": "3650"}),
            "tokens.secondary.create": (f"{base}/v1/AuthTokens/Secondary", None),
            "tokens.secondary.delete": (f"{base}/v1/AuthTokens/Secondary", None),
            "tokens.promote": (f"{base}/v1/AuthTokens/Promote", None),
        }
        target, data = table[self.name]
        return self.method, target, data


ENDPOINTS = [
    Endpoint("messages.list", "GET", perms.MESSAGES_READ, 200),
    Endpoint("messages.create", "POST", perms.MESSAGES_CREATE, 201),
    Endpoint("messages.fetch", "GET", perms.MESSAGES_READ, 200),
    Endpoint("messages.delete", "DELETE", perms.MESSAGES_DELETE, 204),
    Endpoint("media.list", "GET", perms.MEDIA_READ, 200),
    Endpoint("media.fetch", "GET", perms.MEDIA_READ, 200),
    Endpoint("media.delete", "DELETE", perms.MEDIA_DELETE, 204),
    Endpoint("media.content", "GET", perms.MEDIA_READ, 307),
    Endpoint("media.revoke", "POST", perms.MEDIA_DELETE, 201),
    Endpoint("media.revoke_all", "POST", perms.MEDIA_DELETE, 201),
    Endpoint("media.access_events", "GET", perms.MEDIA_READ, 200),
    Endpoint("keys.list", "GET", NEVER, 200),
    Endpoint("keys.create", "POST", NEVER, 201),
    Endpoint("keys.fetch_own", "GET", NEVER, 200),
    Endpoint("iam.keys.list", "GET", NEVER, 200),
    Endpoint("iam.keys.create", "POST", NEVER, 201),
    Endpoint("iam.key.update_own", "POST", NEVER, 200),
    Endpoint("iam.key.delete_own", "DELETE", NEVER, 204),
    Endpoint("accounts.list", "GET", NEVER, 200),
    Endpoint("accounts.create", "POST", NEVER, 201),
    Endpoint("account.fetch", "GET", NEVER, 200),
    Endpoint("account.update", "POST", NEVER, 200),
    Endpoint("settings.read", "GET", perms.SETTINGS_READ, 200),
    Endpoint("settings.write", "POST", NEVER, 200),
    Endpoint("delivery.read", "GET", perms.SETTINGS_READ, 200),
    Endpoint("delivery.write", "POST", NEVER, 200),
    Endpoint("retention.read", "GET", perms.SETTINGS_READ, 200),
    Endpoint("retention.write", "POST", NEVER, 200),
    Endpoint("tokens.secondary.create", "POST", NEVER, 201),
    Endpoint("tokens.secondary.delete", "DELETE", NEVER, 204),
    Endpoint("tokens.promote", "POST", NEVER, 200),
]

POLICIES: dict[str, list[str]] = {
    "messages-read": [perms.MESSAGES_READ],
    "messages-create": [perms.MESSAGES_CREATE],
    "messages-delete": [perms.MESSAGES_DELETE],
    "media-read": [perms.MEDIA_READ],
    "media-delete": [perms.MEDIA_DELETE],
    "messages-read+media-read": [perms.MESSAGES_READ, perms.MEDIA_READ],
    "settings-read": [perms.SETTINGS_READ],
    "all-grantable": sorted(perms.GRANTABLE),
}


def check_matrix_row(server: Served, http: Http, policy: str, endpoint: Endpoint) -> None:
    """A key with ``policy`` on a fresh account, one request to ``endpoint``: allowed and done,
    or refused with nothing changed."""
    acct = server.new_account(f"rk-{policy}")
    seeded = Seeded.make(server, acct, http=http)
    key = restricted_key(server, acct, POLICIES[policy], http=http)
    before = snapshot(server, acct.sid)

    method, url, data = endpoint.request(seeded, key[0])
    r = http.request(method, url, data=data, auth=key, allow_redirects=False, timeout=10)
    allowed = endpoint.permission in POLICIES[policy]

    if not allowed:
        assert_refused(r)
        assert snapshot(server, acct.sid) == before, "a refused request changed something"
        return

    assert r.status_code == endpoint.ok, f"{endpoint.name}: {r.status_code} {r.text}"
    after = snapshot(server, acct.sid)
    if endpoint.name == "messages.create":
        assert r.json()["account_sid"] == acct.sid
        assert set(after["messages"]) == set(before["messages"]) | {r.json()["sid"]}
    elif endpoint.name == "messages.delete":
        assert after["messages"] == [] and after["media"] == []
        assert not seeded.file().exists()
    elif endpoint.name == "media.delete":
        assert after["media"] == [] and after["messages"] == before["messages"]
        assert not seeded.file().exists()
    elif endpoint.name in ("media.revoke", "media.revoke_all"):
        # Only the cutoff moved: nothing deleted, nothing else changed.
        assert after["revoked"] != before["revoked"]
        assert {**after, "revoked": None} == {**before, "revoked": None}
    else:
        # Reads change nothing.
        assert after == before
        if endpoint.name == "media.content":
            followed = http.request("GET", url, auth=key, timeout=10)
            assert followed.status_code == 200 and followed.content == seeded.body
        elif endpoint.name == "messages.list":
            assert [m["sid"] for m in r.json()["messages"]] == [seeded.message_sid]
        elif endpoint.name == "media.list":
            assert [m["sid"] for m in r.json()["media_list"]] == [seeded.media_sid]
        elif endpoint.name == "settings.read":
            assert r.json()["enforce_media_http_auth"] is True
        elif endpoint.name == "retention.read":
            assert r.json()["account_sid"] == acct.sid and r.json()["days_after_creation"] is None


# The end-to-end sample (tests/e2e/test_restricted_keys.py, on every database): each
# endpoint once, the policies turning, so every endpoint and every policy crosses the
# process; the whole matrix runs in process.
SAMPLE = [(list(POLICIES)[i % len(POLICIES)], endpoint) for i, endpoint in enumerate(ENDPOINTS)]
