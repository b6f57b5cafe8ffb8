"""HTTP Basic auth -> a frozen ``Principal``.

Accepted: ``AccountSid:AuthToken`` (primary or secondary token) and
``SKxxx:secret`` for an API key of the account named in the path (or of its
parent). Secrets are checked with a keyed SHA-256 and ``compare_digest``;
the 401 never says which half was wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from mediagate import sids
from mediagate.db.models import Account, ApiKey
from mediagate.errors import Forbidden, Unauthorized
from mediagate.observability import metrics
from mediagate.permissions import GRANTABLE, STANDARD_DENIED

if TYPE_CHECKING:
    from mediagate.crypto import Keyring


@dataclass(frozen=True)
class Principal:
    account_sid: str  # the account the credential belongs to
    credential_sid: str  # AC... for an auth token, SK... for an API key
    kind: str  # "auth_token" | "secondary_auth_token" | "api_key"
    key_kind: str = "main"  # for API keys: "main" | "standard" | "restricted"
    permissions: frozenset[str] = frozenset()  # restricted keys only

    @property
    def actor(self) -> str:
        return self.credential_sid

    def allows(self, permission: str) -> bool:
        if self.kind != "api_key" or self.key_kind == "main":
            return True
        if self.key_kind == "standard":
            return permission not in STANDARD_DENIED
        return permission in self.permissions and permission in GRANTABLE


def denied(reason: str) -> Unauthorized:
    """The 401 for a rejected credential, counted by reason class in
    ``mediagate_auth_failures_total``. The reason goes to metrics only: the
    client's answer stays the same whatever it is, so it is no oracle."""
    metrics.AUTH_FAILURES.labels(reason).inc()
    return Unauthorized()


def require_permission(principal: Principal, permission: str) -> None:
    if not principal.allows(permission):
        metrics.AUTH_FAILURES.labels("permission").inc()
        raise Forbidden("Authorization Failed", code=70051)


def parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        # ValueError: b64decode refuses a str with non-ASCII characters (a
        # header with raw UTF-8/latin-1 bytes); that is a bad credential (401),
        # not a server error (it used to escape as a 500).
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password


def authenticate(session: Session, keyring: Keyring, header: str | None) -> Principal:
    """Raise ``Unauthorized`` unless the header carries a valid credential."""
    creds = parse_basic(header)
    if creds is None:
        raise denied("malformed" if header else "missing")
    return verify_credentials(session, keyring, *creds)


# Prebuilt Core statements over table columns, run on the session's
# connection: on the hot content redirect this is about a third of the cost
# of ORM-level ``session.execute(select(Model.col ...))`` (bench/).
_ACCOUNTS = Account.__table__.c
_KEYS = ApiKey.__table__.c
_ACCOUNT_CREDENTIALS = select(
    _ACCOUNTS.status, _ACCOUNTS.auth_token_hash, _ACCOUNTS.secondary_token_hash
).where(_ACCOUNTS.sid == bindparam("sid"))
_KEY_CREDENTIALS = (
    select(_KEYS.account_sid, _KEYS.secret_hash, _KEYS.kind, _KEYS.permissions, _ACCOUNTS.status)
    .join_from(ApiKey.__table__, Account.__table__, _ACCOUNTS.sid == _KEYS.account_sid)
    .where(_KEYS.sid == bindparam("sid"))
)
_ACCOUNT_OWNER = select(_ACCOUNTS.owner_account_sid, _ACCOUNTS.status).where(
    _ACCOUNTS.sid == bindparam("sid")
)


def verify_credentials(session: Session, keyring: Keyring, user: str, secret: str) -> Principal:
    """Check an ``AccountSid``/auth token or ``SKxxx``/secret pair (the API's
    Basic header and the console's login form share this).

    One Core query per credential (no ORM entities): this runs on every API
    request and on the hot content redirect, and it reads the database each
    time so that a deleted key or a rotated token fails on the next request. (The
    content redirect alone remembers what passed here: services/hotcache.py,
    dropped through mediagate.invalidation by the change itself.)
    """
    if sids.is_sid(user, sids.ACCOUNT):
        row = session.connection().execute(_ACCOUNT_CREDENTIALS, {"sid": user}).first()
        if row is None:
            raise denied("unknown")
        if row.status != "active":
            raise denied("inactive")
        if keyring.verify_secret(secret, row.auth_token_hash):
            return Principal(user, user, "auth_token")
        if row.secondary_token_hash and keyring.verify_secret(secret, row.secondary_token_hash):
            return Principal(user, user, "secondary_auth_token")
        raise denied("bad_secret")
    if sids.is_sid(user, sids.KEY):
        key = session.connection().execute(_KEY_CREDENTIALS, {"sid": user}).first()
        # Same order of checks as one combined condition: no secret check for an unknown key.
        if key is None:
            raise denied("unknown")
        if not keyring.verify_secret(secret, key.secret_hash):
            raise denied("bad_secret")
        if key.status != "active":
            raise denied("inactive")
        granted: frozenset[str] = frozenset()
        if key.kind == "restricted" and key.permissions:
            granted = frozenset(json.loads(key.permissions))
        return Principal(key.account_sid, user, "api_key", key.kind, granted)
    raise denied("malformed")


def can_reach(session: Session, principal: Principal, account_sid: str) -> bool:
    """An account's credentials reach the account itself and its direct
    subaccounts; never its parent or a sibling."""
    if principal.account_sid == account_sid:
        return True
    target = session.connection().execute(_ACCOUNT_OWNER, {"sid": account_sid}).first()
    return target is not None and target.owner_account_sid == principal.account_sid


def require(
    session: Session, keyring: Keyring, header: str | None, account_sid: str, permission: str | None = None
) -> Principal:
    principal = authenticate(session, keyring, header)
    if principal.account_sid != account_sid:
        # A parent acting on a subaccount: the subaccount must be its own and
        # active (the credential's own account was checked by authenticate).
        target = session.connection().execute(_ACCOUNT_OWNER, {"sid": account_sid}).first()
        if target is None or target.owner_account_sid != principal.account_sid or target.status != "active":
            raise denied("no_access")
    if permission is not None:
        require_permission(principal, permission)
    return principal
