"""The durable access audit: who fetched which media, when, and what we answered.

Every content-URL decision (``api/media.py``) and every media-host answer
(``edge/hosts.py``) is one event. Writing a row per request would put a
database round trip on the hottest paths, so a request only *enqueues* a tuple
(``AccessAudit.record``: a lock, a ``deque.append``; it never blocks and never
touches the database) and ``Flusher``, a background thread started by
``runtime/background.py``'s lifespan, writes them in batches every
``MEDIAGATE_ACCESS_AUDIT_FLUSH_INTERVAL`` seconds and once more at shutdown.

Identical accesses of one UTC second (the same host, account, media, method,
credential, answer and client address) are written as one row with their
``count``, ``date_created`` the first and ``date_updated`` the last (``group``).
Nothing an audit asks is lost (who, with which credential, what, from where,
what we answered, when to the second, how often), each request keeps its own
log lines with its request id (access, and audit for content URLs), and the table and its writer's cost
grow with the distinct accesses instead of the request rate: one client
repeating a redirect 20,000 times a second was 20,000 rows a second, the
largest single cost of the content redirect (bench/analysis.md).

The queue is bounded (``MEDIAGATE_ACCESS_AUDIT_QUEUE_SIZE``). When it is full
(the database is away for long, or a flood) new events are dropped, counted in
``mediagate_access_audit_dropped_total`` and announced by one warning per
overflow episode: a request is never slowed down to keep its audit line.
Consequence, said plainly: the audit is durable once flushed; a process that
is killed (not stopped) loses at most one flush interval of events.

Nothing secret is stored: credentials are named by their sid (an auth token by
its account sid, a signed URL by its signing key id), never by a token, a
signature or a URL. The client address is the one ``core/proxies.py`` resolved
(``X-Forwarded-For`` only from trusted proxies).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import delete, select
from sqlalchemy import exc as sa_exc

from mediagate.core.clock import Clock, SystemClock
from mediagate.core.paging import Page, PageRequest, fetch_page
from mediagate.db.models import MediaAccessEvent
from mediagate.db.polling import PollingWorker
from mediagate.db.records import AccessEventRecord, page_of

if TYPE_CHECKING:
    from mediagate.accounts.auth import Principal
    from mediagate.runtime.context import Runtime

log = logging.getLogger("mediagate.access_audit")

SID_PREFIX = "AE"  # ours: Twilio has no access events
BATCH = 5000  # events per write (fewer rows: ``group``)
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

    def __init__(self, max_events: int, clock: Clock | None = None) -> None:
        self.max_events = max_events
        self._clock: Clock = clock if clock is not None else SystemClock()  # the runtime's
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
        event = Event(
            self._clock.now(), host, account_sid, media_sid, method, *credential, allowed, reason, client_ip
        )
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


_COLUMNS = (
    "sid", "date_created", "date_updated", "count", "host", "account_sid", "media_sid", "method",
    "credential_kind", "credential_sid", "allowed", "reason", "client_ip",
)  # fmt: skip
assert set(_COLUMNS) == set(MediaAccessEvent.__table__.columns.keys())  # the model is the schema


ROWS_PER_INSERT = 76  # 13 columns: 988 parameters, under SQLite's oldest limit (999)


@functools.cache
def _insert_sql(dialect: str, rows: int) -> str:
    mark = "?" if dialect == "sqlite" else "%s"  # the two drivers' parameter styles
    one = f"({', '.join([mark] * len(_COLUMNS))})"
    table = MediaAccessEvent.__tablename__
    # Only our own constants go into the text (table, column names, placeholders).
    return f"INSERT INTO {table} ({', '.join(_COLUMNS)}) VALUES {', '.join([one] * rows)}"  # noqa: S608


def _sqlite_time(w: datetime) -> str:
    # SQLAlchemy's own SQLite DATETIME text ("YYYY-MM-DD HH:MM:SS.ffffff", UTC).
    return (
        f"{w.year:04d}-{w.month:02d}-{w.day:02d} {w.hour:02d}:{w.minute:02d}:{w.second:02d}"
        f".{w.microsecond:06d}"
    )


class Group(NamedTuple):
    """Identical accesses in one second: the first event, the last one's time, how many."""

    first: Event
    last: datetime
    times: int


