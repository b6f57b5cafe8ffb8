"""Accounts, their auth tokens and the *Enforce HTTP Auth on Media URLs* setting."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, or_, select
from sqlalchemy import update as sa_update

from mediagate.accounts import quotas, test_credentials
from mediagate.cluster import invalidation as inv
from mediagate.core import sids
from mediagate.core.errors import BadRequest, Forbidden, NotFound
from mediagate.core.paging import Page, PageRequest, fetch_page
from mediagate.db.models import Account, AuditEvent, Media, Message, SettingChange
from mediagate.db.records import AccountRecord, SettingChangeRecord, page_of

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

ENFORCE_SETTING = "enforce_media_http_auth"


def _token_context(sid: str, slot: str) -> str:
    return f"auth-token:{slot}:{sid}"


@dataclass(frozen=True)
class NewAccount:
    account: AccountRecord
    auth_token: str
    test_auth_token: str  # Twilio's test credentials: with ``account.test_account_sid``


def create(rt: Runtime, friendly_name: str, *, owner_sid: str | None = None) -> NewAccount:
    friendly_name = friendly_name.strip()
    if not friendly_name or len(friendly_name) > 64:
        raise BadRequest("FriendlyName must be 1 to 64 characters.")
    sid = sids.new_sid(sids.ACCOUNT)
    token = secrets.token_hex(16)
    test_token, test_hash, test_sealed = test_credentials.new_token(rt.keyring, sid)
    account = Account(
        sid=sid,
        owner_account_sid=owner_sid,
        friendly_name=friendly_name,
        status="active",
        auth_token_hash=rt.keyring.hash_secret(token),
        auth_token_sealed=rt.keyring.seal(token, context=_token_context(sid, "primary")),
        test_account_sid=test_credentials.new_sid(),
        test_auth_token_hash=test_hash,
        test_auth_token_sealed=test_sealed,
        # Twilio enforces HTTP auth on media for new accounts; so do we.
        enforce_media_http_auth=True,
    )
    with rt.tx() as session:
        session.add(account)
        session.flush()  # the account row first: the usage row refers to it
        quotas.start_counting(session, sid)
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
    return NewAccount(account=AccountRecord.of(account), auth_token=token, test_auth_token=test_token)


def get(rt: Runtime, sid: str) -> AccountRecord:
    with rt.sessions() as session:
        account = session.get(Account, sid)
    if account is None:
        raise NotFound(f"/2010-04-01/Accounts/{sid}.json")
    return AccountRecord.of(account)


def list_all(rt: Runtime) -> list[AccountRecord]:
    with rt.sessions() as session:
        rows = session.scalars(select(Account).order_by(Account.date_created, Account.sid))
        return [AccountRecord.of(a) for a in rows]


def reveal_auth_token(rt: Runtime, account: Account | AccountRecord) -> str:
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
                    date_created=rt.clock.now(),
                )
            )
            account.enforce_media_http_auth = enabled
    rt.invalidation.publish(inv.SETTING, account_sid)
    return messaging_settings(rt, account_sid)


def setting_history(rt: Runtime, account_sid: str) -> list[SettingChangeRecord]:
    with rt.sessions() as session:
        rows = session.scalars(
            select(SettingChange)
            .where(SettingChange.account_sid == account_sid)
            .order_by(SettingChange.date_created.desc(), SettingChange.id.desc())
        )
        return [SettingChangeRecord.of(c) for c in rows]


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


# --- subaccounts -----------------------------------------------------------------------------

STATUSES = ("active", "suspended", "closed")


def create_subaccount(rt: Runtime, parent_sid: str, friendly_name: str | None) -> NewAccount:
    parent = get(rt, parent_sid)
    if parent.owner_account_sid is not None:
        # Twilio allows one level: a subaccount cannot have subaccounts.
        raise Forbidden("A subaccount cannot create subaccounts.", code=20403)
    name = (friendly_name or "").strip() or f"SubAccount Created at {rt.clock.now():%Y-%m-%d %I:%M %p}"
    return create(rt, name, owner_sid=parent_sid)


def reachable_page(rt: Runtime, principal_account: str, query: Mapping[str, str], req: PageRequest) -> Page:
    """The credential's own account and its subaccounts, as Twilio lists them."""
    stmt = select(Account).where(
        or_(Account.sid == principal_account, Account.owner_account_sid == principal_account)
    )
    if query.get("FriendlyName"):
        stmt = stmt.where(Account.friendly_name == query["FriendlyName"])
    if query.get("Status"):
        if query["Status"] not in STATUSES:
            raise BadRequest("Status must be active, suspended or closed.", code=20001)
        stmt = stmt.where(Account.status == query["Status"])
    with rt.sessions() as session:
        return page_of(fetch_page(session, stmt, Account.date_created, Account.sid, req), AccountRecord.of)


def subaccounts(rt: Runtime, parent_sid: str) -> list[AccountRecord]:
    with rt.sessions() as session:
        rows = session.scalars(
            select(Account).where(Account.owner_account_sid == parent_sid).order_by(Account.date_created)
        )
        return [AccountRecord.of(a) for a in rows]


