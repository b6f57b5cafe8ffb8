"""API keys: the secret is returned once at creation and stored only as a hash."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from mediagate import sids
from mediagate.auth import Principal
from mediagate.db.models import ApiKey, AuditEvent
from mediagate.errors import BadRequest, Forbidden, NotFound
from mediagate.paging import Page, PageRequest, fetch_page

if TYPE_CHECKING:
    from mediagate.context import Runtime


def _path(account_sid: str, key_sid: str) -> str:
    return f"/2010-04-01/Accounts/{account_sid}/Keys/{key_sid}.json"


def ensure_may_manage_keys(principal: Principal) -> None:
    # Twilio: only the auth token or a main key manages keys; a standard or
    # restricted key that could mint keys could escalate its own access.
    if principal.kind == "api_key" and principal.key_kind != "main":
        raise Forbidden("This API key is not allowed to manage API keys.", code=20403)


def _friendly_name(value: str | None) -> str:
    name = (value or "").strip()
    if len(name) > 64:
        raise BadRequest("FriendlyName must be at most 64 characters.", code=20001)
    return name


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str


def create(rt: Runtime, account_sid: str, friendly_name: str | None, *, actor: str) -> NewKey:
    secret = secrets.token_urlsafe(24)  # 192 bits, URL-safe like Twilio's 32-char secrets
    key = ApiKey(
        sid=sids.new_sid(sids.KEY),
        account_sid=account_sid,
        friendly_name=_friendly_name(friendly_name),
        kind="standard",
        secret_hash=rt.keyring.hash_secret(secret),
    )
    with rt.tx() as session:
        session.add(key)
        session.add(AuditEvent(account_sid=account_sid, actor=actor, action="key.create", target=key.sid))
    return NewKey(key, secret)


def get(rt: Runtime, account_sid: str, key_sid: str) -> ApiKey:
    with rt.sessions() as session:
        key = session.get(ApiKey, key_sid)
    if key is None or key.account_sid != account_sid:
        raise NotFound(_path(account_sid, key_sid))
    return key


def page(rt: Runtime, account_sid: str, req: PageRequest) -> Page:
    with rt.sessions() as session:
        stmt = select(ApiKey).where(ApiKey.account_sid == account_sid)
        return fetch_page(session, stmt, ApiKey.date_created, ApiKey.sid, req)


def update(rt: Runtime, account_sid: str, key_sid: str, friendly_name: str | None) -> ApiKey:
    with rt.tx() as session:
        key = session.get(ApiKey, key_sid)
        if key is None or key.account_sid != account_sid:
            raise NotFound(_path(account_sid, key_sid))
        if friendly_name is not None:
            key.friendly_name = _friendly_name(friendly_name)
    return key


def delete(rt: Runtime, account_sid: str, key_sid: str, *, actor: str) -> None:
    """Deleting a key revokes it at once: authentication reads the row on every request."""
    with rt.tx() as session:
        key = session.get(ApiKey, key_sid)
        if key is None or key.account_sid != account_sid:
            raise NotFound(_path(account_sid, key_sid))
        session.delete(key)
        session.add(AuditEvent(account_sid=account_sid, actor=actor, action="key.delete", target=key_sid))
