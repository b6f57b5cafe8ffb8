"""Accounts, their auth tokens and the *Enforce HTTP Auth on Media URLs* setting."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from mediagate import sids
from mediagate.db.models import Account, Media, SettingChange
from mediagate.errors import BadRequest, NotFound
from mediagate.timefmt import utcnow

if TYPE_CHECKING:
    from mediagate.context import Runtime

ENFORCE_SETTING = "enforce_media_http_auth"


def _token_context(sid: str, slot: str) -> str:
    return f"auth-token:{slot}:{sid}"


@dataclass(frozen=True)
class NewAccount:
    account: Account
    auth_token: str


def create(rt: Runtime, friendly_name: str, *, owner_sid: str | None = None) -> NewAccount:
    friendly_name = friendly_name.strip()
    if not friendly_name or len(friendly_name) > 64:
        raise BadRequest("FriendlyName must be 1 to 64 characters.")
    sid = sids.new_sid(sids.ACCOUNT)
    token = secrets.token_hex(16)
    account = Account(
        sid=sid,
        owner_account_sid=owner_sid,
        friendly_name=friendly_name,
        status="active",
        auth_token_hash=rt.keyring.hash_secret(token),
        auth_token_sealed=rt.keyring.seal(token, context=_token_context(sid, "primary")),
        # Twilio enforces HTTP auth on media for new accounts; so do we.
        enforce_media_http_auth=True,
    )
    with rt.tx() as session:
        session.add(account)
        session.add(
            SettingChange(
                account_sid=sid,
                setting=ENFORCE_SETTING,
                old_value="",
                new_value="true",
                actor="system",
                via="account-create",
            )
        )
    return NewAccount(account=account, auth_token=token)


def get(rt: Runtime, sid: str) -> Account:
    with rt.sessions() as session:
        account = session.get(Account, sid)
    if account is None:
        raise NotFound(f"/2010-04-01/Accounts/{sid}.json")
    return account


def list_all(rt: Runtime) -> list[Account]:
    with rt.sessions() as session:
        return list(session.scalars(select(Account).order_by(Account.date_created, Account.sid)))


def reveal_auth_token(rt: Runtime, account: Account) -> str:
    return rt.keyring.unseal(account.auth_token_sealed, context=_token_context(account.sid, "primary"))


@dataclass(frozen=True)
class MessagingSettings:
    account_sid: str
    enforce_media_http_auth: bool
    date_updated: datetime


def messaging_settings(rt: Runtime, account_sid: str) -> MessagingSettings:
    with rt.sessions() as session:
        account = session.get(Account, account_sid)
        if account is None:
            raise NotFound(f"/v1/Accounts/{account_sid}/MessagingSettings")
        changed = session.scalar(
            select(func.max(SettingChange.date_created)).where(
                SettingChange.account_sid == account_sid, SettingChange.setting == ENFORCE_SETTING
            )
        )
    return MessagingSettings(account_sid, account.enforce_media_http_auth, changed or account.date_created)


def set_enforcement(
    rt: Runtime, account_sid: str, enabled: bool, *, actor: str, via: str
) -> MessagingSettings:
    """Change the setting for *new* media. Existing media keeps the protection it
    was created with (``Media.auth_required`` is never rewritten here)."""
    with rt.tx() as session:
        account = session.get(Account, account_sid, with_for_update=True)
        if account is None:
            raise NotFound(f"/v1/Accounts/{account_sid}/MessagingSettings")
        if account.enforce_media_http_auth != enabled:
            session.add(
                SettingChange(
                    account_sid=account_sid,
                    setting=ENFORCE_SETTING,
                    old_value=str(account.enforce_media_http_auth).lower(),
                    new_value=str(enabled).lower(),
                    actor=actor,
                    via=via,
                    date_created=utcnow(),
                )
            )
            account.enforce_media_http_auth = enabled
    return messaging_settings(rt, account_sid)


def setting_history(rt: Runtime, account_sid: str) -> list[SettingChange]:
    with rt.sessions() as session:
        return list(
            session.scalars(
                select(SettingChange)
                .where(SettingChange.account_sid == account_sid)
                .order_by(SettingChange.date_created.desc(), SettingChange.id.desc())
            )
        )


@dataclass(frozen=True)
class ProtectionCounts:
    legacy_public: int
    auth_required: int


def protection_counts(rt: Runtime, account_sid: str) -> ProtectionCounts:
    with rt.sessions() as session:
        rows = session.execute(
            select(Media.auth_required, func.count())
            .where(Media.account_sid == account_sid)
            .group_by(Media.auth_required)
        ).all()
    counts = {bool(flag): int(n) for flag, n in rows}
    return ProtectionCounts(legacy_public=counts.get(False, 0), auth_required=counts.get(True, 0))
