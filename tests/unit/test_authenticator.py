"""The one authenticator (``mediagate.accounts.auth``) against every credential form, on
SQLite and PostgreSQL (the ``runtime`` fixture), through both of its paths:

* the database path, ``auth.require`` (what every API route, the content
  redirect and, through ``auth.identify``, the console and the credential check ask);
* the memory path, ``auth.recall`` over what ``require`` remembered in the
  content redirect's memory (``media/hotcache.py``).

For every case the memory path must give the database path's answer or none at
all (then the caller asks the database): never a different principal, never a
yes where the database said no. Refusals must be counted by reason, answer the
same 401 whatever the reason, and put no secret in the logs.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from mediagate.accounts import accounts, auth, keys
from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.core.errors import Forbidden, Unauthorized
from mediagate.db.models import Account, ApiKey
from mediagate.media.hotcache import HotCaches
from mediagate.observability.metrics import REGISTRY
from mediagate.runtime.context import Runtime
from tests.support.clients import basic


@dataclass(frozen=True)
class Cred:
    sid: str
    secret: str

    @property
    def header(self) -> str:
        return basic(self.sid, self.secret)


@dataclass
class World:
    rt: Runtime
    # The content redirect's memory, on the runtime's invalidation channel, with an
    # age no loaded machine reaches between two lines of a test (the real one is 1 s).
    memory: HotCaches
    parent: str
    token: Cred
    secondary: Cred
    main: Cred
    standard: Cred
    restricted: Cred  # messages read and media read only
    child: str
    child_token: Cred
    child_key: Cred
    sibling: str
    sibling_token: Cred
    grandchild: str
    suspended_child: str
    stranger: str
    stranger_token: Cred
    suspended: str
    suspended_token: Cred
    suspended_key: Cred
    closed: str
    closed_token: Cred


def _account(rt: Runtime, name: str, owner: str | None = None) -> tuple[str, Cred]:
    made = accounts.create(rt, name, owner_sid=owner)
    return made.account.sid, Cred(made.account.sid, made.auth_token)


def _key(rt: Runtime, account_sid: str, kind: str = "standard", allow: list[str] | None = None) -> Cred:
    made = keys.create(rt, account_sid, "k", actor="test")
    if kind != "standard":
        with rt.tx() as session:  # main keys come from the CLI only; set the row directly
            row = session.get(ApiKey, made.key.sid)
            assert row is not None
            row.kind = kind
            row.permissions = json.dumps(allow) if allow is not None else None
    return Cred(made.key.sid, made.secret)


def _status(rt: Runtime, sid: str, status: str) -> None:
    with rt.tx() as session:
        row = session.get(Account, sid)
        assert row is not None
        row.status = status


@pytest.fixture
def world(runtime: Runtime) -> World:
    rt = runtime
    parent, token = _account(rt, "parent")
    secondary = Cred(parent, accounts.create_secondary_token(rt, parent, actor=parent).token)
    child, child_token = _account(rt, "child", parent)
    sibling, sibling_token = _account(rt, "sibling", parent)
    grandchild, _ = _account(rt, "grandchild", child)
    suspended_child, _ = _account(rt, "suspended child", parent)
    _status(rt, suspended_child, "suspended")
    stranger, stranger_token = _account(rt, "stranger")
    suspended, suspended_token = _account(rt, "suspended")
    suspended_key = _key(rt, suspended)
    _status(rt, suspended, "suspended")
    closed, closed_token = _account(rt, "closed")
    _status(rt, closed, "closed")
    return World(
        rt=rt,
        memory=HotCaches(rt.invalidation, max_age=3600.0),
        parent=parent,
        token=token,
        secondary=secondary,
        main=_key(rt, parent, "main"),
        standard=_key(rt, parent),
        restricted=_key(rt, parent, "restricted", [perms.MESSAGES_READ, perms.MEDIA_READ]),
        child=child,
        child_token=child_token,
        child_key=_key(rt, child),
        sibling=sibling,
        sibling_token=sibling_token,
        grandchild=grandchild,
        suspended_child=suspended_child,
        stranger=stranger,
        stranger_token=stranger_token,
        suspended=suspended,
        suspended_token=suspended_token,
        suspended_key=suspended_key,
        closed=closed,
        closed_token=closed_token,
    )


def failures(reason: str) -> float:
    return REGISTRY.get_sample_value("mediagate_auth_failures_total", {"reason": reason}) or 0.0


# What an attempt came to: the principal, or the refusal (status, reason counted).
Outcome = Principal | tuple[int, str]


def attempt(
    w: World, header: str | None, account_sid: str | None, permission: str | None, **kw: bool
) -> Outcome:
    reasons = ("missing", "malformed", "unknown", "inactive", "bad_secret", "no_access", "permission")
    before = {r: failures(r) for r in reasons}
    try:
        with w.rt.sessions() as session:
            found = auth.require(
                session, w.rt.keyring, header, account_sid, permission, memory=w.memory, **kw
            )
    except (Unauthorized, Forbidden) as exc:
        counted = [r for r in reasons if failures(r) == before[r] + 1]
        assert len(counted) == 1, f"exactly one reason is counted, got {counted}"
        if exc.status == 401:
            # The 401 never says which half was wrong, nor why.
            assert (exc.code, exc.message) == (20003, "Authenticate")
        else:
            assert (exc.code, exc.message) == (70051, "Authorization Failed")
        return exc.status, counted[0]
    assert all(failures(r) == before[r] for r in reasons), "a success counted a failure"
    return found


def key_of(w: World, cred: Cred, account: str, kind: str, granted: frozenset[str] = frozenset()) -> Principal:
    return Principal(account, cred.sid, "api_key", kind, granted)


RO = frozenset({perms.MESSAGES_READ, perms.MEDIA_READ})

# (name, credential, account acted on, permission, expected); account None: the credential's own.
Case = tuple[
    str, Callable[[World], str | None], Callable[[World], str | None], str | None, Callable[[World], Outcome]
]
CASES: list[Case] = [
    # -- each credential form on its own account
    (
        "primary token",
        lambda w: w.token.header,
        lambda w: w.parent,
        perms.MANAGE_ACCOUNTS,
        lambda w: Principal(w.parent, w.parent, "auth_token"),
    ),
    (
        "secondary token",
        lambda w: w.secondary.header,
        lambda w: w.parent,
        perms.MANAGE_KEYS,
        lambda w: Principal(w.parent, w.parent, "secondary_auth_token"),
    ),
    (
        "main key",
        lambda w: w.main.header,
        lambda w: w.parent,
        perms.MANAGE_ACCOUNTS,
        lambda w: key_of(w, w.main, w.parent, "main"),
    ),
    (
        "standard key",
        lambda w: w.standard.header,
        lambda w: w.parent,
        perms.SETTINGS_WRITE,
        lambda w: key_of(w, w.standard, w.parent, "standard"),
    ),
    (
        "standard key, no key management",
        lambda w: w.standard.header,
        lambda w: w.parent,
        perms.MANAGE_KEYS,
        lambda w: (403, "permission"),
    ),
    (
        "restricted key, granted",
        lambda w: w.restricted.header,
        lambda w: w.parent,
        perms.MEDIA_READ,
        lambda w: key_of(w, w.restricted, w.parent, "restricted", RO),
    ),
    (
        "restricted key, not granted",
        lambda w: w.restricted.header,
        lambda w: w.parent,
        perms.MEDIA_DELETE,
        lambda w: (403, "permission"),
    ),
    (
        "restricted key, never settings write",
        lambda w: w.restricted.header,
        lambda w: w.parent,
        perms.SETTINGS_WRITE,
        lambda w: (403, "permission"),
    ),
    (
        "own account, no permission asked",
        lambda w: w.restricted.header,
        lambda w: None,
        None,
        lambda w: key_of(w, w.restricted, w.parent, "restricted", RO),
    ),
    # -- wrong halves
    (
        "wrong token",
        lambda w: basic(w.parent, "x" * 32),
        lambda w: w.parent,
        None,
        lambda w: (401, "bad_secret"),
    ),
    (
        "token of another account",
        lambda w: basic(w.parent, w.stranger_token.secret),
        lambda w: w.parent,
        None,
        lambda w: (401, "bad_secret"),
    ),
    (
        "key secret with the account sid",
        lambda w: basic(w.parent, w.standard.secret),
        lambda w: w.parent,
        None,
        lambda w: (401, "bad_secret"),
    ),
    (
        "token with a key sid",
        lambda w: basic(w.standard.sid, w.token.secret),
        lambda w: w.parent,
        None,
        lambda w: (401, "bad_secret"),
    ),
    (
        "wrong key secret",
        lambda w: basic(w.main.sid, w.main.secret + "x"),
        lambda w: w.parent,
        None,
        lambda w: (401, "bad_secret"),
    ),
    (
        "unknown account",
        lambda w: basic("AC" + "0" * 32, w.token.secret),
        lambda w: w.parent,
        None,
        lambda w: (401, "unknown"),
    ),
    (
        "unknown key",
        lambda w: basic("SK" + "0" * 32, w.standard.secret),
        lambda w: w.parent,
        None,
        lambda w: (401, "unknown"),
    ),
    (
        "lowercase sid prefix",
        lambda w: basic("ac" + w.parent[2:], w.token.secret),
        lambda w: w.parent,
        None,
        lambda w: (401, "malformed"),
    ),
    (
        "another sid type",
        lambda w: basic("PN" + w.parent[2:], w.token.secret),
        lambda w: w.parent,
        None,
        lambda w: (401, "malformed"),
    ),
    # -- inactive accounts: every credential of them
    (
        "suspended account token",
        lambda w: w.suspended_token.header,
        lambda w: w.suspended,
        None,
        lambda w: (401, "inactive"),
    ),
    (
        "suspended account key",
        lambda w: w.suspended_key.header,
        lambda w: w.suspended,
        None,
        lambda w: (401, "inactive"),
    ),
    (
        "suspended account key, wrong secret",
        lambda w: basic(w.suspended_key.sid, "y" * 32),
        lambda w: w.suspended,
        None,
        lambda w: (401, "bad_secret"),
    ),
    (
        "closed account token",
        lambda w: w.closed_token.header,
        lambda w: w.closed,
        None,
        lambda w: (401, "inactive"),
    ),
    # -- reach
    (
        "parent token on its subaccount",
        lambda w: w.token.header,
        lambda w: w.child,
        perms.MESSAGES_READ,
        lambda w: Principal(w.parent, w.parent, "auth_token"),
    ),
    (
        "parent restricted key on its subaccount",
        lambda w: w.restricted.header,
        lambda w: w.child,
        perms.MEDIA_READ,
        lambda w: key_of(w, w.restricted, w.parent, "restricted", RO),
    ),
    (
        "parent restricted key, subaccount, not granted",
        lambda w: w.restricted.header,
        lambda w: w.child,
        perms.NUMBERS_WRITE,
        lambda w: (403, "permission"),
    ),
    (
        "subaccount token on its parent",
        lambda w: w.child_token.header,
        lambda w: w.parent,
        None,
        lambda w: (401, "no_access"),
    ),
    (
        "subaccount key on its parent",
        lambda w: w.child_key.header,
        lambda w: w.parent,
        None,
        lambda w: (401, "no_access"),
    ),
    (
        "subaccount token on a sibling",
        lambda w: w.child_token.header,
        lambda w: w.sibling,
        None,
        lambda w: (401, "no_access"),
    ),
    (
        "sibling token on the subaccount",
        lambda w: w.sibling_token.header,
        lambda w: w.child,
        None,
        lambda w: (401, "no_access"),
    ),
    (
        "grandparent on a grandchild",
        lambda w: w.token.header,
        lambda w: w.grandchild,
        None,
        lambda w: (401, "no_access"),
    ),
    ("stranger", lambda w: w.stranger_token.header, lambda w: w.parent, None, lambda w: (401, "no_access")),
    (
        "parent on a stranger",
        lambda w: w.token.header,
        lambda w: w.stranger,
        None,
        lambda w: (401, "no_access"),
    ),
    (
        "an account that does not exist",
        lambda w: w.token.header,
        lambda w: "AC" + "1" * 32,
        None,
        lambda w: (401, "no_access"),
    ),
    (
        "parent on its suspended subaccount",
        lambda w: w.token.header,
        lambda w: w.suspended_child,
        None,
        lambda w: (401, "no_access"),
    ),
    # No reach, whatever the permission: reach is decided first (no 403 oracle).
    (
        "no reach outranks no permission",
        lambda w: w.restricted.header,
        lambda w: w.stranger,
        perms.SETTINGS_WRITE,
        lambda w: (401, "no_access"),
    ),
]

MALFORMED_HEADERS: list[tuple[str | None, str]] = [
    (None, "missing"),
    ("", "missing"),
    ("Basic", "malformed"),
    ("Basic ", "malformed"),
    ("Bearer abc", "malformed"),
    ("Basic !!!notbase64", "malformed"),
    ("Basic " + base64.b64encode(b"no-colon-here").decode(), "malformed"),
    ("Basic " + base64.b64encode(b"\xff\xfe:\xfd").decode(), "malformed"),  # not UTF-8
    ("Basic d\u00e9j\u00e0", "malformed"),  # raw non-ASCII in the header
    ("Basic " + base64.b64encode(b":").decode(), "malformed"),  # empty halves: no such sid form
]


def expected(w: World, case: Case) -> tuple[str | None, str | None, str | None, Outcome]:
    _, header, account, permission, outcome = case
    return header(w), account(w), permission, outcome(w)


def test_every_credential_form_on_the_database_path(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for case in CASES:
        header, account, permission, want = expected(world, case)
        assert attempt(world, header, account, permission) == want, case[0]
    for header, reason in MALFORMED_HEADERS:
        assert attempt(world, header, world.parent, None) == (401, reason), header
    # No secret of any credential reached a log line.
    logged = caplog.text
    for cred in (world.token, world.secondary, world.main, world.standard, world.restricted, world.child_key):
        assert cred.secret not in logged


def test_the_memory_path_gives_the_database_answer_or_none(world: World) -> None:
    hot = world.memory
    for case in CASES:
        header, account, permission, want = expected(world, case)
        if header is None or account is None:
            continue  # the content redirect always names an account (its path's)
        assert attempt(world, header, account, permission) == want, case[0]
        remembered = auth.recall(hot, header, account, permission or perms.MEDIA_READ)
        if isinstance(want, Principal) and want.allows(permission or perms.MEDIA_READ):
            assert remembered == want, f"{case[0]}: allowed, so remembered"
        else:
            assert remembered is None, f"{case[0]}: refused, so never answered from memory"
    # Every refusal again, now that every success is remembered: memory never says yes
    # where the database said no (another account, another permission, a wrong secret).
    for case in CASES:
        header, account, permission, want = expected(world, case)
        if header is None or account is None or permission is None:
            continue
        remembered = auth.recall(hot, header, account, permission)
        assert remembered == (want if isinstance(want, Principal) else None), case[0]


def test_memory_forgets_a_credential_when_it_changes(world: World) -> None:
    hot = world.memory
    header = world.standard.header
    assert isinstance(attempt(world, header, world.child, perms.MEDIA_READ), Principal)
    assert auth.recall(hot, header, world.child, perms.MEDIA_READ) is not None
    keys.delete(world.rt, world.parent, world.standard.sid, actor="test")
    assert auth.recall(hot, header, world.child, perms.MEDIA_READ) is None
    assert attempt(world, header, world.child, perms.MEDIA_READ) == (401, "unknown")

    # Suspending the subaccount drops what the parent reached through it.
    assert isinstance(attempt(world, world.token.header, world.child, perms.MEDIA_READ), Principal)
    accounts.update(world.rt, world.child, actor_account=world.parent, friendly_name=None, status="suspended")
    assert auth.recall(hot, world.token.header, world.child, perms.MEDIA_READ) is None
    assert attempt(world, world.token.header, world.child, perms.MEDIA_READ) == (401, "no_access")


def test_a_parent_manages_a_suspended_subaccount_only_when_asked_to(world: World) -> None:
    assert attempt(world, world.token.header, world.suspended_child, perms.MANAGE_ACCOUNTS) == (
        401,
        "no_access",
    )
    found = attempt(world, world.token.header, world.suspended_child, perms.MANAGE_ACCOUNTS, any_status=True)
    assert found == Principal(world.parent, world.parent, "auth_token")
    # Any status is no wider reach: a sibling, a parent and a stranger stay out.
    for header, account in [
        (world.child_token.header, world.sibling),
        (world.child_token.header, world.parent),
        (world.stranger_token.header, world.suspended_child),
    ]:
        assert attempt(world, header, account, None, any_status=True) == (401, "no_access")
    with world.rt.sessions() as session:
        assert auth.can_reach(session, found, world.suspended_child)
        assert not auth.can_reach(session, found, world.grandchild)


def test_identify_takes_any_proof_of_the_stored_secret(world: World) -> None:
    """The console proves a session by a fingerprint of the stored hash, not the
    secret: ``identify`` is the same rule for both."""
    with world.rt.sessions() as session:
        anything = auth.identify(session, world.restricted.sid, lambda stored: True)
        nothing = auth.identify(session, world.restricted.sid, lambda stored: False)
        inactive = auth.identify(session, world.suspended_key.sid, lambda stored: True)
        gone = auth.identify(session, "SK" + "0" * 32, lambda stored: True)
        token = auth.identify(session, world.parent, lambda stored: True)
    assert anything == key_of(world, world.restricted, world.parent, "restricted", RO)
    assert (nothing, inactive, gone) == ("bad_secret", "inactive", "unknown")
    assert token == Principal(world.parent, world.parent, "auth_token")
    with world.rt.sessions() as session:
        failed_before = failures("bad_secret")
        assert auth.identify(session, world.parent, lambda stored: False) == "bad_secret"
        assert failures("bad_secret") == failed_before  # identify counts nothing: callers decide


def test_the_console_and_the_key_representation_read_permissions_alike(world: World) -> None:
    found = attempt(world, world.restricted.header, world.parent, None)
    assert isinstance(found, Principal)
    key = keys.get(world.rt, world.parent, world.restricted.sid)
    policy = keys.policy_of(key)
    assert policy is not None and frozenset(policy["allow"]) == found.permissions == RO
