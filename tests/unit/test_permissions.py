"""``Principal.allows`` for every kind of credential x every permission (in-process, no server)."""

from __future__ import annotations

import json

import pytest

from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal, refusal, refused
from mediagate.accounts.keys import parse_policy
from mediagate.core.errors import BadRequest, Forbidden


def require_permission(who: Principal, permission: str) -> None:
    """The authenticator's rule for ``permission`` on the credential's own account."""
    reason = refusal(who, who.account_sid, None, permission)
    if reason is not None:
        raise refused(reason)


AC = "AC" + "a" * 32
SK = "SK" + "b" * 32

# Every permission the code knows, grantable or not.
ALL = sorted(
    {
        perms.MESSAGES_READ,
        perms.MESSAGES_CREATE,
        perms.MESSAGES_UPDATE,
        perms.MESSAGES_DELETE,
        perms.MEDIA_READ,
        perms.MEDIA_DELETE,
        perms.NUMBERS_READ,
        perms.NUMBERS_WRITE,
        perms.SETTINGS_READ,
        perms.MANAGE_ACCOUNTS,
        perms.MANAGE_KEYS,
        perms.SETTINGS_WRITE,
    }
)
NEVER_RESTRICTED = {perms.MANAGE_ACCOUNTS, perms.MANAGE_KEYS, perms.SETTINGS_WRITE}


def restricted(*granted: str) -> Principal:
    return Principal(AC, SK, "api_key", "restricted", frozenset(granted))


def test_the_permission_sets_are_what_the_module_documents() -> None:
    assert set(perms.GRANTABLE) == set(ALL) - NEVER_RESTRICTED
    assert {perms.MANAGE_ACCOUNTS, perms.MANAGE_KEYS} == perms.STANDARD_DENIED
    assert not (perms.GRANTABLE & NEVER_RESTRICTED)


@pytest.mark.parametrize("permission", ALL)
@pytest.mark.parametrize(
    "who",
    [
        Principal(AC, AC, "auth_token"),
        Principal(AC, AC, "secondary_auth_token"),
        Principal(AC, SK, "api_key", "main"),
    ],
    ids=["auth_token", "secondary_auth_token", "main_key"],
)
def test_tokens_and_main_keys_may_do_everything(who: Principal, permission: str) -> None:
    assert who.allows(permission)
    require_permission(who, permission)  # does not raise


@pytest.mark.parametrize("permission", ALL)
def test_auth_token_kind_ignores_key_fields(permission: str) -> None:
    # An auth-token principal is never narrowed, whatever the key fields say.
    odd = Principal(AC, AC, "auth_token", key_kind="restricted", permissions=frozenset())
    assert odd.allows(permission)


@pytest.mark.parametrize("permission", ALL)
def test_standard_keys_lack_only_account_and_key_management(permission: str) -> None:
    standard = Principal(AC, SK, "api_key", "standard")
    expected = permission not in (perms.MANAGE_ACCOUNTS, perms.MANAGE_KEYS)
    assert standard.allows(permission) is expected
    if expected:
        require_permission(standard, permission)
    else:
        with pytest.raises(Forbidden) as info:
            require_permission(standard, permission)
        assert info.value.status == 403 and info.value.code == 70051
        assert info.value.body()["message"] == "Authorization Failed"


@pytest.mark.parametrize("granted", sorted(perms.GRANTABLE))
@pytest.mark.parametrize("permission", ALL)
def test_restricted_key_with_one_permission(granted: str, permission: str) -> None:
    who = restricted(granted)
    assert who.allows(permission) is (permission == granted)


@pytest.mark.parametrize("permission", ALL)
def test_restricted_key_with_every_grantable_permission(permission: str) -> None:
    who = restricted(*perms.GRANTABLE)
    assert who.allows(permission) is (permission not in NEVER_RESTRICTED)


@pytest.mark.parametrize("permission", ALL)
def test_restricted_key_without_permissions_may_do_nothing(permission: str) -> None:
    who = restricted()
    assert not who.allows(permission)
    with pytest.raises(Forbidden) as info:
        require_permission(who, permission)
    assert info.value.code == 70051


@pytest.mark.parametrize("forged", sorted(NEVER_RESTRICTED))
def test_restricted_key_never_gets_management_even_if_its_row_lists_it(forged: str) -> None:
    # A policy row edited by hand (or an older release) must not widen a restricted key.
    who = restricted(forged, perms.MESSAGES_READ)
    assert not who.allows(forged)
    assert who.allows(perms.MESSAGES_READ)


def test_messages_read_does_not_imply_media_read_or_delete() -> None:
    who = restricted(perms.MESSAGES_READ)
    assert not who.allows(perms.MEDIA_READ)
    assert not who.allows(perms.MESSAGES_DELETE)
    assert not who.allows(perms.MESSAGES_CREATE)
    media = restricted(perms.MEDIA_DELETE)
    assert not media.allows(perms.MEDIA_READ)


@pytest.mark.parametrize("kind", ["something", "", "MAIN"])
def test_unknown_key_kind_is_treated_as_restricted(kind: str) -> None:
    # Only the exact kinds "main" and "standard" widen; anything else falls to the policy.
    who = Principal(AC, SK, "api_key", kind, frozenset({perms.MESSAGES_READ}))
    assert who.allows(perms.MESSAGES_READ)
    assert not who.allows(perms.MEDIA_READ)
    assert not who.allows(perms.MANAGE_KEYS)


# --------------------------------------------------------------------------- parse_policy


def test_parse_policy_sorts_and_deduplicates() -> None:
    raw = json.dumps({"allow": [perms.MEDIA_READ, perms.MESSAGES_READ, perms.MEDIA_READ]})
    assert parse_policy(raw) == sorted({perms.MEDIA_READ, perms.MESSAGES_READ})


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "not json",
        "[]",
        '"allow"',
        "{}",
        '{"deny": ["/twilio/messaging/messages/read"]}',
        '{"allow": []}',
        '{"allow": "/twilio/messaging/messages/read"}',
        '{"allow": [1]}',
        '{"allow": ["/twilio/voice/calls/read"]}',
        '{"allow": ["manage-keys"]}',
        '{"allow": ["manage-accounts"]}',
        '{"allow": ["/twilio/messaging/settings/write"]}',
        '{"allow": ["/twilio/messaging/messages/read", "/twilio/voice/calls/read"]}',
    ],
)
def test_parse_policy_refuses_bad_or_non_grantable_policies(raw: str | None) -> None:
    with pytest.raises(BadRequest) as info:
        parse_policy(raw)
    assert info.value.status == 400 and info.value.code == 20001
