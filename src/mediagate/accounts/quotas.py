"""Quotas per account: bytes stored, media stored, media ingested per hour.

Limits are the deployment's (``MEDIAGATE_QUOTA_*``) unless an operator set an
override for the account (``mediagate accounts quota``). 0 means "no limit".

* **Stored bytes and media** are counters in ``account_usage``, changed in SQL
  (``x = x + n``) inside the transaction that writes or deletes the media rows.
  Writing media is one *conditional* UPDATE whose WHERE clause is the quota
  check, so two concurrent creates cannot both slip under the limit and a
  concurrent delete cannot be lost (PostgreSQL re-checks the WHERE after the
  row lock; SQLite serialises writers). A refused write rolls back the whole
  transaction: nothing already accepted is touched, the new objects are removed.
* **Ingest per hour** counts media an account asks us to store (MediaUrl and
  inbound), checked *before* anything is fetched, with a sliding-window
  counter over the runtime clock's hours (``IngestMeter``): in Redis (shared by every process) when
  ``MEDIAGATE_REDIS_URL`` is set, in memory (per process) otherwise.

Refusals are Twilio-shaped: stored quotas are 403 / 20403 (retrying the same
request does not help until media is deleted or the quota raised), the hourly
rate is 429 / 20429 with ``Retry-After`` (the code Twilio's clients already back
off on). docs/quotas.md has the reasoning.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import redis
from limits.errors import StorageError
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mediagate.core import redis_clients
from mediagate.core.clock import Clock, SystemClock
from mediagate.core.errors import ApiError, BadRequest, NotFound, ServiceUnavailable
from mediagate.db.dml import rowcount
from mediagate.db.models import Account, AccountQuota, AccountUsage, Media
from mediagate.media.fetch_limits import TooManyRequests
from mediagate.observability import metrics

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from mediagate.core.settings import Settings
    from mediagate.runtime.context import Runtime

KINDS = ("bytes", "media", "ingest_per_hour")


class StorageQuotaExceeded(ApiError):
    status = 403
    code = 20403


class IngestRateExceeded(TooManyRequests):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limits:
    """Effective limits; 0 = none."""

    max_bytes: int
    max_media: int
    ingest_per_hour: int


@dataclass(frozen=True)
class Overrides:
    """An account's own values; ``None`` = the deployment default."""

    max_bytes: int | None = None
    max_media: int | None = None
    ingest_per_hour: int | None = None


@dataclass(frozen=True)
class Usage:
    account_sid: str
    bytes_stored: int
    media_count: int
    ingested_last_hour: int | None  # the ingest meter's count; None: its Redis is unreachable
    limits: Limits
    overrides: Overrides
    # Media rows created in the last hour of the runtime's clock (still stored): what the
    # console shows. The meter above counts only while a limit is set, and without Redis
    # only this process's requests, so it cannot answer "how many arrived" (issue 25).
    stored_last_hour: int = 0


def effective(settings: Settings, row: AccountQuota | None) -> Limits:
    def pick(own: int | None, default: int) -> int:
        return default if own is None else own

    return Limits(
        pick(row.max_bytes if row else None, settings.quota_max_bytes),
        pick(row.max_media if row else None, settings.quota_max_media),
        pick(row.ingest_per_hour if row else None, settings.quota_ingest_per_hour),
    )


def _ensure_row(session: Session, account_sid: str) -> None:
    """Create the counter row from what the account stores now. Accounts get one
    when created (and from migration 0007); this covers any other way in."""
    counted = select(func.coalesce(func.sum(Media.size), 0), func.count(Media.sid)).where(
        Media.account_sid == account_sid
    )
    stored, count = session.execute(counted).one()
    values = {"account_sid": account_sid, "bytes_stored": int(stored), "media_count": int(count)}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(AccountUsage).values(**values).on_conflict_do_nothing())


def start_counting(session: Session, account_sid: str) -> None:
    """For a new account: its counter row, written with the account."""
    session.add(AccountUsage(account_sid=account_sid, bytes_stored=0, media_count=0))


