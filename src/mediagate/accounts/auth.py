"""The authenticator: a credential -> a frozen ``Principal``, and whether that
principal may act on an account. Every way in asks here: the API's route
wrapper (``api/common.py``), the content redirect and its answers from memory
(``media/media.py``), the console's sign-in and its session re-check
(``console/``), and the credential check that explains a refusal
(``accounts/credential_check.py``).

Accepted: ``AccountSid:AuthToken`` (primary or secondary token) and
``SKxxx:secret`` for an API key of the account acted on (or of its parent).
Twilio's test credentials (``TestAccountSid:TestAuthToken``,
``accounts/test_credentials.py``) are identified too, but only a route that
declares it accepts them lets them through; everywhere else ``refusal`` answers
Twilio's 403 / 20008, and they act on nothing but their own test SID.
Secrets are checked with a keyed SHA-256 and ``compare_digest``; the 401 never
says which half was wrong, and why it was refused goes to metrics only
(``mediagate_auth_failures_total``, by reason).

Two questions, each answered by one function whatever asks:

* ``identify``: who is this credential (or the reason it is nobody), read from
  the database;
* ``refusal``: may that principal act on this account with this permission,
  given the account's owner and status. The database path and the memory path
  (``recall``) both feed it; only what it allowed is ever remembered.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from mediagate.accounts.permissions import GRANTABLE, STANDARD_DENIED, stored_grants
from mediagate.core import sids
from mediagate.core.errors import Forbidden, Unauthorized
from mediagate.db.models import Account, ApiKey
from mediagate.observability import metrics

if TYPE_CHECKING:
    from mediagate.core.crypto import Keyring
    from mediagate.runtime.context import Runtime


@dataclass(frozen=True)
class Principal:
    account_sid: str  # the account the credential belongs to
    credential_sid: str  # AC... for an auth token, SK... for an API key
    kind: str  # "auth_token" | "secondary_auth_token" | "api_key" | "test_auth_token"
    key_kind: str = "main"  # for API keys: "main" | "standard" | "restricted"
    permissions: frozenset[str] = frozenset()  # restricted keys only

    @property
    def actor(self) -> str:
        return self.credential_sid

    @property
    def is_test(self) -> bool:
        """Twilio's test credentials: the handler answers without sending or storing."""
        return self.kind == TEST_AUTH_TOKEN

    def allows(self, permission: str) -> bool:
        if self.kind != "api_key" or self.key_kind == "main":
            return True
        if self.key_kind == "standard":
            return permission not in STANDARD_DENIED
        return permission in self.permissions and permission in GRANTABLE


@dataclass(frozen=True)
class AccountFacts:
    """What reaching an account other than the credential's own depends on."""

    owner_account_sid: str | None
    status: str


# Why a credential is nobody (``identify``); the metrics label of its 401.
Unknown = Literal["missing", "malformed", "unknown", "inactive", "bad_secret"]
# Why a principal may not act (``refusal``): a 401, a 403 (Twilio's 70051), and
# test credentials where the route does not take them (403, Twilio's 20008).
NO_ACCESS: Final = "no_access"
PERMISSION: Final = "permission"
TEST_CREDENTIALS: Final = "test_credentials"
Refusal = Literal["no_access", "permission", "test_credentials"]
# The principal kind of Twilio's test credentials.
TEST_AUTH_TOKEN: Final = "test_auth_token"  # noqa: S105 (a kind's name, not a secret)


def denied(reason: str) -> Unauthorized:
    """The 401 for a rejected credential, counted by reason class in
    ``mediagate_auth_failures_total``. The reason goes to metrics only: the
    client's answer stays the same whatever it is, so it is no oracle."""
    metrics.AUTH_FAILURES.labels(reason).inc()
    return Unauthorized()


def refused(reason: Refusal) -> Unauthorized | Forbidden:
    """The error for a ``refusal``: an account out of reach is the same 401 as a
    bad credential (which accounts exist is nobody else's business); a missing
    permission is a 403 that says so, as at Twilio; so are test credentials on
    a resource that does not take them (Twilio's 20008, word for word)."""
    if reason == NO_ACCESS:
        return denied(NO_ACCESS)
    metrics.AUTH_FAILURES.labels(reason).inc()
    if reason == TEST_CREDENTIALS:
        return Forbidden("Resource not accessible with Test Account Credentials", code=20008)
    return Forbidden("Authorization Failed", code=70051)


# A credential as the access audit names it: its kind and sid (never its secret).
Credential = tuple[str, str | None]
NO_CREDENTIAL: Final[Credential] = ("none", None)
# Told why ``require`` refuses, just before it raises (the content URL's audit):
# the reason class (the metrics label) and the credential the request named.
OnRefusal = Callable[[str, Credential], None]


