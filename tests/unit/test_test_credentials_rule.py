"""The authenticator's rule for Twilio's test credentials (``auth.refusal``), without a database:
refused 403 / 20008 wherever a request does not take them, whatever the account; where one
does, they reach their own test SID only."""

from __future__ import annotations

import pytest

from mediagate.accounts import auth
from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import AccountFacts, Principal
from mediagate.core.errors import Forbidden

TEST_SID = "AC" + "7" * 32
LIVE_SID = "AC" + "1" * 32
TEST = Principal(TEST_SID, TEST_SID, auth.TEST_AUTH_TOKEN)
LIVE = Principal(LIVE_SID, LIVE_SID, "auth_token")


@pytest.mark.parametrize("permission", sorted(perms.ALL))
@pytest.mark.parametrize("account_sid", [TEST_SID, LIVE_SID, None])
def test_refused_wherever_the_request_does_not_take_them(account_sid: str | None, permission: str) -> None:
    target = None if account_sid in (TEST_SID, None) else AccountFacts(None, "active")
    for any_status in (False, True):
        assert (
            auth.refusal(TEST, account_sid, target, permission, any_status=any_status) == "test_credentials"
        )


def test_where_taken_they_reach_their_own_test_sid_only() -> None:
    assert auth.refusal(TEST, TEST_SID, None, perms.MESSAGES_CREATE, test_ok=True) is None
    # The live account (even if it named the test SID as its owner) or any other: out of reach, 401.
    for owner in (None, TEST_SID, LIVE_SID):
        facts = AccountFacts(owner, "active")
        reason = auth.refusal(TEST, LIVE_SID, facts, perms.MESSAGES_CREATE, test_ok=True)
        assert reason == (None if owner == TEST_SID else "no_access")


def test_taking_them_changes_nothing_for_other_credentials() -> None:
    assert auth.refusal(LIVE, LIVE_SID, None, perms.MESSAGES_CREATE, test_ok=True) is None
    assert auth.refusal(LIVE, LIVE_SID, None, perms.MESSAGES_CREATE, test_ok=False) is None
    assert auth.refusal(LIVE, TEST_SID, None, perms.MESSAGES_CREATE, test_ok=True) == "no_access"


def test_the_refusal_is_twilios_20008() -> None:
    error = auth.refused("test_credentials")
    assert isinstance(error, Forbidden)
    assert error.body() == {
        "code": 20008,
        "message": "Resource not accessible with Test Account Credentials",
        "more_info": "https://www.twilio.com/docs/errors/20008",
        "status": 403,
    }
    assert TEST.is_test and not LIVE.is_test
