"""``mediagate.accounts.auth``: the Basic header parser and credential checks on a real database."""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets

import pytest

from mediagate.accounts import accounts, keys
from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal, can_reach, parse_basic, require
from mediagate.core.errors import Forbidden, Unauthorized
from mediagate.db.models import Account, ApiKey
from mediagate.runtime.context import Runtime
from tests.support.clients import basic

# --------------------------------------------------------------------------- parse_basic


def test_parse_basic_plain() -> None:
    assert parse_basic(basic("AC123", "tok")) == ("AC123", "tok")


def test_parse_basic_password_may_contain_colons() -> None:
    assert parse_basic(basic("SKabc", "a:b::c:")) == ("SKabc", "a:b::c:")


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC", "bAsIc"])
def test_parse_basic_scheme_is_case_insensitive(scheme: str) -> None:
    encoded = base64.b64encode(b"u:p").decode()
    assert parse_basic(f"{scheme} {encoded}") == ("u", "p")


def test_parse_basic_tolerates_surrounding_whitespace_of_the_credentials() -> None:
    encoded = base64.b64encode(b"u:p").decode()
    assert parse_basic(f"Basic  {encoded} ") == ("u", "p")


def test_parse_basic_empty_halves_are_kept_not_invented() -> None:
    assert parse_basic(basic("", "")) == ("", "")
    assert parse_basic(basic("AC1", "")) == ("AC1", "")
    assert parse_basic(basic("", "secret")) == ("", "secret")


def test_parse_basic_unicode_credentials_are_utf8() -> None:
    assert parse_basic(basic("ÄC", "pässwörd ✓")) == ("ÄC", "pässwörd ✓")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic",
        "Basic ",
        "Bearer x",
        "Bearer " + base64.b64encode(b"u:p").decode(),
        "Digest username=u",
        "Basic !!!",
        "Basic dTpw!",  # base64 followed by garbage
        "Basic dTpwcQ",  # missing padding
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"").decode(),
        "Basic " + base64.b64encode("u:pässwörd".encode("latin-1")).decode(),  # not UTF-8
        "Basic " + base64.b64encode(b"\xff\xfe:\x80").decode(),
        # Non-ASCII characters in the header itself (a raw UTF-8 header decoded as latin-1).
        "Basic é",
        "Basic Ã©",
        "Basic dTpw\u00e9",
        "Basic \u2713\u2713\u2713\u2713",
        "Basicdtpw",
        " Basic dTpw",
    ],
)
def test_parse_basic_rejects_malformed_headers(header: str | None) -> None:
    assert parse_basic(header) is None


# --------------------------------------------------------------------------- require


def new_account(rt: Runtime, name: str = "acct", owner: str | None = None) -> tuple[str, str]:
    created = accounts.create(rt, name, owner_sid=owner)
    return created.account.sid, created.auth_token


def new_key(
    rt: Runtime, account_sid: str, kind: str | None = None, permissions: list[str] | None = None
) -> tuple[str, str]:
    created = keys.create(rt, account_sid, "k", actor="test")
    if kind is not None:
        # Through the model, so that a tampered policy can be stored too.
        with rt.tx() as session:
            row = session.get(ApiKey, created.key.sid)
            assert row is not None
            row.kind = kind
            row.permissions = json.dumps(permissions) if permissions is not None else None
    return created.key.sid, created.secret


def set_status(rt: Runtime, sid: str, status: str) -> None:
    with rt.tx() as session:
        row = session.get(Account, sid)
        assert row is not None
        row.status = status


def auth(rt: Runtime, header: str | None) -> Principal:
    with rt.sessions() as session:
        return require(session, rt.keyring, header, None)  # the credential's own account, no permission


def req(rt: Runtime, header: str | None, account_sid: str, permission: str | None = None) -> Principal:
    with rt.sessions() as session:
        return require(session, rt.keyring, header, account_sid, permission)