def claimed(user: str) -> Credential:
    """The credential a Basic user name claims to be, for the records of its
    refusal: an account sid (its auth tokens) or an API key sid, whether or not
    it exists. Anything else is not named: not being a sid, it could be
    anything, a secret typed into the wrong field included."""
    if sids.is_sid(user, sids.ACCOUNT):
        return "auth_token", user
    if sids.is_sid(user, sids.KEY):
        return "api_key", user
    return NO_CREDENTIAL


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


# --------------------------------------------------------------------------- the one rule


def refusal(
    principal: Principal,
    account_sid: str | None,
    target: AccountFacts | None,
    permission: str | None,
    *,
    any_status: bool = False,
    test_ok: bool = False,
) -> Refusal | None:
    """Why ``principal`` may not act on ``account_sid`` with ``permission``, or
    ``None`` when it may. ``target`` is that account's owner and status (``None``:
    not known, or no such account); it is only consulted for an account other
    than the credential's own (whose status ``identify`` already checked).

    Twilio's test credentials are refused first, whatever the account, unless
    the request is one that takes them (``test_ok``: the route declares it).
    Their principal's account is the test SID itself, which owns nothing and
    has no subaccounts, so where they are taken they reach that SID only.

    An account's credentials reach the account itself and its direct
    subaccounts, never its parent, a sibling or a grandchild; a subaccount
    only while active unless ``any_status`` (the parent managing it: accounts
    v1 and IAM must see, and reactivate, a suspended subaccount). Reach is
    decided before the permission, so a credential cannot learn what it may
    do on an account it does not reach."""
    if principal.kind == TEST_AUTH_TOKEN and not test_ok:
        return TEST_CREDENTIALS
    own = account_sid is None or account_sid == principal.account_sid
    if not own and (
        target is None
        or target.owner_account_sid != principal.account_sid
        or (not any_status and target.status != "active")
    ):
        return NO_ACCESS
    if permission is not None and not principal.allows(permission):
        return PERMISSION
    return None


def key_principal(account_sid: str, key_sid: str, kind: str, stored_permissions: str | None) -> Principal:
    """The principal of an API key row: the sign-in and the console session
    build it here too, so key permissions have one reader."""
    granted = frozenset(stored_grants(kind, stored_permissions))
    return Principal(account_sid, key_sid, "api_key", kind, granted)


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
_TEST_CREDENTIALS = select(_ACCOUNTS.status, _ACCOUNTS.test_auth_token_hash).where(
    _ACCOUNTS.test_account_sid == bindparam("sid")
)
_ACCOUNT_OWNER = select(_ACCOUNTS.owner_account_sid, _ACCOUNTS.status).where(
    _ACCOUNTS.sid == bindparam("sid")
)


def identify(
    session: Session, user: str, proves: Callable[[str], bool], *, include_test: bool = False
) -> Principal | Unknown:
    """The principal ``user`` names when ``proves`` accepts one of its stored
    secret hashes, else why not (nothing counted, nothing raised: the callers
    decide what a refusal costs).

    ``include_test``: a test Account SID names Twilio's test credentials (the API
    asks so, to answer them 20008 where they are not taken). Without it, as for
    the console's sign-in, a test SID is nobody, like any unknown SID.

    ``proves`` is the comparison: a presented secret against the hash
    (``Keyring.verify_secret``, constant time) for the API and the sign-in, a
    session's fingerprint of the hash for the console's re-check.

    One Core query per credential (no ORM entities): this runs on every API
    request, and it reads the database each time so that a deleted key or a
    rotated token fails on the next request. (The content redirect alone
    remembers what passed here, ``recall``; the change itself drops it through
    mediagate.cluster.invalidation.)
    """
    if sids.is_sid(user, sids.ACCOUNT):
        row = session.connection().execute(_ACCOUNT_CREDENTIALS, {"sid": user}).first()
        if row is None:
            # Only an unknown live SID costs this second lookup; a live one never does.
            return _test_principal(session, user, proves) if include_test else "unknown"
        if row.status != "active":
            return "inactive"
        if proves(row.auth_token_hash):
            return Principal(user, user, "auth_token")
        if row.secondary_token_hash and proves(row.secondary_token_hash):
            return Principal(user, user, "secondary_auth_token")
        return "bad_secret"
    if sids.is_sid(user, sids.KEY):
        key = session.connection().execute(_KEY_CREDENTIALS, {"sid": user}).first()
        # Same order of checks as one combined condition: no secret check for an unknown key.
        if key is None:
            return "unknown"
        if not proves(key.secret_hash):
            return "bad_secret"
        if key.status != "active":
            return "inactive"
        return key_principal(key.account_sid, user, key.kind, key.permissions)
    return "malformed"


