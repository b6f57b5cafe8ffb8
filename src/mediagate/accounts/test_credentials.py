"""Twilio's test credentials: every account's second pair of credentials.

Twilio gives each account a *test* Account SID and a *test* auth token. With
them, ``POST .../Messages.json`` and ``POST .../IncomingPhoneNumbers.json``
answer as Twilio would for its magic numbers, without sending or storing
anything (``messaging/test_credentials.py``); every other request answers 403
with code 20008. The rule lives in the authenticator (``accounts/auth.py``):
``identify`` knows the pair, ``refusal`` lets it through only where a route
declares it (``api/common.route(test_credentials=...)``).

The test SID is an ``AC`` SID of its own, never the live one, and the test
principal acts only on it: nothing it does can name the live account's data.
The token is stored like the auth token: a keyed hash to check it, sealed to
show it again (``core/crypto.py``).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from mediagate.core import sids
from mediagate.db.dml import rowcount
from mediagate.db.models import Account
from mediagate.db.records import AccountRecord

if TYPE_CHECKING:
    from mediagate.core.crypto import Keyring
    from mediagate.runtime.context import Runtime


def _context(account_sid: str) -> str:
    return f"auth-token:test:{account_sid}"


def new_sid() -> str:
    return sids.new_sid(sids.ACCOUNT)


def new_token(keyring: Keyring, account_sid: str) -> tuple[str, str, str]:
    """A fresh test auth token, its hash and its sealed form."""
    token = secrets.token_hex(16)
    return token, keyring.hash_secret(token), keyring.seal(token, context=_context(account_sid))


def reveal(rt: Runtime, account: Account | AccountRecord) -> str | None:
    """The account's test auth token (``None`` only before ``issue_missing`` ran)."""
    if account.test_auth_token_sealed is None:
        return None
    return rt.keyring.unseal(account.test_auth_token_sealed, context=_context(account.sid))


def issue_missing(sessions: sessionmaker[Session], keyring: Keyring) -> int:
    """Issue a test auth token to every account that has none (the accounts that
    existed before migration 0012, which could not make one without the master
    secret). Safe when several processes start at once: a row is only written
    while it still has no token, so the first writer's token stays."""
    issued = 0
    with sessions.begin() as session:
        missing = list(session.scalars(select(Account.sid).where(Account.test_auth_token_hash.is_(None))))
        for sid in missing:
            _, hashed, sealed = new_token(keyring, sid)
            issued += rowcount(
                session,
                update(Account)
                .where(Account.sid == sid, Account.test_auth_token_hash.is_(None))
                .values(test_auth_token_hash=hashed, test_auth_token_sealed=sealed)
                .execution_options(synchronize_session=False),
            )
    return issued
