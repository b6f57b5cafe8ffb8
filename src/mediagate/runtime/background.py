"""The background work a server process runs while it serves (``MEDIAGATE_ROLE``
``all`` or ``worker``; an ``api`` process runs none of it):

* webhook delivery (``webhooks.py``), the MediaUrl fetches of outbound
  messages (``messaging/media_fetches.py``) and the carrier hand-off outbox
  (``messaging/outbox.py``). All three keep their work in the database, so stopping
  or killing a process loses nothing; another process, or this one restarted,
  picks it up once the dead process's claims expire;
* the signing-key refresh (so that no request waits for the database to learn
  about keys);
* the scheduled garbage collection of orphaned objects and interrupted writes.
  Every server process runs its own; that is safe because the collector only
  removes what is older than ``MEDIAGATE_GC_GRACE`` (longer than any ingest can
  take), so it never races an in-flight write or a row that is about to commit;
* retention (``retention/rules.py``), and the flush of the in-memory access
  records it reads (``media/access.py``).
* the access audit's flusher (queued events to the database; stopped last so
  that it writes what the other workers' final requests recorded) and its
  retention job.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from mediagate import carriers, webhooks
from mediagate.cluster import processes
from mediagate.core import clock as clocks
from mediagate.db.polling import PollingWorker
from mediagate.media import access_audit, revocation
from mediagate.messaging import media_fetches, outbox

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from mediagate.runtime.context import Runtime

log = logging.getLogger("mediagate.background")


class GarbageCollector(PollingWorker):
    """Runs ``maintenance.collect_garbage`` at start and then every ``interval`` seconds."""

    name = "media-gc"

    def __init__(self, rt: Runtime, interval: float, grace: float) -> None:
        super().__init__(interval)
        self._rt = rt
        self._grace = grace

    def run_once(self) -> int:
        from mediagate.media import maintenance

        removed = maintenance.collect_garbage(self._rt, grace_seconds=self._grace)
        if removed:
            log.info("gc removed %d orphaned objects or interrupted writes", removed)
        return removed


class StartupRefused(RuntimeError):
    """This process must not run beside the live ones (``processes.conflict``)."""


class RetentionWorker(PollingWorker):
    """Applies the accounts' retention rules (``retention/rules.py``) every ``interval`` seconds.

    Every process may run one: batches commit on their own, and a media two
    passes race for is deleted (and counted) by one of them only."""

    name = "retention"

    def __init__(self, rt: Runtime, interval: float) -> None:
        super().__init__(interval)
        self._rt = rt

    def run_once(self) -> int:
        from mediagate.retention import rules as retention

        deleted = 0
        for step in retention.apply(self._rt, count=False):
            deleted += len(step.media)
            if self.stopping:
                break  # the rest is found again by the next pass (in this or another process)
        if deleted:
            log.info("retention deleted %d media", deleted)
        return deleted


class AccessFlusher(PollingWorker):
    """Writes the fetches recorded in memory (``media/access.py``) every
    ``interval`` seconds, at once when the buffer fills, and at shutdown."""

    name = "access-flush"

    def __init__(self, rt: Runtime, interval: float) -> None:
        super().__init__(interval)
        self._rt = rt

    def run_once(self) -> int:
        return self._rt.access.flush(self._rt)

    def wait(self) -> None:
        # Elapsed process time: how often to write, whatever the runtime's clock says.
        deadline = time.monotonic() + self._interval
        while not self.stopping and not self._rt.access.full.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._rt.access.full.wait(min(left, 0.25))

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        try:
            self.run_once()
        except Exception:
            log.warning("access records not written at shutdown: %d media", self._rt.access.pending())


def lifespan(rt: Runtime) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Starlette lifespan that runs the workers for as long as the app serves.

    ``MEDIAGATE_ROLE`` picks them: ``all`` and ``worker`` run webhook delivery,
    the carrier outbox and the gc; ``api`` runs none of them (its requests only
    queue work in the database, which the worker processes pick up). Every role
    keeps the signing-key refresh and registers the process (``processes``)."""

    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        me = processes.register(rt)
        # Also caught here, not only by `mediagate serve`: two processes started
        # at once, or an ASGI server started with several workers by hand.
        problem = processes.conflict(rt, me=me)
        if problem:
            processes.unregister(rt, me)
            log.error("refusing to start: %s", problem)
            raise StartupRefused(problem)
        heartbeat = processes.Heartbeat(rt, me)
        heartbeat.start()
        revocation.record_delivery(rt)  # presign delivery: every revocation then moves objects
        rt.signer.start()
        rt.invalidation.start()  # other processes' changes (with MEDIAGATE_REDIS_URL)
        if rt.coherence is not None:
            # Every change, whatever Redis does: memory answers need its word from now on.
            rt.coherence.start()
        stops: list[Callable[[], None]] = []
        if rt.settings.role in ("all", "api"):
            # Fetches recorded by this process's request handlers (retention's last access).
            access = AccessFlusher(rt, rt.settings.access_flush_interval)
            access.start()
            stops.append(access.stop)
            # The access audit's queue is filled by this process's requests; its
            # flusher stops last, after the final requests have recorded.
            audit_flush = access_audit.Flusher(rt, rt.settings.access_audit_flush_interval)
            audit_flush.start()
            stops.append(audit_flush.stop)
        if rt.settings.role in ("all", "worker"):
            if rt.settings.gc_interval > 0:
                gc = GarbageCollector(rt, rt.settings.gc_interval, rt.settings.gc_grace)
                gc.start()
                stops.insert(0, gc.stop)
            if rt.settings.retention_interval > 0:
                retention = RetentionWorker(rt, rt.settings.retention_interval)
                retention.start()
                stops.insert(0, retention.stop)
                # A moved clock (tests, the test mode) may make media due now.
                stops.insert(0, clocks.on_advance(rt.clock, retention.wake))
            audit_retention = access_audit.Retention(rt)
            audit_retention.start()
            stops.insert(0, audit_retention.stop)
            stops.insert(0, clocks.on_advance(rt.clock, audit_retention.wake))
            deliveries = webhooks.Worker(rt)  # wakes itself when the clock moves
            handoffs = outbox.Worker(rt, carriers.dispatch)
            # MediaUrl fetches of outbound messages; a stored message goes to its carrier at once.
            fetches = media_fetches.Worker(rt, carriers.dispatch)
            deliveries.start()
            handoffs.start()
            fetches.start()
            stops[:0] = [
                clocks.on_advance(rt.clock, fetches.wake),
                fetches.stop,
                clocks.on_advance(rt.clock, handoffs.wake),
                handoffs.stop,
                deliveries.stop,
            ]
        try:
            yield
        finally:
            if rt.coherence is not None:
                stops.append(rt.coherence.stop)
            for stop in (*stops, rt.invalidation.stop, rt.signer.stop, heartbeat.stop):
                with contextlib.suppress(Exception):
                    stop()
            with contextlib.suppress(Exception):
                processes.unregister(rt, heartbeat.ident)

    return run