def charge(session: Session, settings: Settings, account_sid: str, size: int, count: int) -> None:
    """Count ``count`` new media of ``size`` bytes in the caller's transaction,
    or raise ``StorageQuotaExceeded`` (the caller's transaction then rolls back)."""
    if count == 0:
        return
    limits = effective(settings, session.get(AccountQuota, account_sid))
    usage = AccountUsage.__table__.c
    stmt = update(AccountUsage).where(usage.account_sid == account_sid)
    if limits.max_bytes:
        stmt = stmt.where(usage.bytes_stored + size <= limits.max_bytes)
    if limits.max_media:
        stmt = stmt.where(usage.media_count + count <= limits.max_media)
    stmt = stmt.values(bytes_stored=usage.bytes_stored + size, media_count=usage.media_count + count)
    stmt = stmt.execution_options(synchronize_session=False)
    changed = rowcount(session, stmt)
    if (
        changed == 0
        and session.scalar(select(usage.account_sid).where(usage.account_sid == account_sid)) is None
    ):
        _ensure_row(session, account_sid)
        changed = rowcount(session, stmt)
    if changed == 1:
        return
    now = session.execute(
        select(usage.bytes_stored, usage.media_count).where(usage.account_sid == account_sid)
    ).one()
    if limits.max_media and now.media_count + count > limits.max_media:
        raise _refused("media", f"{now.media_count} media", limits.max_media, f"{count} more media")
    raise _refused("bytes", f"{now.bytes_stored} bytes", limits.max_bytes, f"{size} more bytes")


def _refused(kind: str, stored: str, limit: int, asked: str) -> StorageQuotaExceeded:
    metrics.QUOTA_REFUSALS.labels(kind).inc()
    what = "Media" if kind == "media" else "Storage"
    return StorageQuotaExceeded(
        f"{what} quota exceeded: this account stores {stored} and may store at most {limit} "
        f"{'media' if kind == 'media' else 'bytes'}; {asked} were refused. "
        "Delete media, or ask the operator to raise the quota."
    )


def release(session: Session, account_sid: str, size: int, count: int) -> None:
    """Uncount deleted media, in the transaction that deletes their rows."""
    if count == 0:
        return
    usage = AccountUsage.__table__.c
    session.execute(
        update(AccountUsage)
        .where(usage.account_sid == account_sid)
        .values(bytes_stored=usage.bytes_stored - size, media_count=usage.media_count - count)
        .execution_options(synchronize_session=False)
    )


def release_all(session: Session, account_sid: str) -> None:
    """Every media of the account was deleted (a closed account)."""
    session.execute(
        update(AccountUsage)
        .where(AccountUsage.account_sid == account_sid)
        .values(bytes_stored=0, media_count=0)
        .execution_options(synchronize_session=False)
    )


# Check and count in one step, atomically in Redis (several processes share the
# count). The caller passes the weight of the previous window, computed from the
# runtime's clock, so the windows follow that clock and not Redis's.
_TAKE = """
local previous = tonumber(redis.call('GET', KEYS[1]) or '0')
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit, cost, weight = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if math.floor(previous * weight) + current + cost > limit then
  return {0, previous, current}
end
current = redis.call('INCRBY', KEYS[2], cost)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
return {1, previous, current}
"""


