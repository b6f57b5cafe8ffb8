"""API keys: the secret is returned once at creation and stored only as a hash."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from mediagate.accounts.auth import Principal, can_reach
from mediagate.accounts.permissions import GRANTABLE, stored_grants
from mediagate.cluster import invalidation as inv
from mediagate.core import sids
from mediagate.core.errors import BadRequest, NotFound
from mediagate.core.paging import Page, PageRequest, fetch_page
from mediagate.db.models import ApiKey, AuditEvent
from mediagate.db.records import ApiKeyRecord, page_of

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime


def _path(account_sid: str, key_sid: str) -> str:
    return f"/2010-04-01/Accounts/{account_sid}/Keys/{key_sid}.json"


def _friendly_name(value: str | None) -> str:
    name = (value or "").strip()
    if len(name) > 64:
        raise BadRequest("FriendlyName must be at most 64 characters.", code=20001)
    return name


@dataclass(frozen=True)
class NewKey:
    key: ApiKeyRecord
    secret: str


KINDS = ("main", "standard", "restricted")


def parse_policy(raw: str | None) -> list[str]:
    """A restricted key's ``Policy``: ``{"allow": ["/twilio/messaging/messages/read", ...]}``."""
    if not raw:
        raise BadRequest("A restricted key needs a Policy with an allow list.", code=20001)
    try:
        policy = json.loads(raw)
    except ValueError:
        raise BadRequest("Policy must be JSON.", code=20001) from None
    allow = policy.get("allow") if isinstance(policy, dict) else None
    if not isinstance(allow, list) or not allow or not all(isinstance(p, str) for p in allow):
        raise BadRequest('Policy must look like {"allow": ["<permission>", ...]}.', code=20001)
    unknown = sorted(set(allow) - GRANTABLE)
    if unknown:
        raise BadRequest(
            f"Unknown or non-grantable permissions: {', '.join(unknown)}. "
            f"Grantable: {', '.join(sorted(GRANTABLE))}.",
            code=20001,
        )
    return sorted(set(allow))


def policy_of(key: ApiKey | ApiKeyRecord) -> dict[str, list[str]] | None:
    if key.kind != "restricted" or not key.permissions:
        return None
    return {"allow": list(stored_grants(key.kind, key.permissions))}


def create(
    rt: Runtime,
    account_sid: str,
    friendly_name: str | None,
    *,
    actor: str,
    kind: str = "standard",
    permissions: list[str] | None = None,
    sid: str | None = None,
    secret: str | None = None,
) -> NewKey:
    """A new API key; ``sid`` and ``secret`` are fixed only by test mode's seed file."""
    if kind not in KINDS:
        raise BadRequest("KeyType must be restricted (or omitted for a standard key).", code=20001)
    if (kind == "restricted") != (permissions is not None):
        raise BadRequest("Only restricted keys carry a Policy, and they must.", code=20001)
    secret = secret or secrets.token_urlsafe(24)  # 192 bits, URL-safe like Twilio's 32-char secrets
    key = ApiKey(
        sid=sid or sids.new_sid(sids.KEY),
        account_sid=account_sid,
        friendly_name=_friendly_name(friendly_name),
        kind=kind,
        permissions=json.dumps(permissions) if permissions is not None else None,
        secret_hash=rt.keyring.hash_secret(secret),
    )
    with rt.tx() as session:
        session.add(key)
        session.add(
            AuditEvent(account_sid=account_sid, actor=actor, action=f"key.create.{kind}", target=key.sid)
        )
    return NewKey(ApiKeyRecord.of(key), secret)


def get(rt: Runtime, account_sid: str, key_sid: str) -> ApiKeyRecord:
    with rt.sessions() as session:
        key = session.get(ApiKey, key_sid)
    if key is None or key.account_sid != account_sid:
        raise NotFound(_path(account_sid, key_sid))
    return ApiKeyRecord.of(key)


def get_reachable(rt: Runtime, principal: Principal, key_sid: str) -> ApiKeyRecord:
    """A key of the credential's account or of one of its subaccounts; 404 for
    any other, so foreign key sids are indistinguishable from unknown ones."""
    with rt.sessions() as session:
        key = session.get(ApiKey, key_sid)
        if key is None or not can_reach(session, principal, key.account_sid):
            raise NotFound(f"/v1/Keys/{key_sid}")
    return ApiKeyRecord.of(key)


def page(rt: Runtime, account_sid: str, req: PageRequest) -> Page:
    with rt.sessions() as session:
        stmt = select(ApiKey).where(ApiKey.account_sid == account_sid)
        return page_of(fetch_page(session, stmt, ApiKey.date_created, ApiKey.sid, req), ApiKeyRecord.of)


def update(
    rt: Runtime,
    account_sid: str,
    key_sid: str,
    friendly_name: str | None,
    permissions: list[str] | None = None,
) -> ApiKeyRecord:
    with rt.tx() as session:
        key = session.get(ApiKey, key_sid)
        if key is None or key.account_sid != account_sid:
            raise NotFound(_path(account_sid, key_sid))
        if friendly_name is not None:
            key.friendly_name = _friendly_name(friendly_name)
        if permissions is not None:
            if key.kind != "restricted":
                raise BadRequest("Only restricted keys have a Policy.", code=20001)
            key.permissions = json.dumps(permissions)
    if permissions is not None:
        # Remembered principals carry the old permissions.
        rt.invalidation.publish(inv.CREDENTIAL, key_sid)
    return ApiKeyRecord.of(key)


def delete(rt: Runtime, account_sid: str, key_sid: str, *, actor: str) -> None:
    """Deleting a key revokes it at once: authentication reads the row (and the
    content redirect's remembered credentials are dropped, here and, through the
    invalidation channel, in every other process)."""
    with rt.tx() as session:
        key = session.get(ApiKey, key_sid)
        if key is None or key.account_sid != account_sid:
            raise NotFound(_path(account_sid, key_sid))
        session.delete(key)
        session.add(AuditEvent(account_sid=account_sid, actor=actor, action="key.delete", target=key_sid))
    rt.invalidation.publish(inv.CREDENTIAL, key_sid)