def owned_sids(rt: Runtime, account_sid: str) -> list[str]:
    """The account itself, then its subaccounts' sids in sid order."""
    with rt.sessions() as session:
        subs = session.scalars(
            select(Account.sid).where(Account.owner_account_sid == account_sid).order_by(Account.sid)
        )
        return [account_sid, *subs]


def update(
    rt: Runtime, account_sid: str, *, actor_account: str, friendly_name: str | None, status: str | None
) -> AccountRecord:
    """Rename, suspend, reactivate or close. Only the parent changes a
    subaccount's status; a main account's own status is not changed here.
    Closing is final and deletes the account's media (rows, then objects)."""
    if status is not None and status not in STATUSES:
        raise BadRequest("Status must be active, suspended or closed.", code=20001)
    keys_to_delete: list[str] = []
    with rt.tx() as session:
        account = session.get(Account, account_sid, with_for_update=True)
        if account is None:
            raise NotFound(f"/2010-04-01/Accounts/{account_sid}.json")
        if friendly_name is not None:
            name = friendly_name.strip()
            if not name or len(name) > 64:
                raise BadRequest("FriendlyName must be 1 to 64 characters.", code=20001)
            account.friendly_name = name
        if status is not None and status != account.status:
            if account.owner_account_sid is None or account.owner_account_sid != actor_account:
                raise Forbidden("Only the parent account can change a subaccount's status.", code=20403)
            if account.status == "closed":
                raise BadRequest("A closed account cannot be reopened.", code=20001)
            account.status = status
            session.add(
                AuditEvent(
                    account_sid=account_sid,
                    actor=actor_account,
                    action=f"account.{status}",
                    target=account_sid,
                )
            )
            if status == "closed":
                keys_to_delete = list(
                    session.scalars(select(Media.storage_key).where(Media.account_sid == account_sid))
                )
                session.execute(delete(Media).where(Media.account_sid == account_sid))
                quotas.release_all(session, account_sid)
                session.execute(
                    sa_update(Message).where(Message.account_sid == account_sid).values(num_media=0)
                )
    if status is not None:
        rt.invalidation.publish(inv.ACCOUNT, account_sid)
    for key in keys_to_delete:
        rt.store.delete(key)
    return get(rt, account_sid)


# --- auth token rotation (Twilio's accounts v1 AuthTokens API) ----------------------------------


@dataclass(frozen=True)
class TokenChange:
    account_sid: str
    token: str
    date_created: datetime
    date_updated: datetime


def create_secondary_token(rt: Runtime, account_sid: str, *, actor: str) -> TokenChange:
    """A new secondary token (replacing any previous one); both tokens work until promotion."""
    token = secrets.token_hex(16)
    now = rt.clock.now()
    with rt.tx() as session:
        account = session.get(Account, account_sid, with_for_update=True)
        if account is None:
            raise NotFound("/v1/AuthTokens/Secondary")
        account.secondary_token_hash = rt.keyring.hash_secret(token)
        account.secondary_token_sealed = rt.keyring.seal(
            token, context=_token_context(account_sid, "secondary")
        )
        account.secondary_token_created = now
        session.add(AuditEvent(account_sid=account_sid, actor=actor, action="auth_token.secondary.create"))
    # The previous secondary token (if any) stops working.
    rt.invalidation.publish(inv.CREDENTIAL, account_sid)
    return TokenChange(account_sid, token, now, now)


def delete_secondary_token(rt: Runtime, account_sid: str, *, actor: str) -> None:
    with rt.tx() as session:
        account = session.get(Account, account_sid, with_for_update=True)
        if account is None or account.secondary_token_hash is None:
            raise NotFound("/v1/AuthTokens/Secondary")
        account.secondary_token_hash = None
        account.secondary_token_sealed = None
        account.secondary_token_created = None
        session.add(AuditEvent(account_sid=account_sid, actor=actor, action="auth_token.secondary.delete"))
    rt.invalidation.publish(inv.CREDENTIAL, account_sid)


def promote_secondary_token(rt: Runtime, account_sid: str, *, actor: str) -> TokenChange:
    """The secondary token becomes the primary; the old primary fails from the next request."""
    now = rt.clock.now()
    with rt.tx() as session:
        account = session.get(Account, account_sid, with_for_update=True)
        if account is None:
            raise NotFound("/v1/AuthTokens/Promote")
        if account.secondary_token_hash is None or account.secondary_token_sealed is None:
            raise BadRequest("There is no secondary auth token to promote.", code=20001)
        token = rt.keyring.unseal(
            account.secondary_token_sealed, context=_token_context(account_sid, "secondary")
        )
        account.auth_token_hash = account.secondary_token_hash
        account.auth_token_sealed = rt.keyring.seal(token, context=_token_context(account_sid, "primary"))
        account.secondary_token_hash = None
        account.secondary_token_sealed = None
        account.secondary_token_created = None
        session.add(AuditEvent(account_sid=account_sid, actor=actor, action="auth_token.promote"))
        created = account.date_created
    rt.invalidation.publish(inv.CREDENTIAL, account_sid)
    return TokenChange(account_sid, token, created, now)
