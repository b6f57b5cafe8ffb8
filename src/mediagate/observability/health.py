"""Liveness and readiness.

``/healthz`` says the process answers and touches nothing else: a database
outage must not get every process killed and restarted. ``/readyz`` checks
what a request needs (the database, the store, Redis when configured) so a
load balancer can take a process out of rotation.

Each check runs in its own single thread, off the event loop, and is
abandoned after ``MEDIAGATE_READINESS_TIMEOUT`` seconds. A check still stuck
from an earlier probe is reported failing without starting another, so a
hung database costs at most one thread per part, however often the probe runs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from mediagate.core import redis_clients

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

# A reserved key no sid generator produces (sids are random hex): the storage
# check writes, stats and deletes it, which exercises the same permissions
# and paths as storing media, on any backend.
PROBE_KEY = "AC" + "0" * 32 + "/ME" + "0" * 32


class Check:
    def __init__(self, name: str, probe: Callable[[], None]) -> None:
        self.name = name
        self._probe = probe
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"readyz-{name}")
        self._running: Future[None] | None = None
        self._lock = threading.Lock()

    async def run(self, timeout: float) -> str:
        """``"ok"``, ``"timeout"``, ``"busy"`` or the error's class name (never its
        message: a driver's message may hold a host name or a user)."""
        with self._lock:
            if self._running is not None and not self._running.done():
                return "busy"
            future = self._running = self._pool.submit(self._probe)
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)
        except TimeoutError:
            return "timeout"
        except Exception as exc:
            return type(exc).__name__
        return "ok"

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class Readiness:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._timeout = rt.settings.readiness_timeout
        self.checks = [Check("database", self._database), Check("storage", self._storage)]
        self._redis: Any = None
        if rt.settings.redis_url:
            # The check's own deadline bounds the ping too, so its thread is not
            # left behind holding a socket to a frozen Redis after the check gave up.
            self._redis = redis_clients.client(rt.settings.redis_url, self._timeout)
            self.checks.append(Check("redis", self._redis_ping))

    def _database(self) -> None:
        with self._rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def _storage(self) -> None:
        store = self._rt.store
        store.put(PROBE_KEY, [b"ready"])
        try:
            store.stat(PROBE_KEY)
        finally:
            store.delete(PROBE_KEY)

    def _redis_ping(self) -> None:
        if not self._redis.ping():
            raise ConnectionError("no PONG")

    async def report(self) -> dict[str, str]:
        results = await asyncio.gather(*(c.run(self._timeout) for c in self.checks))
        return {c.name: r for c, r in zip(self.checks, results, strict=True)}

    def close(self) -> None:
        for check in self.checks:
            check.close()
        if self._redis is not None:
            self._redis.close()
