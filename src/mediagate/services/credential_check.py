"""Which usual mistake a refused credential is (the console's "Check a credential" page).

The API's 401 stays Twilio's ``20003 Authenticate`` whatever went wrong, so it
is no oracle. This tells the signed-in owner, and only about credentials of
accounts they own (their account and its subaccounts): a SID outside them gets
the same answer whether it exists or not, and a secret is only ever compared
with the owned accounts' tokens and key secrets. Secrets are compared as the
API compares them (keyed hashes, ``compare_digest`` in ``Keyring``); they are
never logged, stored or echoed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from mediagate import sids
from mediagate.db.models import Account, ApiKey, AuditEvent

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mediagate.context import Runtime


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
    account; the owner's own by default)."""
    sid, secret = sid.strip(), secret.strip()
    with rt.sessions() as session:
        owned = _owned(session, owner_sid)
        target = for_account if for_account in owned else owner_sid
        if sids.is_sid(sid, sids.ACCOUNT):
            return _check_account(rt, session, owned, target, sid, secret)
        if sids.is_sid(sid, sids.KEY):
            return _check_key(rt, session, owned, target, sid, secret)
    return Verdict(
        False,
        "malformed",
        "The username must be an Account SID (AC followed by 32 hex digits) or an API key SID (SK...).",
    )


def _inactive(account: Account) -> Verdict:
    return Verdict(
        False,
        "suspended",
        f"Account {account.sid} is {account.status}: every credential of it is refused until it is "
        "active again (its parent account, or the operator, can reactivate a suspended account).",
    )


def _check_account(
    rt: Runtime, session: Session, owned: dict[str, Account], target: str, sid: str, secret: str
) -> Verdict:
    account = owned.get(sid)
    if account is None:
        return Verdict(
            False,
            "not_yours",
            "This Account SID is not your account or one of its subaccounts, "
            "so nothing can be said about it.",
        )
    if account.status != "active":
        return _inactive(account)
    token = _token_of(rt, {sid: account}, secret)
    if token is not None and sid != target and owned[target].owner_account_sid != sid:
        return Verdict(
            False,
            "other_account",
            f"That is the Auth Token of {sid}, but requests for {target} need {target}'s own credentials.",
        )
    if token is not None and token[1] == "primary":
        return Verdict(True, "valid", f"Valid: the primary Auth Token of {sid}.")
    if token is not None:
        return Verdict(
            True,
            "secondary",
            f"Valid for API requests: this is the secondary Auth Token of {sid}, not yet promoted. "
            "Webhooks are signed with the primary token, so a signature check with this one fails "
            "until you promote it (POST /v1/AuthTokens/Promote).",
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


def _check_key(
    rt: Runtime, session: Session, owned: dict[str, Account], target: str, sid: str, secret: str
) -> Verdict:
    key = session.get(ApiKey, sid)
    if key is None or key.account_sid not in owned:
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
    account = owned[key.account_sid]
    if rt.keyring.verify_secret(secret, key.secret_hash):
        if account.status != "active":
            return _inactive(account)
        if key.account_sid != target and owned[target].owner_account_sid != key.account_sid:
            return Verdict(
                False,
                "key_of_other_account",
                f"Valid, but this key belongs to {key.account_sid}: requests for {target} with it are "
                f"refused. Create a key in {target}, or use {target}'s parent's key.",
            )
        return Verdict(True, "valid", f"Valid: a {key.kind} API key of {key.account_sid}.")
    token = _token_of(rt, owned, secret)
    if token is not None:
        return Verdict(
            False,
            "key_sid_with_auth_token",
            f"That is the {token[1]} Auth Token of {token[0].sid}, sent with an API key SID. Use the key's "
            "own secret (shown once, when it was created), or the Account SID with the token.",
        )
    return Verdict(
        False,
        "wrong_secret",
        f"The secret is not the secret of API key {sid}. Key secrets are shown only once; if it is lost, "
        "create a new key and delete this one.",
    )
