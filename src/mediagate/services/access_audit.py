"""The durable access audit: who fetched which media, when, and what we answered.

Every content-URL decision (``api/media.py``) and every media-host answer
(``edge/hosts.py``) is one event. Writing a row per request would put a
database round trip on the hottest paths, so a request only *enqueues* a tuple
(``AccessAudit.record``: a lock, a ``deque.append``; it never blocks and never
touches the database) and ``Flusher``, a background thread started by
``background.py``'s lifespan, writes them in batches every
``MEDIAGATE_ACCESS_AUDIT_FLUSH_INTERVAL`` seconds and once more at shutdown.

The queue is bounded (``MEDIAGATE_ACCESS_AUDIT_QUEUE_SIZE``). When it is full
(the database is away for long, or a flood) new events are dropped, counted in
``mediagate_access_audit_dropped_total`` and announced by one warning per
overflow episode: a request is never slowed down to keep its audit line.
Consequence, said plainly: the audit is durable once flushed; a process that
is killed (not stopped) loses at most one flush interval of events.

Nothing secret is stored: credentials are named by their sid (an auth token by
its account sid, a signed URL by its signing key id), never by a token, a
signature or a URL. The client address is the one ``proxies.py`` resolved
(``X-Forwarded-For`` only from trusted proxies).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping
from datetime import timedelta
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import delete, insert, select

from mediagate import sids
from mediagate.db.models import MediaAccessEvent
from mediagate.paging import Page, PageRequest, fetch_page
from mediagate.polling import PollingWorker
from mediagate.timefmt import utcnow

if TYPE_CHECKING:
    from datetime import datetime

    from mediagate.auth import Principal
    from mediagate.context import Runtime

log = logging.getLogger("mediagate.access_audit")

SID_PREFIX = "AE"  # ours: Twilio has no access events
BATCH = 500  # rows per INSERT
RETENTION_INTERVAL = 3600.0  # seconds between retention passes
RETENTION_BATCH = 5000  # rows per DELETE, so one pass never holds a long lock


class Event(NamedTuple):
    when: datetime
    host: str  # "api" (the content URL) | "secure" | "public" (the media hosts)
    account_sid: str
    media_sid: str
    method: str
    credential_kind: str  # auth_token | secondary_auth_token | api_key | signed_url | none
    credential_sid: str | None
    allowed: bool
    reason: str
    client_ip: str | None


def _metrics() -> ModuleType:
    # Imported when first needed, not with this module: ``mediagate serve`` must
    # set up multiprocess metrics before anything imports prometheus_client, and
    # the runtime (hence this module) is imported earlier than that.
    from mediagate.observability import metrics

    return metrics


def credential_of(principal: Principal | None) -> tuple[str, str | None]:
    if principal is None:
        return "none", None
    return principal.kind, principal.credential_sid


class AccessAudit:
    """The bounded, thread-safe queue between the request paths and the flusher."""

    def __init__(self, max_events: int) -> None:
        self.max_events = max_events
        self._lock = threading.Lock()
        self._events: deque[Event] = deque()
        self._overflowing = False

    def record(
        self,
        host: str,
        account_sid: str,
        media_sid: str,
        method: str,
        credential: tuple[str, str | None],
        allowed: bool,
        reason: str,
        client_ip: str | None,
    ) -> None:
        """Enqueue one event; never blocks on I/O. Drops it when the queue is full."""
        event = Event(utcnow(), host, account_sid, media_sid, method, *credential, allowed, reason, client_ip)
        with self._lock:
            if len(self._events) < self.max_events:
                self._events.append(event)
                if self._overflowing and len(self._events) < self.max_events // 2:
                    self._overflowing = False
                return
            announce = not self._overflowing
            self._overflowing = True
        _metrics().ACCESS_AUDIT_DROPPED.inc()
        if announce:  # once per overflow episode, not once per dropped event
            log.warning(
                "access audit queue is full (%d events): dropping new events until it drains", self.max_events
            )

    def take(self, limit: int) -> list[Event]:
        with self._lock:
            n = min(limit, len(self._events))
            return [self._events.popleft() for _ in range(n)]

    def put_back(self, events: list[Event]) -> int:
        """Return events a failed write took, oldest first, as far as room allows;
        what does not fit is dropped and counted. Returns how many were dropped."""
        with self._lock:
            room = self.max_events - len(self._events)
            keep = events[:room] if room > 0 else []
            self._events.extendleft(reversed(keep))
        dropped = len(events) - len(keep)
        if dropped:
            _metrics().ACCESS_AUDIT_DROPPED.inc(dropped)
        return dropped

    def __len__(self) -> int:
        return len(self._events)


_INSERT = insert(MediaAccessEvent)  # executed on the Connection: Core, not the ORM


def write(rt: Runtime, events: list[Event]) -> None:
    """One executemany per batch through Core (SQLAlchemy's insertmanyvalues
    turns it into multi-row INSERTs). Not the ORM's bulk insert: at the hot
    paths' rates its per-row bookkeeping was most of this thread's time, and
    that time is taken from the event loop (the GIL)."""
    rows = [
        {
            "sid": sids.new_sid(SID_PREFIX),
            "date_created": e.when,
            "host": e.host,
            "account_sid": e.account_sid,
            "media_sid": e.media_sid,
            "method": e.method[:8],
            "credential_kind": e.credential_kind,
            "credential_sid": e.credential_sid,
            "allowed": e.allowed,
            "reason": e.reason,
            "client_ip": (e.client_ip or None) and e.client_ip[:64],
        }
        for e in events
    ]
    with rt.tx() as session:
        session.connection().execute(_INSERT, rows)
    _metrics().ACCESS_AUDIT_WRITTEN.inc(len(rows))


def flush(rt: Runtime) -> int:
    """Write everything queued now. On a database error the batch goes back to
    the queue (next pass retries it) and the error propagates."""
    written = 0
    while True:
        batch = rt.access_audit.take(BATCH)
        if not batch:
            return written
        try:
            write(rt, batch)
        except Exception:
            rt.access_audit.put_back(batch)
            raise
        written += len(batch)


class Flusher(PollingWorker):
    """Writes queued events every ``interval`` seconds; ``stop`` flushes the rest."""

    name = "access-audit-flush"

    def __init__(self, rt: Runtime, interval: float) -> None:
        super().__init__(interval)
        self._rt = rt

    def run_once(self) -> int:
        return flush(self._rt)

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        # The thread has ended its last pass: write what came in since, once.
        try:
            flush(self._rt)
        except Exception as exc:
            left = len(self._rt.access_audit)
            _metrics().ACCESS_AUDIT_DROPPED.inc(left)
            log.warning("access audit: %d events not written at shutdown (%s)", left, type(exc).__name__)


def purge(rt: Runtime, retention_days: int) -> int:
    """Delete events older than ``retention_days`` in bounded batches; 0 = keep all."""
    if retention_days <= 0:
        return 0
    cutoff = utcnow() - timedelta(days=retention_days)
    removed = 0
    while True:
        with rt.tx() as session:
            old = list(
                session.scalars(
                    select(MediaAccessEvent.sid)
                    .where(MediaAccessEvent.date_created < cutoff)
                    .limit(RETENTION_BATCH)
                )
            )
            if old:
                session.execute(delete(MediaAccessEvent).where(MediaAccessEvent.sid.in_(old)))
        removed += len(old)
        if len(old) < RETENTION_BATCH:
            return removed


class Retention(PollingWorker):
    """Applies ``MEDIAGATE_ACCESS_AUDIT_RETENTION_DAYS`` at start and then hourly.
    Every process runs one; concurrent passes delete disjoint or already-gone rows."""

    name = "access-audit-retention"

    def __init__(self, rt: Runtime, interval: float = RETENTION_INTERVAL) -> None:
        super().__init__(interval)
        self._rt = rt

    def run_once(self) -> int:
        removed = purge(self._rt, self._rt.settings.access_audit_retention_days)
        if removed:
            log.info("access audit retention removed %d events", removed)
        return removed


def page(rt: Runtime, account_sid: str, query: Mapping[str, str | None], req: PageRequest) -> Page:
    """One account's events, newest first, optionally of one media."""
    stmt = select(MediaAccessEvent).where(MediaAccessEvent.account_sid == account_sid)
    if media_sid := query.get("MediaSid"):
        stmt = stmt.where(MediaAccessEvent.media_sid == media_sid)
    with rt.sessions() as session:
        return fetch_page(session, stmt, MediaAccessEvent.date_created, MediaAccessEvent.sid, req)
