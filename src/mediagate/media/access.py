"""Last access and first download of each media, recorded off the request path.

Retention's "N days after last access" and "after the first download" rules
need to know when media are fetched, but the content redirect and the media
hosts are the hottest paths (bench/): a database write per fetch would
dominate them. So a fetch only updates an in-memory dict (one lock, no I/O),
and a background worker (``background.AccessFlusher``) writes what piled up
in one transaction every ``MEDIAGATE_ACCESS_FLUSH_INTERVAL`` seconds, and on
shutdown. Memory is bounded by ``MEDIAGATE_ACCESS_BUFFER_MAX`` distinct media:
when that many are pending the flusher is woken early; beyond it a fetch of
a further media is counted as dropped (a metric, never an error), so the
only cost of an overload is that the rule sees an older access than the
real one for that media.

A process killed between two flushes loses at most one interval of records:
an access rule then measures from the previous access (or from creation),
which errs on the side of deleting; operators who need exactness choose an
interval far below the rule's days.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import case, func
from sqlalchemy.dialects import postgresql, sqlite

from mediagate.core.clock import Clock, SystemClock
from mediagate.db.models import MediaActivity

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mediagate.runtime.context import Runtime


@dataclass
class _Seen:
    account_sid: str
    last_accessed: datetime
    first_downloaded: datetime | None


class AccessRecorder:
    """Pending access records of one process. Thread-safe; ``record`` never blocks on I/O."""

    def __init__(self, max_entries: int, clock: Clock | None = None) -> None:
        self.max_entries = max_entries
        # The runtime's clock: retention's "days after last access" compares these
        # times with the same clock, so moving it ages the media as it should.
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.dropped = 0  # records refused because the buffer was full (since start)
        self._pending: dict[str, _Seen] = {}
        self._lock = threading.Lock()
        # Set when the buffer is full: the flusher writes at once instead of at its next tick.
        self.full = threading.Event()

    def record(self, account_sid: str, media_sid: str, *, downloaded: bool) -> None:
        """A fetch of ``media_sid``: ``downloaded`` when bytes were (or are about
        to be, for a presigned URL) sent, rather than a redirect or a HEAD."""
        now = self._clock.now()
        with self._lock:
            seen = self._pending.get(media_sid)
            if seen is None:
                if len(self._pending) >= self.max_entries:
                    self.dropped += 1
                    from mediagate.observability import metrics  # lazily: see observability/multiproc.py

                    metrics.ACCESS_RECORDS_DROPPED.inc()
                    self.full.set()
                    return
                self._pending[media_sid] = _Seen(account_sid, now, now if downloaded else None)
                if len(self._pending) >= self.max_entries:
                    self.full.set()
                return
            seen.last_accessed = now
            if downloaded and seen.first_downloaded is None:
                seen.first_downloaded = now

    def served(self, account_sid: str, media_sid: str, method: str, status: int) -> None:
        """A media host's answer: a GET that sends bytes (200, 206) is a download;
        a HEAD or a 304 is an access only."""
        if status < 400:
            self.record(account_sid, media_sid, downloaded=method == "GET" and status in (200, 206))

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def take(self) -> dict[str, _Seen]:
        with self._lock:
            taken, self._pending = self._pending, {}
            self.full.clear()
        return taken

    def put_back(self, taken: dict[str, _Seen]) -> None:
        """A flush failed (database away): keep its records for the next one,
        merged with what arrived meanwhile, still within the bound."""
        with self._lock:
            for sid, seen in taken.items():
                now = self._pending.get(sid)
                if now is None:
                    if len(self._pending) < self.max_entries:
                        self._pending[sid] = seen
                    else:
                        self.dropped += 1
                        from mediagate.observability import metrics  # lazily: see observability/multiproc.py

                        metrics.ACCESS_RECORDS_DROPPED.inc()
                elif seen.first_downloaded is not None and (
                    now.first_downloaded is None or seen.first_downloaded < now.first_downloaded
                ):
                    now.first_downloaded = seen.first_downloaded

    def flush(self, rt: Runtime) -> int:
        """Write the pending records in one transaction; return how many media."""
        taken = self.take()
        if not taken:
            return 0
        try:
            with rt.tx() as session:
                _upsert(session, taken)
        except BaseException:
            self.put_back(taken)
            raise
        return len(taken)


def _upsert(session: Session, taken: dict[str, _Seen]) -> None:
    """One INSERT .. ON CONFLICT for the batch: the later last access wins, the
    first download is kept once set (two processes may flush the same media)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [
        {
            "media_sid": sid,
            "account_sid": seen.account_sid,
            "last_accessed": seen.last_accessed,
            "first_downloaded": seen.first_downloaded,
        }
        for sid, seen in sorted(taken.items())  # sorted: concurrent flushes lock rows in one order
    ]
    table = MediaActivity.__table__.c
    stmt = insert(MediaActivity)
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.media_sid],
        set_={
            "last_accessed": case(
                (excluded.last_accessed > table.last_accessed, excluded.last_accessed),
                else_=table.last_accessed,
            ),
            "first_downloaded": func.coalesce(table.first_downloaded, excluded.first_downloaded),
        },
    )
    # executemany: compiled once, batched by the driver (SQLAlchemy's insertmanyvalues).
    session.execute(stmt, rows)