def test_auth_token(runtime: Runtime) -> None:
    sid, token = new_account(runtime)
    p = auth(runtime, basic(sid, token))
    assert p == Principal(sid, sid, "auth_token")
    assert p.actor == sid
    assert req(runtime, basic(sid, token), sid) == p


def test_principal_is_frozen(runtime: Runtime) -> None:
    sid, token = new_account(runtime)
    p = auth(runtime, basic(sid, token))
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.account_sid = "AC" + "0" * 32  # type: ignore[misc]


def test_secondary_auth_token(runtime: Runtime) -> None:
    sid, token = new_account(runtime)
    stranger = secrets.token_hex(16)
    assert_unauthorized(runtime, basic(sid, stranger))
    # Set through the model: whatever hash is stored verifies as the secondary token.
    with runtime.tx() as session:
        row = session.get(Account, sid)
        assert row is not None
        row.secondary_token_hash = runtime.keyring.hash_secret(stranger)
    assert auth(runtime, basic(sid, stranger)) == Principal(sid, sid, "secondary_auth_token")

    # Through the rotation service: both tokens work until promotion.
    secondary = accounts.create_secondary_token(runtime, sid, actor=sid).token
    assert_unauthorized(runtime, basic(sid, stranger))  # replaced
    p = auth(runtime, basic(sid, secondary))
    assert p == Principal(sid, sid, "secondary_auth_token")
    assert p.actor == sid
    assert auth(runtime, basic(sid, token)).kind == "auth_token"
    assert req(runtime, basic(sid, secondary), sid).kind == "secondary_auth_token"

    # Promotion: the secondary becomes the primary, the old primary fails at once.
    promoted = accounts.promote_secondary_token(runtime, sid, actor=sid)
    assert promoted.token == secondary
    assert auth(runtime, basic(sid, secondary)).kind == "auth_token"
    assert_unauthorized(runtime, basic(sid, token))

    # Deleting a secondary revokes it at once.
    third = accounts.create_secondary_token(runtime, sid, actor=sid).token
    assert auth(runtime, basic(sid, third)).kind == "secondary_auth_token"
    accounts.delete_secondary_token(runtime, sid, actor=sid)
    assert_unauthorized(runtime, basic(sid, third))
    assert auth(runtime, basic(sid, secondary)).kind == "auth_token"


def test_api_key(runtime: Runtime) -> None:
    sid, _ = new_account(runtime)
    key_sid, secret = new_key(runtime, sid)
    p = auth(runtime, basic(key_sid, secret))
    assert p == Principal(sid, key_sid, "api_key", "standard")
    assert p.actor == key_sid
    assert req(runtime, basic(key_sid, secret), sid) == p


def test_api_key_kind_is_carried(runtime: Runtime) -> None:
    sid, _ = new_account(runtime)
    main_sid, main_secret = new_key(runtime, sid, kind="main")
    restricted_sid, restricted_secret = new_key(runtime, sid, kind="restricted")
    assert auth(runtime, basic(main_sid, main_secret)).key_kind == "main"
    assert auth(runtime, basic(restricted_sid, restricted_secret)).key_kind == "restricted"


def assert_unauthorized(rt: Runtime, header: str | None, account_sid: str | None = None) -> None:
    with pytest.raises(Unauthorized) as info:
        if account_sid is None:
            auth(rt, header)
        else:
            req(rt, header, account_sid)
    # Never says which half was wrong.
    assert info.value.status == 401 and info.value.code == 20003
    assert info.value.message == "Authenticate"