class IngestMeter:
    """Media an account asked us to store in the last hour: a sliding-window
    counter (the ``limits`` library's algorithm) over hour windows of the
    runtime's clock.

    Each clock hour has a counter; the count "in the last hour" is the current
    hour's plus the previous hour's weighted by the part of it still inside the
    last 3600 seconds. Written here rather than with ``limits`` because that
    library reads ``time.time()`` (and Redis key TTLs) itself, so a moved clock
    could not age the window. In Redis (shared by every process) when
    ``redis_url`` is set, in memory (per process) otherwise; a Redis outage,
    or a Redis that does not answer within ``redis_timeout``, raises
    ``limits.errors.StorageError`` (callers fail closed)."""

    WINDOW = 3600

    def __init__(
        self,
        redis_url: str = "",
        key_prefix: str = "mediagate",
        clock: Clock | None = None,
        redis_timeout: float = redis_clients.DEFAULT_TIMEOUT,
    ) -> None:
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._prefix = f"{key_prefix}:ingest:"
        self._redis: Any = None
        self._take: Any = None
        if redis_url:
            # A frozen Redis fails a check within the timeout: admit() answers 503.
            self._redis = redis_clients.client(redis_url, redis_timeout)
            self._take = self._redis.register_script(_TAKE)
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], int] = {}  # (account, window index) -> media, in memory

    def _window(self) -> tuple[int, float]:
        """The current window's index and the previous window's weight."""
        now = self._clock.time()
        index = int(now // self.WINDOW)
        elapsed = now - index * self.WINDOW
        return index, (self.WINDOW - elapsed) / self.WINDOW

    def _wait(self, previous: int, current: int, weight: float, limit: int, count: int) -> int:
        """Whole seconds until ``count`` more would be admitted, if nothing else is counted."""
        elapsed = (1 - weight) * self.WINDOW
        room = limit - count - current  # what the previous window's weighted share may still be
        if room >= 0 and previous:
            # floor(previous * (W - t) / W) <= room  once  t > W * (1 - (room + 1) / previous)
            at = self.WINDOW * (1 - (room + 1) / previous)
            left = max(at - elapsed, 0.0)
        elif room >= 0:
            left = 0.0
        else:
            # Next window: this window's count is the weighted one then.
            at = self.WINDOW * (1 - (limit - count + 1) / current) if count <= limit else self.WINDOW
            left = self.WINDOW - elapsed + max(at, 0.0)
        return max(int(left) + 1, 1)

    def take(self, account_sid: str, limit: int, count: int) -> int | None:
        """Count ``count`` media; ``None`` when allowed, else seconds to wait."""
        index, weight = self._window()
        if self._redis is not None:
            keys = [f"{self._prefix}{account_sid}:{index - 1}", f"{self._prefix}{account_sid}:{index}"]
            try:
                ok, previous, current = self._take(
                    keys=keys, args=[limit, count, repr(weight), 2 * self.WINDOW]
                )
            except redis.RedisError as exc:
                raise StorageError(exc) from None
            ok, previous, current = int(ok), int(previous), int(current)
        else:
            with self._lock:
                previous = self._counts.get((account_sid, index - 1), 0)
                current = self._counts.get((account_sid, index), 0)
                ok = int(math.floor(previous * weight) + current + count <= limit)
                if ok:
                    self._forget_before(index - 1)
                    self._counts[(account_sid, index)] = current + count
        if ok:
            return None
        return self._wait(previous, current, weight, limit, count)

    def used(self, account_sid: str, limit: int) -> int:
        if not limit:
            return 0
        index, weight = self._window()
        if self._redis is not None:
            keys = [f"{self._prefix}{account_sid}:{index - 1}", f"{self._prefix}{account_sid}:{index}"]
            try:
                previous, current = (int(v or 0) for v in self._redis.mget(keys))
            except redis.RedisError as exc:
                raise StorageError(exc) from None
        else:
            with self._lock:
                previous = self._counts.get((account_sid, index - 1), 0)
                current = self._counts.get((account_sid, index), 0)
        return min(math.floor(previous * weight) + current, limit)

    def forget_all(self) -> None:
        """Drop this process's counts (test mode's reset: its accounts are gone, its
        clock goes back). Counts in Redis expire with their window."""
        with self._lock:
            self._counts = {}

    def _forget_before(self, index: int) -> None:
        # Memory stays bounded by the accounts of two windows (Redis keys expire).
        if any(i < index for _, i in self._counts):
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= index}


def admit(rt: Runtime, account_sid: str, count: int) -> None:
    """Before fetching or storing ``count`` media: refuse early when the stored
    quotas are already reached (``charge`` has the last word, after the fetch),
    then count them against the hourly ingest quota."""
    if count == 0:
        return
    with rt.sessions() as session:
        limits = effective(rt.settings, session.get(AccountQuota, account_sid))
        now = session.get(AccountUsage, account_sid)
    if now is not None and limits.max_media and now.media_count + count > limits.max_media:
        raise _refused("media", f"{now.media_count} media", limits.max_media, f"{count} more media")
    if now is not None and limits.max_bytes and now.bytes_stored >= limits.max_bytes:
        raise _refused("bytes", f"{now.bytes_stored} bytes", limits.max_bytes, f"{count} more media")
    limit = limits.ingest_per_hour
    if not limit:
        return
    try:
        wait = rt.ingest_meter.take(account_sid, limit, count)
    except StorageError as exc:  # Redis unreachable: fail closed, like the console's sign-in limiter
        raise ServiceUnavailable("The ingest quota cannot be checked right now. Try again later.") from exc
    if wait is None:
        return
    metrics.QUOTA_REFUSALS.labels("ingest_per_hour").inc()
    raise IngestRateExceeded(
        f"Ingest quota exceeded: this account may store at most {limit} media per hour; "
        f"{count} more were refused. Try again in {wait} seconds.",
        wait,
    )


