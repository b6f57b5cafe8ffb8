"""Liveness and readiness.

``/healthz`` says the process answers and touches nothing else: a database
outage must not get every process killed and restarted.

``/readyz`` says whether *this* process can serve, so that a load balancer
takes out the processes that cannot and keeps the others. Its checks are
this process's own: its database connection, free space on the volumes it
writes to (the media folder of a local store, SQLite's folder) against
``MEDIAGATE_READINESS_MIN_FREE_BYTES``, and a local store's write. What every
process shares (Redis, an S3 store) is checked too but never makes
``/readyz`` fail: an outage there is the same for every process, and failing
them all would drain the whole fleet while most requests still worked (with
Redis down everything but creates with MediaUrl does). Their results go to
``mediagate_dependency_checks{dependency,result}`` on every probe and to
``/readyz?verbose=1``, which waits for them (docs/operations.md).

Each check runs in its own single thread, off the event loop, and is
abandoned after ``MEDIAGATE_READINESS_TIMEOUT`` seconds. A check still stuck
from an earlier probe is reported failing without starting another, so a
hung database costs at most one thread per part, however often the probe runs.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from mediagate.core import redis_clients
from mediagate.observability import metrics

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

# A reserved key no sid generator produces (sids are random hex): the storage
# check writes, stats and deletes it, which exercises the same permissions
# and paths as storing media, on any backend.
PROBE_KEY = "AC" + "0" * 32 + "/ME" + "0" * 32


class LowDiskSpace(OSError):
    """A volume this process writes to has less free space than the threshold."""


class Check:
    def __init__(self, name: str, probe: Callable[[], None], *, shared: bool = False) -> None:
        self.name = name
        self.shared = shared  # a dependency every process shares: reported, never "not ready"
        self._probe = probe
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"readyz-{name}")
        self._running: Future[None] | None = None
        self._lock = threading.Lock()

    def _start(self) -> Future[None] | None:
        """The probe's future, or ``None`` while an earlier one is still running."""
        with self._lock:
            if self._running is not None and not self._running.done():
                return None
            future = self._running = self._pool.submit(self._probe)
        if self.shared:
            future.add_done_callback(self._count)
        return future

    def _count(self, future: Future[None]) -> None:
        result = "failed" if future.cancelled() or future.exception() is not None else "ok"
        metrics.DEPENDENCY_CHECKS.labels(self.name, result).inc()

    def refresh(self) -> None:
        """Run the probe without waiting for it (its result lands in the metrics)."""
        self._start()

    async def run(self, timeout: float) -> str:
        """``"ok"``, ``"timeout"``, ``"busy"`` or the error's class name (never its
        message: a driver's message may hold a host name or a user)."""
        future = self._start()
        if future is None:
            return "busy"
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)
        except TimeoutError:
            return "timeout"
        except Exception as exc:
            return type(exc).__name__
        return "ok"

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def written_volumes(rt: Runtime) -> list[Path]:
    """The folders whose volumes this process's writes need: the local store's
    media folder and SQLite's database folder (an S3 store and a database
    server write elsewhere, and are no one process's own)."""
    found = []
    if not rt.settings.uses_s3:
        found.append(rt.settings.media_dir)
    url = make_url(rt.settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        found.append(Path(url.database).parent)
    return found


class Readiness:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._timeout = rt.settings.readiness_timeout
        self._min_free = rt.settings.readiness_min_free_bytes
        self._volumes = written_volumes(rt)
        # The local disk is this host's: its write is the process's own. An
        # object store is every process's, so it is reported, never "not ready".
        self.checks = [
            Check("database", self._database),
            Check("disk", self._disk),
            Check("storage", self._storage, shared=rt.settings.uses_s3),
        ]
        self._redis: Any = None
        if rt.settings.redis_url:
            # The check's own deadline bounds the ping too, so its thread is not
            # left behind holding a socket to a frozen Redis after the check gave up.
            self._redis = redis_clients.client(rt.settings.redis_url, self._timeout)
            self.checks.append(Check("redis", self._redis_ping, shared=True))

    def _database(self) -> None:
        with self._rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def _disk(self) -> None:
        if not self._min_free:
            return
        for folder in self._volumes:
            st = os.statvfs(folder)
            if st.f_bavail * st.f_frsize < self._min_free:
                raise LowDiskSpace(folder.name)

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

    def is_shared(self, name: str) -> bool:
        return any(c.shared for c in self.checks if c.name == name)

    async def ready(self) -> dict[str, str]:
        """This process's own checks (what ``/readyz`` answers by). The shared
        ones are started and not waited for: their results reach the metrics."""
        for check in self.checks:
            if check.shared:
                check.refresh()
        own = [c for c in self.checks if not c.shared]
        results = await asyncio.gather(*(c.run(self._timeout) for c in own))
        return {c.name: r for c, r in zip(own, results, strict=True)}

    async def report(self) -> dict[str, str]:
        """Every check, own and shared, waited for (``/readyz?verbose=1``)."""
        results = await asyncio.gather(*(c.run(self._timeout) for c in self.checks))
        return {c.name: r for c, r in zip(self.checks, results, strict=True)}

    def close(self) -> None:
        for check in self.checks:
            check.close()
        if self._redis is not None:
            self._redis.close()
