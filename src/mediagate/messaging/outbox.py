"""The outbox: durable hand-off of outbound messages to their carrier.

Creating a message used to schedule the hand-off as an in-memory background
task of the request, so a crash between the commit and that task left the
message ``queued`` for ever. Now the create transaction also writes an
``OutboxEntry``; the request's background task is only the fast path. Each
server process runs a ``Worker`` that claims entries nobody holds (a
conditional UPDATE, safe with many processes on SQLite and PostgreSQL, as
webhook claims are) and hands them off; the entry is deleted once the carrier
has taken the message. A process that dies mid hand-off leaves its claim to
expire after ``MEDIAGATE_OUTBOX_LEASE``, and the next process dispatches the message again:
carriers make that safe (a repeated status change reports nothing, and the
loopback arrival commits together with ``delivered``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from mediagate.core import clock as clocks
from mediagate.db.dml import rowcount
from mediagate.db.models import OutboxEntry
from mediagate.db.polling import PollingWorker

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

log = logging.getLogger("mediagate.outbox")

BATCH = 32
# A message whose hand-off was claimed this often without finishing (each time
# its process died) is failed instead of crashing the next process too.
MAX_ATTEMPTS = 5


def add(session: Session, message_sid: str, account_sid: str) -> None:
    """Queue the hand-off inside the transaction that creates the message."""
    now = clocks.of_session(session).now()  # the caller's runtime clock (no runtime here)
    session.add(OutboxEntry(message_sid=message_sid, account_sid=account_sid, attempts=0, date_created=now))


def lease(rt: Runtime) -> timedelta:
    """How long a claim holds (``MEDIAGATE_OUTBOX_LEASE``). A hand-off is a few
    database writes and, for loopback, a copy of the media within our own store:
    far below the default. A longer hand-off is not cut off, but past the lease
    another process may start the same one (which carriers tolerate)."""
    return timedelta(seconds=rt.settings.outbox_lease)


def claim(rt: Runtime, message_sid: str) -> int | None:
    """Claim the entry for one hand-off: the number of this attempt, or None when
    another dispatcher holds it or it is done."""
    now = rt.clock.now()
    with rt.tx() as session:
        claimed = rowcount(
            session,
            update(OutboxEntry)
            .where(
                OutboxEntry.message_sid == message_sid,
                or_(OutboxEntry.claimed_until.is_(None), OutboxEntry.claimed_until < now),
            )
            .values(claimed_until=now + lease(rt), attempts=OutboxEntry.attempts + 1)
            .execution_options(synchronize_session=False),
        )
        if claimed != 1:
            return None
        attempts = session.scalar(select(OutboxEntry.attempts).where(OutboxEntry.message_sid == message_sid))
        return int(attempts or 1)


def finish(rt: Runtime, message_sid: str) -> None:
    with rt.tx() as session:
        session.execute(delete(OutboxEntry).where(OutboxEntry.message_sid == message_sid))


def due(rt: Runtime, limit: int = BATCH) -> list[str]:
    now = rt.clock.now()
    with rt.sessions() as session:
        return list(
            session.scalars(
                select(OutboxEntry.message_sid)
                .where(or_(OutboxEntry.claimed_until.is_(None), OutboxEntry.claimed_until < now))
                .order_by(OutboxEntry.date_created)
                .limit(limit)
            )
        )


def pending(rt: Runtime) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxEntry)) or 0)


class Worker(PollingWorker):
    """Polls the outbox and dispatches what nobody holds: after a restart, the
    messages a dead process never handed off (and any whose fast path failed)."""

    name = "outbox-worker"

    def __init__(
        self, rt: Runtime, dispatch: Callable[[Runtime, str], None], poll_interval: float | None = None
    ) -> None:
        super().__init__(rt.settings.outbox_poll_interval if poll_interval is None else poll_interval)
        self._rt = rt
        self._dispatch = dispatch

    def run_once(self) -> int:
        sids = due(self._rt)
        for sid in sids:
            if self.stopping:
                break
            self._dispatch(self._rt, sid)  # claims the entry itself; a no-op if someone else has it
        return len(sids)