def _test_principal(session: Session, user: str, proves: Callable[[str], bool]) -> Principal | Unknown:
    row = session.connection().execute(_TEST_CREDENTIALS, {"sid": user}).first()
    if row is None:
        return "unknown"
    if row.status != "active":
        return "inactive"
    # NULL only until the first start after migration 0012 issued the token: nothing proves it.
    if row.test_auth_token_hash and proves(row.test_auth_token_hash):
        return Principal(user, user, TEST_AUTH_TOKEN)
    return "bad_secret"


def _from_header(
    session: Session, keyring: Keyring, header: str | None
) -> Principal | tuple[Unknown, Credential]:
    """The header's principal, or why it is nobody and which credential it named."""
    creds = parse_basic(header)
    if creds is None:
        return ("malformed" if header else "missing"), NO_CREDENTIAL
    user, secret = creds
    found = identify(session, user, lambda stored: keyring.verify_secret(secret, stored), include_test=True)
    return found if isinstance(found, Principal) else (found, claimed(user))


def account_facts(session: Session, account_sid: str) -> AccountFacts | None:
    row = session.connection().execute(_ACCOUNT_OWNER, {"sid": account_sid}).first()
    return None if row is None else AccountFacts(row.owner_account_sid, row.status)


def can_reach(session: Session, principal: Principal, account_sid: str) -> bool:
    """Whether the principal reaches ``account_sid`` whatever its status (to
    manage it: see ``refusal``)."""
    target = None if account_sid == principal.account_sid else account_facts(session, account_sid)
    return refusal(principal, account_sid, target, None, any_status=True) is None


class Memory(Protocol):
    """The success-only memory of the content redirect (``media/hotcache.py``)."""

    def begin(self) -> tuple[int, int]:
        """A mark taken before the database is read for an answer to ``remember``."""

    def recall(self, header: str) -> Principal | None:
        """The principal once proved by exactly this header."""

    def recall_account(self, account_sid: str) -> AccountFacts | None: ...

    def remember(
        self,
        mark: tuple[int, int],
        header: str,
        principal: Principal,
        account_sid: str,
        target: AccountFacts | None,
    ) -> None:
        """Keep a principal that was allowed (and the facts it was allowed on),
        unless something changed since ``mark``."""


def require(
    session: Session,
    keyring: Keyring,
    header: str | None,
    account_sid: str | None,
    permission: str | None = None,
    *,
    any_status: bool = False,
    test_ok: bool = False,
    memory: Memory | None = None,
    on_refusal: OnRefusal | None = None,
) -> Principal:
    """The database path: the header's principal, allowed to act on
    ``account_sid`` (``None``: its own account) with ``permission``; the counted
    401 or 403 otherwise. ``test_ok``: this request takes Twilio's test
    credentials (see ``refusal``). With ``memory``, what was allowed is
    remembered for ``recall``; ``on_refusal`` hears why a refusal is made (the
    answer stays the same whatever it hears)."""
    mark = memory.begin() if memory is not None else (0, 0)
    found = _from_header(session, keyring, header)
    if not isinstance(found, Principal):
        if on_refusal is not None:
            on_refusal(*found)
        raise denied(found[0])
    principal = found
    target = None
    if account_sid is not None and account_sid != principal.account_sid:
        target = account_facts(session, account_sid)
    reason = refusal(principal, account_sid, target, permission, any_status=any_status, test_ok=test_ok)
    if reason is not None:
        if on_refusal is not None:
            on_refusal(reason, (principal.kind, principal.credential_sid))
        raise refused(reason)
    if memory is not None and header is not None and account_sid is not None:
        # Only a credential that passed is remembered (never a wrong secret).
        memory.remember(mark, header, principal, account_sid, target)
    return principal


# The runtime-level entry points the adapters (API routes, console) call: they
# open the session themselves, so no HTTP code reaches the database directly.
def check(
    rt: Runtime,
    header: str | None,
    account_sid: str | None,
    permission: str,
    *,
    any_status: bool = False,
    test_ok: bool = False,
) -> Principal:
    """``require`` on a session of ``rt``'s database."""
    with rt.sessions() as session:
        return require(
            session, rt.keyring, header, account_sid, permission, any_status=any_status, test_ok=test_ok
        )


def identify_with(rt: Runtime, user: str, proves: Callable[[str], bool]) -> Principal | Unknown:
    """``identify`` on a session of ``rt``'s database."""
    with rt.sessions() as session:
        return identify(session, user, proves)


def recall(memory: Memory, header: str, account_sid: str, permission: str) -> Principal | None:
    """``require`` answered from memory, or ``None`` when memory cannot say yes
    (nothing remembered, or ``refusal`` objects): the caller then asks the
    database path, so every refusal is decided, counted and answered there."""
    principal = memory.recall(header)
    if principal is None:
        return None
    target = None if account_sid == principal.account_sid else memory.recall_account(account_sid)
    if refusal(principal, account_sid, target, permission) is not None:
        return None
    return principal
