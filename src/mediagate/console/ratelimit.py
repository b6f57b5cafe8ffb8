"""Sign-in rate limits, counted with the ``limits`` library.

Two buckets of *failed* sign-ins, in a moving window of 15 minutes:

* per (Account/key SID, client IP): 10. Only that pair waits: a victim
  signing in from elsewhere is not locked out by someone else's failures.
* per client IP: 50, across SIDs. Stops one client spraying many SIDs.

There is deliberately no bucket per SID alone: it would let anyone lock an
account out of the console by naming its SID, and it buys nothing against
guessing (auth tokens have 128 random bits, key secrets 192).

Counters live in memory (per process) unless ``MEDIAGATE_REDIS_URL`` is set;
then every process shares them in Redis, under ``MEDIAGATE_REDIS_KEY_PREFIX``.
The client IP is the peer's, or what a trusted proxy says (``mediagate.core.proxies``).
A Redis that does not answer within ``MEDIAGATE_REDIS_TIMEOUT`` is an outage:
the sign-in page fails closed ("try again later") within seconds.
"""

from __future__ import annotations

import time

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from mediagate.core import redis_clients

PER_PAIR: RateLimitItem = RateLimitItemPerMinute(10, 15)
PER_IP: RateLimitItem = RateLimitItemPerMinute(50, 15)


class LoginLimiter:
    def __init__(
        self,
        redis_url: str = "",
        key_prefix: str = "mediagate",
        redis_timeout: float = redis_clients.DEFAULT_TIMEOUT,
    ) -> None:
        storage: Storage
        if redis_url:
            # A Redis outage or timeout surfaces as limits.errors.StorageError,
            # which the sign-in page turns into "try again later" (fail closed).
            storage = redis_clients.rate_limit_storage(redis_url, redis_timeout, f"{key_prefix}:login")
        else:
            storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(storage)

    @staticmethod
    def _buckets(ip: str, user: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        who = user.strip().upper()[:64]  # SIDs are case-insensitive hex; bound the key
        return [(PER_PAIR, ("pair", who, ip)), (PER_IP, ("ip", ip))]

    def retry_after(self, ip: str, user: str) -> int:
        """Seconds until ``user`` may try again from ``ip``; 0 when allowed now."""
        waits = [
            self._limiter.get_window_stats(item, *ids).reset_time - time.time()
            for item, ids in self._buckets(ip, user)
            if not self._limiter.test(item, *ids)
        ]
        return int(max(waits)) + 1 if waits else 0

    def failed(self, ip: str, user: str) -> None:
        for item, ids in self._buckets(ip, user):
            self._limiter.hit(item, *ids)

    def succeeded(self, ip: str, user: str) -> None:
        # The right secret from this client: forget this pair's failures (the
        # per-IP count stays, so a sprayer cannot reset it with its own account).
        self._limiter.clear(PER_PAIR, "pair", user.strip().upper()[:64], ip)