def test_wrong_credentials_are_unauthorized(runtime: Runtime) -> None:
    sid, token = new_account(runtime)
    other_sid, other_token = new_account(runtime)
    key_sid, secret = new_key(runtime, sid)
    unknown_account = "AC" + secrets.token_hex(16)
    unknown_key = "SK" + secrets.token_hex(16)
    for header in [
        None,
        "",
        "Bearer " + token,
        basic(sid, token.upper()),
        basic(sid, token[:-1]),
        basic(sid, token + " "),
        basic(sid, ""),
        basic(sid, other_token),  # another account's token
        basic(other_sid, token),
        basic(sid, secret),  # account sid with the key's secret
        basic(key_sid, token),  # key sid with the auth token
        basic(key_sid, secret + "x"),
        basic(key_sid.lower(), secret),  # "sk..." is not a key sid
        basic(unknown_account, token),
        basic(unknown_key, secret),
        basic(sid.lower(), token),  # "ac..." is not an account sid
        basic(sid + "\n", token),
        basic("", token),
        basic("PN" + sid[2:], token),
        basic(sid + ":" + token, ""),
    ]:
        assert_unauthorized(runtime, header)


def test_deleted_key_fails_at_once(runtime: Runtime) -> None:
    sid, _ = new_account(runtime)
    key_sid, secret = new_key(runtime, sid)
    assert auth(runtime, basic(key_sid, secret)).credential_sid == key_sid
    keys.delete(runtime, sid, key_sid, actor="test")
    assert_unauthorized(runtime, basic(key_sid, secret))


@pytest.mark.parametrize("status", ["suspended", "closed"])
def test_inactive_account_is_unauthorized(runtime: Runtime, status: str) -> None:
    sid, token = new_account(runtime)
    key_sid, secret = new_key(runtime, sid)
    set_status(runtime, sid, status)
    assert_unauthorized(runtime, basic(sid, token))
    assert_unauthorized(runtime, basic(key_sid, secret))
    assert_unauthorized(runtime, basic(sid, token), sid)
    set_status(runtime, sid, "active")
    assert auth(runtime, basic(sid, token)).account_sid == sid
    assert auth(runtime, basic(key_sid, secret)).account_sid == sid


def test_parent_reaches_subaccount_but_not_the_reverse(runtime: Runtime) -> None:
    parent, parent_token = new_account(runtime, "parent")
    child, child_token = new_account(runtime, "child", owner=parent)
    parent_key, parent_secret = new_key(runtime, parent)
    child_key, child_secret = new_key(runtime, child)

    # The parent's token and key act on the subaccount, as themselves.
    p = req(runtime, basic(parent, parent_token), child)
    assert p.account_sid == parent and p.credential_sid == parent
    assert req(runtime, basic(parent_key, parent_secret), child).credential_sid == parent_key
    with runtime.sessions() as session:
        assert can_reach(session, p, child)

    # The subaccount's credentials reach itself only.
    assert req(runtime, basic(child, child_token), child).account_sid == child
    assert req(runtime, basic(child_key, child_secret), child).account_sid == child
    assert_unauthorized(runtime, basic(child, child_token), parent)
    assert_unauthorized(runtime, basic(child_key, child_secret), parent)


def test_siblings_and_strangers_are_isolated(runtime: Runtime) -> None:
    parent, parent_token = new_account(runtime, "parent")
    a, a_token = new_account(runtime, "a", owner=parent)
    b, b_token = new_account(runtime, "b", owner=parent)
    grandchild, _ = new_account(runtime, "grandchild", owner=a)
    stranger, stranger_token = new_account(runtime, "stranger")
    a_key, a_secret = new_key(runtime, a)

    for header, target in [
        (basic(a, a_token), b),
        (basic(a_key, a_secret), b),
        (basic(b, b_token), a),
        (basic(a, a_token), parent),
        (basic(stranger, stranger_token), a),
        (basic(stranger, stranger_token), parent),
        (basic(parent, parent_token), stranger),
        # Only direct subaccounts: the grandparent does not reach a grandchild.
        (basic(parent, parent_token), grandchild),
        # A valid credential aimed at an account that does not exist.
        (basic(a, a_token), "AC" + secrets.token_hex(16)),
    ]:
        assert_unauthorized(runtime, header, target)
    assert req(runtime, basic(a, a_token), grandchild).account_sid == a