def group(events: list[Event]) -> list[Group]:
    """Identical events (every field but the time) of the same UTC second as one,
    in the order of their first. A client repeating a request thousands of times a
    second is then one row a second, not thousands: the audit keeps who, with which
    credential, what, from where, what we answered, when and how often, at a cost
    bounded by the distinct accesses rather than by the request rate."""
    found: dict[tuple[Any, ...], list[Any]] = {}
    for e in events:
        w = e.when
        key = (w.second, w.minute, w.hour, w.day, w.month, w.year, *e[1:])
        seen = found.get(key)
        if seen is None:
            found[key] = [e, w, 1]
        else:
            seen[1] = w
            seen[2] += 1
    return [Group(first, last, n) for first, last, n in found.values()]


def write(rt: Runtime, events: list[Event]) -> None:
    """The events as rows (``group``): multi-row INSERTs of ``ROWS_PER_INSERT``
    rows on SQLite, COPY on PostgreSQL, straight to the driver. SQLAlchemy's
    per-row parameter processing (even through Core) was most of this thread's
    time at the fast paths' rates, and that time is taken from the event loop
    (the GIL); so was a driver round trip (and a GIL hand-off) per row of an
    executemany. Values are plain ones the drivers adapt."""
    groups = group(events)
    dialect = rt.engine.dialect.name
    sqlite = dialect == "sqlite"
    # Sids that sort by time: 12 hex digits of the first event's epoch
    # milliseconds, then 20 random ones (one system call for the batch). Random
    # sids landed all over the primary key's B-tree; these append at its end.
    ids = os.urandom(10 * len(groups)).hex()
    rows = []
    for i, (e, last, times) in enumerate(groups):
        stamp = f"{int(e.when.timestamp() * 1000) & 0xFFFFFFFFFFFF:012x}"
        rows.append(
            [
                SID_PREFIX + stamp + ids[20 * i : 20 * i + 20],
                _sqlite_time(e.when) if sqlite else e.when,
                _sqlite_time(last) if sqlite else last,
                times,
                e.host,
                e.account_sid,
                e.media_sid,
                e.method[:8],
                e.credential_kind,
                e.credential_sid,
                e.allowed,
                e.reason,
                (e.client_ip or None) and e.client_ip[:64],
            ]
        )
    with rt.engine.begin() as conn:
        if dialect == "postgresql":
            # COPY: no statement to parse and plan per chunk, rows encoded by
            # psycopg's C code; in the same transaction as any other statement.
            driver = conn.connection.driver_connection
            assert driver is not None
            sql = f"COPY {MediaAccessEvent.__tablename__} ({', '.join(_COLUMNS)}) FROM STDIN"
            driver_error = conn.dialect.loaded_dbapi.Error
            try:
                with driver.cursor() as cur, cur.copy(sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            except driver_error as exc:
                # The driver's own error, as SQLAlchemy would have wrapped it: the
                # callers (and db/failures.py's outage test) know only those.
                raise sa_exc.DBAPIError.instance(sql, None, exc, driver_error) from exc
        else:
            for start in range(0, len(rows), ROWS_PER_INSERT):
                chunk = rows[start : start + ROWS_PER_INSERT]
                flat = tuple(value for row in chunk for value in row)
                conn.exec_driver_sql(_insert_sql(dialect, len(chunk)), flat)
    _metrics().ACCESS_AUDIT_WRITTEN.inc(len(events))


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
    cutoff = rt.clock.now() - timedelta(days=retention_days)
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
    """Applies ``MEDIAGATE_ACCESS_AUDIT_RETENTION_DAYS`` at start and then every
    ``MEDIAGATE_ACCESS_AUDIT_RETENTION_INTERVAL`` seconds (hourly by default).
    Every process runs one; concurrent passes delete disjoint or already-gone rows."""

    name = "access-audit-retention"

    def __init__(self, rt: Runtime, interval: float | None = None) -> None:
        super().__init__(rt.settings.access_audit_retention_interval if interval is None else interval)
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
        found = fetch_page(session, stmt, MediaAccessEvent.date_created, MediaAccessEvent.sid, req)
    return page_of(found, AccessEventRecord.of)