def usage(rt: Runtime, account_sid: str) -> Usage:
    with rt.tx() as session:
        if session.get(Account, account_sid) is None:
            raise NotFound(f"/2010-04-01/Accounts/{account_sid}.json")
        if session.get(AccountUsage, account_sid) is None:
            _ensure_row(session, account_sid)  # an account from before the counters, or made elsewhere
        row = session.get(AccountUsage, account_sid)
        assert row is not None
        override = session.get(AccountQuota, account_sid)
        limits = effective(rt.settings, override)
        own = (
            Overrides(override.max_bytes, override.max_media, override.ingest_per_hour)
            if override
            else Overrides()
        )
        stored, count = row.bytes_stored, row.media_count
        since = rt.clock.now() - timedelta(seconds=IngestMeter.WINDOW)
        recent = session.scalar(
            select(func.count())
            .select_from(Media)
            .where(Media.account_sid == account_sid, Media.date_created > since)
        )
    try:
        ingested: int | None = rt.ingest_meter.used(account_sid, limits.ingest_per_hour)
    except StorageError:
        ingested = None
    return Usage(account_sid, stored, count, ingested, limits, own, stored_last_hour=int(recent or 0))


UNSET = -1  # "back to the deployment default" in ``set_overrides``
MAX_LIMIT = 2**62  # fits the BIGINT columns with room for ``used + n``


def set_overrides(
    rt: Runtime,
    account_sid: str,
    *,
    max_bytes: int | None = None,
    max_media: int | None = None,
    ingest_per_hour: int | None = None,
) -> Usage:
    """Change the given overrides (``None``: leave as is; ``UNSET``: back to the default)."""
    changes = {"max_bytes": max_bytes, "max_media": max_media, "ingest_per_hour": ingest_per_hour}
    for name, value in changes.items():
        if value is not None and value != UNSET and not 0 <= value <= MAX_LIMIT:
            raise BadRequest(f"{name} must be from 0 (no limit) to {MAX_LIMIT}.", code=20001)
    with rt.tx() as session:
        if session.get(Account, account_sid) is None:
            raise NotFound(f"/2010-04-01/Accounts/{account_sid}.json")
        row = session.get(AccountQuota, account_sid, with_for_update=True)
        if row is None:
            row = AccountQuota(account_sid=account_sid)
            session.add(row)
        for name, value in changes.items():
            if value is not None:
                setattr(row, name, None if value == UNSET else value)
    return usage(rt, account_sid)


def totals(rt: Runtime) -> tuple[int, int, dict[str, int]]:
    """For the scrape: bytes and media stored by all accounts, and how many
    accounts are at their stored-bytes / stored-media limit (no per-account
    labels: see observability/metrics.py)."""
    s = rt.settings
    u, q = AccountUsage.__table__.c, AccountQuota.__table__.c
    max_bytes = func.coalesce(q.max_bytes, s.quota_max_bytes)
    max_media = func.coalesce(q.max_media, s.quota_max_media)
    stmt = select(
        func.coalesce(func.sum(u.bytes_stored), 0),
        func.coalesce(func.sum(u.media_count), 0),
        func.count().filter(max_bytes > 0, u.bytes_stored >= max_bytes),
        func.count().filter(max_media > 0, u.media_count >= max_media),
    ).select_from(AccountUsage.__table__.outerjoin(AccountQuota.__table__, q.account_sid == u.account_sid))
    with rt.sessions() as session:
        stored, count, full_bytes, full_media = session.execute(stmt).one()
    return int(stored), int(count), {"bytes": int(full_bytes), "media": int(full_media)}


@metrics.scrape_source
def quota_metrics(rt: Runtime) -> Iterator[Metric]:
    """Usage and limits from the database (exact across processes); totals and
    counts of accounts at a limit, since a sid is never a label. Per-account
    figures: ``mediagate accounts quota ACxxx`` and the console dashboard."""
    stored, count, full = totals(rt)
    usage = GaugeMetricFamily(
        "mediagate_quota_usage", "What all accounts store now, by quota (bytes, media).", labels=["quota"]
    )
    usage.add_metric(["bytes"], stored)
    usage.add_metric(["media"], count)
    yield usage
    s = rt.settings
    limit = GaugeMetricFamily(
        "mediagate_quota_default_limit",
        "The deployment's default limit per account, by quota (0 = none; see mediagate accounts quota).",
        labels=["quota"],
    )
    limit.add_metric(["bytes"], s.quota_max_bytes)
    limit.add_metric(["media"], s.quota_max_media)
    limit.add_metric(["ingest_per_hour"], s.quota_ingest_per_hour)
    yield limit
    at_limit = GaugeMetricFamily(
        "mediagate_quota_accounts_at_limit",
        "Accounts whose stored bytes or media have reached their limit, by quota.",
        labels=["quota"],
    )
    for kind, n in full.items():
        at_limit.add_metric([kind], n)
    yield at_limit