def test_parent_does_not_reach_an_inactive_subaccount(runtime: Runtime) -> None:
    parent, parent_token = new_account(runtime, "parent")
    child, _ = new_account(runtime, "child", owner=parent)
    set_status(runtime, child, "suspended")
    assert_unauthorized(runtime, basic(parent, parent_token), child)
    # The parent itself is unaffected.
    assert req(runtime, basic(parent, parent_token), parent).account_sid == parent


def test_suspended_parent_credentials_reach_nothing(runtime: Runtime) -> None:
    parent, parent_token = new_account(runtime, "parent")
    child, child_token = new_account(runtime, "child", owner=parent)
    set_status(runtime, parent, "suspended")
    assert_unauthorized(runtime, basic(parent, parent_token), child)
    assert req(runtime, basic(child, child_token), child).account_sid == child


# --------------------------------------------------------------------------- permissions


def assert_forbidden(rt: Runtime, header: str, account_sid: str, permission: str) -> None:
    with pytest.raises(Forbidden) as info:
        req(rt, header, account_sid, permission)
    assert info.value.status == 403 and info.value.code == 70051


ALL_PERMISSIONS = sorted(perms.GRANTABLE | {perms.MANAGE_ACCOUNTS, perms.MANAGE_KEYS, perms.SETTINGS_WRITE})


def test_tokens_and_main_keys_hold_every_permission(runtime: Runtime) -> None:
    sid, token = new_account(runtime)
    main_sid, main_secret = new_key(runtime, sid, kind="main")
    for header in (basic(sid, token), basic(main_sid, main_secret)):
        for permission in ALL_PERMISSIONS:
            assert req(runtime, header, sid, permission).account_sid == sid


def test_standard_key_cannot_manage_keys_or_accounts(runtime: Runtime) -> None:
    sid, _ = new_account(runtime)
    key_sid, secret = new_key(runtime, sid)
    header = basic(key_sid, secret)
    for permission in ALL_PERMISSIONS:
        if permission in (perms.MANAGE_KEYS, perms.MANAGE_ACCOUNTS):
            assert_forbidden(runtime, header, sid, permission)
        else:
            assert req(runtime, header, sid, permission).credential_sid == key_sid


def test_restricted_key_holds_only_granted_permissions(runtime: Runtime) -> None:
    sid, _ = new_account(runtime)
    # A policy stored with permissions that can never be granted (as if the
    # row had been edited): they still do not apply.
    granted = [perms.MESSAGES_READ, perms.MEDIA_READ, perms.SETTINGS_WRITE, perms.MANAGE_KEYS]
    key_sid, secret = new_key(runtime, sid, kind="restricted", permissions=granted)
    header = basic(key_sid, secret)
    p = auth(runtime, header)
    assert p.key_kind == "restricted" and p.permissions == frozenset(granted)
    for permission in ALL_PERMISSIONS:
        if permission in (perms.MESSAGES_READ, perms.MEDIA_READ):
            assert req(runtime, header, sid, permission).credential_sid == key_sid
        else:
            assert_forbidden(runtime, header, sid, permission)
    # Without any policy a restricted key may do nothing.
    empty_sid, empty_secret = new_key(runtime, sid, kind="restricted")
    for permission in ALL_PERMISSIONS:
        assert_forbidden(runtime, basic(empty_sid, empty_secret), sid, permission)


def test_permission_is_checked_after_reach(runtime: Runtime) -> None:
    """A foreign account learns nothing: 401, never a 403 that confirms the credential."""
    a, _ = new_account(runtime, "a")
    b, _ = new_account(runtime, "b")
    key_sid, secret = new_key(runtime, a)
    assert_unauthorized(runtime, basic(key_sid, secret), b)
    with pytest.raises(Unauthorized):
        req(runtime, basic(key_sid, secret), b, perms.MANAGE_KEYS)
    with pytest.raises(Unauthorized):
        req(runtime, basic(key_sid, secret + "x"), a, perms.MANAGE_KEYS)
