"""Concurrency slots counted across every process, in Redis: a semaphore with leases.

``limits`` (used for the sign-in rate limits) counts events in a window; what
the MediaUrl fetch share and the webhook sender cap need is "at most N *at
once*", which neither ``limits`` nor redis-py provides (redis-py has a lock,
not a counting semaphore), and the Redis semaphore packages on PyPI are
unmaintained. So this is the standard sorted-set semaphore, in two short Lua
scripts that run atomically in Redis:

* a bucket is a sorted set of holder tokens scored by the time their lease
  ends (Redis's own clock, so hosts with skewed clocks agree; not the runtime's
  injected clock either: a slot is held by work running now, and moving a test
  clock must not free the slot of a send still in flight);
* acquire drops expired holders, then adds one if fewer than the limit remain;
* every holder's lease is renewed every ``lease / 3`` by one thread per
  process, so a slot is held for as long as its work runs, and the slots of a
  process that was killed free themselves when their leases end.

A Redis outage, or a Redis that does not answer within the timeout, raises
``SharedStateUnavailable``; callers fail closed.
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Any

import redis

from mediagate.core import redis_clients

log = logging.getLogger("mediagate.shared_slots")

_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
redis.call('PEXPIRE', KEYS[1], lease)
return 1
"""

_RENEW = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local lease = tonumber(ARGV[2])
local renewed = redis.call('ZADD', KEYS[1], 'XX', 'CH', now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
return renewed
"""


class SharedStateUnavailable(Exception):
    """Redis did not answer; the shared count cannot be known."""


class SharedSlots:
    def __init__(
        self,
        redis_url: str,
        key_prefix: str,
        lease: float = 15.0,
        timeout: float = redis_clients.DEFAULT_TIMEOUT,
    ) -> None:
        # ``timeout`` bounds each call (twice it on a new connection), so a frozen
        # Redis refuses a fetch (503) or delays a webhook send instead of holding it.
        self._redis: Any = redis_clients.client(redis_url, timeout)
        self._prefix = f"{key_prefix}:slots:"
        self._lease_ms = int(lease * 1000)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._renew = self._redis.register_script(_RENEW)
        self._held: dict[str, str] = {}  # token -> bucket key
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def try_acquire(self, bucket: str, limit: int) -> str | None:
        """A holder token for one of ``bucket``'s ``limit`` slots, or ``None`` when all are held."""
        key, token = self._prefix + bucket, secrets.token_hex(12)
        try:
            got = self._acquire(keys=[key], args=[limit, token, self._lease_ms])
        except redis.RedisError as exc:
            raise SharedStateUnavailable(type(exc).__name__) from None
        if not got:
            return None
        with self._lock:
            self._held[token] = key
            if self._thread is None:
                self._thread = threading.Thread(target=self._renew_loop, name="shared-slots", daemon=True)
                self._thread.start()
        return token

    def release(self, token: str) -> None:
        with self._lock:
            key = self._held.pop(token, None)
        if key is None:
            return
        try:
            self._redis.zrem(key, token)
        except redis.RedisError as exc:
            # The lease ends on its own: the slot is only held a little longer.
            log.warning("could not release a shared slot (%s); its lease ends it", type(exc).__name__)

    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def count(self, bucket: str) -> int:
        """Holders of ``bucket`` whose lease has not ended (for tests and metrics)."""
        key = self._prefix + bucket
        now_s, now_us = self._redis.time()
        return int(self._redis.zcount(key, now_s * 1000 + now_us // 1000, "+inf"))

    def renew_all(self) -> None:
        with self._lock:
            held = list(self._held.items())
        for token, key in held:
            self._renew(keys=[key], args=[token, self._lease_ms])

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._lease_ms / 3000):
            try:
                self.renew_all()
            except redis.RedisError as exc:
                log.warning("could not renew shared slots (%s)", type(exc).__name__)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self._redis.close()
