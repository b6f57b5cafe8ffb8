"""Server-side console session records.

The console's cookie stays a signed value (``console.security``), but it is
honoured only while its row here exists: signing out deletes the row, so a
copied cookie dies with the session it was copied from (a signed cookie alone
stays valid until it expires). Rows are keyed by a hash of the cookie's nonce.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from mediagate.db.models import ConsoleSession

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime


def session_id(nonce: str) -> str:
    return hashlib.sha256(b"console-session\n" + nonce.encode()).hexdigest()


def open_session(rt: Runtime, *, nonce: str, account_sid: str, credential_sid: str, max_age: int) -> None:
    now = rt.clock.now()
    with rt.tx() as session:
        # Sweep what expired, so the table holds only live sessions (cheap: indexed).
        session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
        session.add(
            ConsoleSession(
                id=session_id(nonce),
                account_sid=account_sid,
                credential_sid=credential_sid,
                date_created=now,
                # A minute past the cookie's absolute limit (its timestamps are whole seconds).
                expires_at=now + timedelta(seconds=max_age + 60),
            )
        )


def is_open(rt: Runtime, *, nonce: str, account_sid: str, credential_sid: str) -> bool:
    with rt.sessions() as session:
        row = session.execute(
            select(ConsoleSession.account_sid, ConsoleSession.credential_sid).where(
                ConsoleSession.id == session_id(nonce)
            )
        ).first()
    # Expiry is the cookie's own business (idle and absolute limits, checked first
    # and reported as "expired"); ``expires_at`` only tells the sweep what is dead.
    return row is not None and row.account_sid == account_sid and row.credential_sid == credential_sid


def close_session(rt: Runtime, nonce: str) -> None:
    with rt.tx() as session:
        session.execute(delete(ConsoleSession).where(ConsoleSession.id == session_id(nonce)))
