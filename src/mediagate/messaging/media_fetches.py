"""MediaUrl fetches that run after the create has answered.

Twilio answers ``POST Messages.json`` at once with ``queued`` and fetches the
media afterwards; a fetch failure shows up later in the message's ``status``,
``error_code`` and status callback. Here the create transaction writes the
message and one ``MediaFetch`` row (its validated URLs, its channel); a
``Worker`` in every process that runs background work claims rows nobody
holds with a conditional UPDATE (safe with many processes on SQLite and
PostgreSQL, as the outbox's claims are), fetches in one of the account's fair
fetch slots (``media/fetch_limits.py``), then in one transaction deletes the
row (only while its claim is still the one it took), stores the media rows and
queues the carrier hand-off (``outbox``). So:

* nothing half-stored is visible: the media rows appear with the commit,
  after every object is durable; a failure removes what was stored;
* a process that dies mid-fetch leaves its claim to lapse after
  ``MEDIAGATE_MEDIA_FETCH_LEASE`` (on the runtime's clock); the next worker
  fetches again. Its objects are orphans the gc removes;
* two workers never fetch the same message at once: a live worker renews
  the claims it holds on every pass, and only one UPDATE wins a claim.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session

from mediagate.accounts import quotas
from mediagate.core import clock as clocks
from mediagate.core.crashpoints import crash_point
from mediagate.core.errors import ApiError
from mediagate.db.dml import rowcount
from mediagate.db.models import Account, MediaFetch, Message
from mediagate.db.polling import PollingWorker
from mediagate.media import ingest
from mediagate.media.fetch import FetchError, RetrievalFailed
from mediagate.messaging import channels, outbox
from mediagate.messaging.message_status import apply_status
from mediagate.storage import StorageError

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

log = logging.getLogger("mediagate.media_fetches")

BATCH = 32

OnStored = Callable[["Runtime", str], None]


@dataclass(frozen=True)
class Due:
    message_sid: str
    account_sid: str


def add(
    session: Session, message_sid: str, account_sid: str, channel: channels.Channel, urls: list[str]
) -> None:
    """Queue the fetch inside the transaction that creates the message."""
    now = clocks.of_session(session).now()
    session.add(
        MediaFetch(
            message_sid=message_sid,
            account_sid=account_sid,
            channel=channel.name,
            urls=list(urls),
            attempts=0,
            date_created=now,
        )
    )


def lease(rt: Runtime) -> timedelta:
    return timedelta(seconds=rt.settings.media_fetch_lease)


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(MediaFetch.claimed_until.is_(None), MediaFetch.claimed_until < now)


def due(rt: Runtime, limit: int = BATCH, *, skip: frozenset[str] = frozenset()) -> list[Due]:
    """Fetches nobody holds, oldest first; none of the accounts in ``skip``."""
    now = rt.clock.now()
    stmt = select(MediaFetch.message_sid, MediaFetch.account_sid).where(_free(now))
    if skip:
        stmt = stmt.where(MediaFetch.account_sid.not_in(skip))
    with rt.sessions() as session:
        rows = session.execute(
            stmt.order_by(MediaFetch.date_created, MediaFetch.message_sid).limit(limit)
        ).all()
    return [Due(row.message_sid, row.account_sid) for row in rows]


def claim(rt: Runtime, message_sid: str) -> str | None:
    """Take the fetch of one message: a claim token, or None when another worker
    holds it or it is done. One conditional UPDATE decides between processes."""
    now = rt.clock.now()
    token = secrets.token_hex(16)
    with rt.tx() as session:
        claimed = rowcount(
            session,
            update(MediaFetch)
            .where(MediaFetch.message_sid == message_sid, _free(now))
            .values(claim_token=token, claimed_until=now + lease(rt), attempts=MediaFetch.attempts + 1)
            .execution_options(synchronize_session=False),
        )
    return token if claimed == 1 else None


def renew(rt: Runtime, held: dict[str, str]) -> None:
    """Push the lease of the fetches this worker is running forward: a slow
    fetch keeps its claim, only a dead process's claims lapse."""
    if not held:
        return
    until = rt.clock.now() + lease(rt)
    with rt.tx() as session:
        for message_sid, token in held.items():
            session.execute(
                update(MediaFetch)
                .where(MediaFetch.message_sid == message_sid, MediaFetch.claim_token == token)
                .values(claimed_until=until)
                .execution_options(synchronize_session=False)
            )


def pending(rt: Runtime) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(MediaFetch)) or 0)


def _release(session: Session, message_sid: str, token: str) -> bool:
    """Delete the row if our claim still holds it: the guard that makes the
    outcome of a fetch commit once, even if a lapsed claim was taken over."""
    gone = rowcount(
        session,
        delete(MediaFetch).where(MediaFetch.message_sid == message_sid, MediaFetch.claim_token == token),
    )
    return gone == 1


