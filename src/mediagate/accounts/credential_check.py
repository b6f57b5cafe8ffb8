"""Which usual mistake a refused credential is (the console's "Check a credential" page).

The API's 401 stays Twilio's ``20003 Authenticate`` whatever went wrong, so it
is no oracle. This tells the signed-in owner, and only about credentials of
accounts they own (their account and its subaccounts): a SID outside them gets
the same answer whether it exists or not, and a secret is only ever compared
with the owned accounts' tokens and key secrets. Secrets are compared as the
API compares them: the verdict is the authenticator's own (``mediagate.accounts.auth``),
this module only explains it. Secrets are never logged, stored or echoed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from mediagate.accounts import auth
from mediagate.accounts.auth import Principal
from mediagate.core import sids
from mediagate.db.models import Account, ApiKey, AuditEvent

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mediagate.runtime.context import Runtime


@dataclass(frozen=True)
class Verdict:
    ok: bool  # the API accepts this pair (for ``for_account``)
    code: str  # a stable name of the case, for tests and the page's styling
    message: str


def _owned(session: Session, owner_sid: str) -> dict[str, Account]:
    rows = session.scalars(
        select(Account).where((Account.sid == owner_sid) | (Account.owner_account_sid == owner_sid))
    )
    return {a.sid: a for a in rows}


def _token_of(rt: Runtime, owned: dict[str, Account], secret: str) -> tuple[Account, str] | None:
    """The owned account (and "primary"/"secondary") whose auth token ``secret`` is."""
    for account in owned.values():
        if rt.keyring.verify_secret(secret, account.auth_token_hash):
            return account, "primary"
        if account.secondary_token_hash and rt.keyring.verify_secret(secret, account.secondary_token_hash):
            return account, "secondary"
    return None


def _key_of(rt: Runtime, session: Session, owned: dict[str, Account], secret: str) -> ApiKey | None:
    keys = session.scalars(select(ApiKey).where(ApiKey.account_sid.in_(list(owned))))
    return next((k for k in keys if rt.keyring.verify_secret(secret, k.secret_hash)), None)


def check(rt: Runtime, owner_sid: str, sid: str, secret: str, for_account: str | None = None) -> Verdict:
    """Diagnose ``sid``:``secret`` as a credential for ``for_account`` (an owned
    account; the owner's own by default).

    The verdict is the authenticator's (``auth.identify`` and ``auth.refusal``, as
    for an API request on ``for_account``), explained; the other secrets of the
    owned accounts are consulted only to say which usual mistake a wrong secret is.
    """
    sid, secret = sid.strip(), secret.strip()
    with rt.sessions() as session:
        owned = _owned(session, owner_sid)
        target = owned[for_account if for_account in owned else owner_sid]
        tested = next((a for a in owned.values() if a.test_account_sid == sid), None)
        if tested is not None:
            return _test_credentials(rt, tested, secret)
        outside = _outside(session, owned, sid)
        if outside is not None:
            return outside
        found = auth.identify(session, sid, lambda stored: rt.keyring.verify_secret(secret, stored))
        if isinstance(found, Principal):
            return _allowed(found, target, owned)
        if found == "bad_secret":
            return _wrong_secret(rt, session, owned, sid, secret)
        if found == "inactive":
            return _inactive(owned[_holder(session, sid) or owner_sid])
        if found == "unknown":  # deleted since ``_outside`` looked
            return _NOT_YOURS
    return Verdict(
        False,
        "malformed",
        "The username must be an Account SID (AC followed by 32 hex digits) or an API key SID (SK...).",
    )


_NOT_YOURS = Verdict(
    False,
    "not_yours",
    "This Account SID is not your account or one of its subaccounts, so nothing can be said about it.",
)


def _test_credentials(rt: Runtime, account: Account, secret: str) -> Verdict:
    """A test Account SID of an owned account (Twilio's test credentials)."""
    if not rt.keyring.verify_secret(secret, account.test_auth_token_hash):
        return Verdict(
            False,
            "wrong_secret",
            f"{account.test_account_sid} is the test Account SID of {account.sid}; the secret is not its "
            "test auth token (the live auth token does not go with it).",
        )
    return Verdict(
        False,
        "test_credentials",
        f"Valid test credentials of {account.sid}: the API takes them only for POST Messages.json and POST "
        "IncomingPhoneNumbers.json with Twilio's magic numbers (nothing is sent or stored), with the test "
        "Account SID in the path; every other request answers 403 (code 20008).",
    )


def _holder(session: Session, sid: str) -> str | None:
    """The account whose credential ``sid`` is (itself, or the key's account)."""
    if sids.is_sid(sid, sids.KEY):
        key = session.get(ApiKey, sid)
        return key.account_sid if key is not None else None
    return sid if sids.is_sid(sid, sids.ACCOUNT) else None


def _outside(session: Session, owned: dict[str, Account], sid: str) -> Verdict | None:
    """The answer for a credential of an account the owner does not own (the same
    whether it exists or not), before any secret is compared; ``None`` otherwise."""
    if sids.is_sid(sid, sids.ACCOUNT) and sid not in owned:
        return _NOT_YOURS
    if sids.is_sid(sid, sids.KEY) and _holder(session, sid) not in owned:
        deleted = session.scalar(
            select(AuditEvent.date_created).where(
                AuditEvent.action == "key.delete",
                AuditEvent.target == sid,
                AuditEvent.account_sid.in_(list(owned)),
            )
        )
        if deleted is not None:
            return Verdict(
                False, "key_deleted", f"API key {sid} was deleted on {deleted:%Y-%m-%d %H:%M} UTC."
            )
        return Verdict(
            False,
            "not_yours",
            "This API key is not a key of your account or of its subaccounts (another account's key, "
            "or no key at all), so nothing more can be said about it.",
        )
    return None


def _inactive(account: Account) -> Verdict:
    return Verdict(
        False,
        "suspended",
        f"Account {account.sid} is {account.status}: every credential of it is refused until it is "
        "active again (its parent account, or the operator, can reactivate a suspended account).",
    )


def _allowed(found: Principal, target: Account, owned: dict[str, Account]) -> Verdict:
    """A credential the authenticator accepts: may it act on ``target``?"""
    facts = auth.AccountFacts(target.owner_account_sid, target.status)
    if auth.refusal(found, target.sid, facts, None) is not None:
        if target.owner_account_sid == found.account_sid:
            return _inactive(target)  # its own subaccount, but not active
        if found.kind == "api_key":
            return Verdict(
                False,
                "key_of_other_account",
                f"Valid, but this key belongs to {found.account_sid}: requests for {target.sid} with it are "
                f"refused. Create a key in {target.sid}, or use {target.sid}'s parent's key.",
            )
        return Verdict(
            False,
            "other_account",
            f"That is the Auth Token of {found.account_sid}, but requests for {target.sid} need "
            f"{target.sid}'s own credentials.",
        )
    if found.kind == "api_key":
        return Verdict(True, "valid", f"Valid: a {found.key_kind} API key of {found.account_sid}.")
    if found.kind == "auth_token":
        return Verdict(True, "valid", f"Valid: the primary Auth Token of {found.account_sid}.")
    return Verdict(
        True,
        "secondary",
        f"Valid for API requests: this is the secondary Auth Token of {found.account_sid}, not yet "
        "promoted. Webhooks are signed with the primary token, so a signature check with this one fails "
        "until you promote it (POST /v1/AuthTokens/Promote).",
    )


def _wrong_secret(rt: Runtime, session: Session, owned: dict[str, Account], sid: str, secret: str) -> Verdict:
    """The authenticator found the secret wrong for ``sid``: is it another owned secret?"""
    if sids.is_sid(sid, sids.KEY):
        token = _token_of(rt, owned, secret)
        if token is not None:
            return Verdict(
                False,
                "key_sid_with_auth_token",
                f"That is the {token[1]} Auth Token of {token[0].sid}, sent with an API key SID. Use the "
                "key's own secret (shown once, when it was created), or the Account SID with the token.",
            )
        return Verdict(
            False,
            "wrong_secret",
            f"The secret is not the secret of API key {sid}. Key secrets are shown only once; if it is "
            "lost, create a new key and delete this one.",
        )
    key = _key_of(rt, session, owned, secret)
    if key is not None:
        return Verdict(
            False,
            "key_secret_with_account_sid",
            f"That is the secret of API key {key.sid}: use it with the key's SID as the username, "
            "not with the Account SID.",
        )
    other = _token_of(rt, owned, secret)
    if other is not None:
        return Verdict(
            False,
            "token_of_other_account",
            f"That is the Auth Token of your account {other[0].sid}, not of {sid}.",
        )
    return Verdict(
        False,
        "wrong_secret",
        f"The secret is not the Auth Token of {sid} (primary or secondary) nor any of its API key "
        "secrets. If the token was rotated, the old one stopped working when the new one was promoted.",
    )
