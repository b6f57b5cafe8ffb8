"""The durable half of the invalidation channel: the ``invalidations`` table.

The process that makes a change appends one row per key (``record``); every
server process reads the rows above the last id it applied (``since``,
``cluster/coherence.py``). Redis pub/sub is fire-and-forget; this is the
record that a cut-off publisher, a frozen Redis or a CLI run without
``MEDIAGATE_REDIS_URL`` cannot lose.

"Above the last id" is only sound if ids become visible in the order they
are handed out. SQLite has one writer at a time, so they do. On PostgreSQL a
sequence hands out ids at insert time, and two transactions may commit in
the opposite order: a poller that saw id 11 before id 10 committed would
skip 10 for ever. So each append holds a self-exclusive table lock until it
commits: the next id is taken only after the previous one is visible.
Readers take no lock that conflicts with it (plain SELECTs).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Engine, bindparam, delete, func, insert, select, text

from mediagate.core.clock import Clock
from mediagate.db.models import InvalidationRecord

_T = InvalidationRecord.__table__
_C = _T.c
_SINCE = (
    select(_C.id, _C.topic, _C.key)
    .where(_C.id > bindparam("after"))
    .order_by(_C.id)
    .limit(bindparam("limit"))
)
_HEAD = select(func.coalesce(func.max(_C.id), 0))
_LOCK = text("LOCK TABLE invalidations IN SHARE ROW EXCLUSIVE MODE")


class Entry(NamedTuple):
    id: int
    topic: str
    key: str


class Journal:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def record(self, topic: str, keys: Sequence[str]) -> None:
        """Append one row per key, in one transaction of its own."""
        now = self._clock.now()
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(_LOCK)
            conn.execute(
                insert(InvalidationRecord),
                [{"topic": topic, "key": key, "date_created": now} for key in keys],
            )

    def head(self) -> int:
        """The highest id written so far (0: none)."""
        with self._engine.connect() as conn:
            return int(conn.execute(_HEAD).scalar_one())

    def since(self, after: int, limit: int) -> list[Entry]:
        """The first ``limit`` rows above ``after``, oldest first (one indexed range read)."""
        with self._engine.connect() as conn:
            rows = conn.execute(_SINCE, {"after": after, "limit": limit}).all()
        return [Entry(int(r.id), str(r.topic), str(r.key)) for r in rows]

    def prune(self, older_than: float) -> int:
        """Delete the rows older than ``older_than`` seconds (by the clock)."""
        cutoff: datetime = self._clock.now() - timedelta(seconds=older_than)
        with self._engine.begin() as conn:
            return int(conn.execute(delete(InvalidationRecord).where(_C.date_created < cutoff)).rowcount or 0)