def process(rt: Runtime, message_sid: str, token: str, on_stored: OnStored | None = None) -> None:
    """Fetch, store and commit the media of one claimed message, or fail it."""
    with rt.sessions() as session:
        job = session.get(MediaFetch, message_sid)
    if job is None or job.claim_token != token:
        return
    if job.attempts > rt.settings.media_fetch_max_attempts:
        log.error("giving up on the media of %s after %d attempts", message_sid, job.attempts - 1)
        fail(rt, message_sid, token, RetrievalFailed("The media could not be retrieved."))
        return
    channel = channels.by_name(job.channel)
    try:
        items = ingest.ingest(rt, job.account_sid, list(job.urls), channel)
    except FetchError as exc:
        fail(rt, message_sid, token, exc)
        return
    except StorageError as exc:
        # The store is away (not full: that is StorageFull, a FetchError). Transient:
        # the claim lapses and the fetch is tried again, up to the attempt limit.
        log.warning(
            "media of %s not stored: the media storage is unavailable (%s); retried after the lease",
            message_sid,
            type(exc).__name__,
        )
        return
    crash_point("after-object-write")
    try:
        stored = _store(rt, job, token, items)
    except ApiError as exc:  # over a stored quota (accounts/quotas.py): nothing was written
        ingest.discard(rt, items)
        fail(rt, message_sid, token, FetchError(exc.message), code=exc.code)
        return
    except BaseException:
        ingest.discard(rt, items)
        raise
    if not stored:
        ingest.discard(rt, items)
        return
    crash_point("after-row")
    if on_stored is not None:
        on_stored(rt, message_sid)  # the carrier hand-off's fast path; the outbox has the rest


def _store(rt: Runtime, job: MediaFetch, token: str, items: list[ingest.IngestedMedia]) -> bool:
    now = rt.clock.now()
    with rt.tx() as session:
        if not _release(session, job.message_sid, token):
            return False  # our claim lapsed and another worker took it: its outcome counts
        # FOR UPDATE (PostgreSQL): a concurrent delete of the message waits for us, or we for it.
        message = session.get(Message, job.message_sid, with_for_update=True)
        account = session.get(Account, job.account_sid)
        if message is None or account is None or message.status != "queued":
            return False  # deleted (or moved on) while we fetched: keep nothing
        quotas.charge(session, rt.settings, job.account_sid, sum(i.size for i in items), len(items))
        for item in items:
            session.add(
                item.row(
                    job.account_sid,
                    job.message_sid,
                    auth_required=account.enforce_media_http_auth,
                    now=now,
                )
            )
        message.num_media = len(items)
        message.date_updated = now
        outbox.add(session, job.message_sid, job.account_sid)
    return True


def fail(rt: Runtime, message_sid: str, token: str, error: FetchError, *, code: int | None = None) -> None:
    """The message fails with the fetch's Twilio code and message; its status
    callback is queued in the same transaction (message_status.apply_status)."""
    with rt.tx() as session:
        if not _release(session, message_sid, token):
            return
        apply_status(
            session, rt, message_sid, "failed", error_code=code or error.code, error_message=error.message
        )
    log.info("message %s failed: media fetch error %s", message_sid, code or error.code)


class Worker(PollingWorker):
    """Claims due fetches and runs each on a thread of its own, at most as many
    as the fetch gate admits (per account and in all); a fetch the gate refuses
    stays due for a later pass, in this process or another."""

    name = "media-fetch"

    def __init__(
        self, rt: Runtime, on_stored: OnStored | None = None, poll_interval: float | None = None
    ) -> None:
        super().__init__(rt.settings.media_fetch_poll_interval if poll_interval is None else poll_interval)
        self._rt = rt
        self._on_stored = on_stored
        self._lock = threading.Lock()
        self._held: dict[str, str] = {}  # message sid -> claim token, for the fetches running here

    def running(self) -> int:
        with self._lock:
            return len(self._held)

    def run_once(self) -> int:
        with self._lock:
            held = dict(self._held)
        renew(self._rt, held)
        gate = self._rt.fetch_gate
        started = 0
        # Accounts whose share is taken are left out of the next look, so that one
        # account's backlog (more than a batch) cannot hide the others' fetches.
        full: set[str] = set()
        while not self.stopping and gate.in_flight() < gate.total:
            batch = [job for job in due(self._rt, skip=frozenset(full)) if job.message_sid not in held]
            if not batch:
                break
            for job in batch:
                if self.stopping or gate.in_flight() >= gate.total:
                    break
                if job.account_sid in full:
                    continue
                outcome = self._start(job)
                if outcome is None:
                    full.add(job.account_sid)
                elif outcome:
                    started += 1
        return started

    def _start(self, job: Due) -> bool | None:
        """Take a slot and the claim and start the fetch: True. False when another
        worker claimed it first; None when the account's share is taken (or
        cannot be counted)."""
        slot = ExitStack()
        try:
            slot.enter_context(self._rt.fetch_gate.hold(job.account_sid))
        except ApiError:  # the account's share is taken, or Redis is away
            return None
        token = claim(self._rt, job.message_sid)
        if token is None:
            slot.close()
            return False
        with self._lock:
            self._held[job.message_sid] = token
        thread = threading.Thread(
            target=self._fetch, args=(job.message_sid, token, slot), name="media-fetch-job", daemon=True
        )
        thread.start()
        return True

    def _fetch(self, message_sid: str, token: str, slot: ExitStack) -> None:
        try:
            with slot:
                process(self._rt, message_sid, token, self._on_stored)
        except Exception:
            # The claim stays until its lease lapses; then this or another process retries.
            log.exception("media fetch of %s failed", message_sid)
        finally:
            with self._lock:
                self._held.pop(message_sid, None)
            self.wake()  # a slot is free: start what waited for it
