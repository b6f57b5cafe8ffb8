"""The background work every server process runs while it serves:

* webhook delivery (``services/webhooks.py``) and the carrier hand-off outbox
  (``services/outbox.py``). Both keep their work in the database, so stopping
  or killing a process loses nothing; another process, or this one restarted,
  picks it up once the dead process's claims expire;
* the signing-key refresh (so that no request waits for the database to learn
  about keys);
* the scheduled garbage collection of orphaned objects and interrupted writes.
  Every server process runs its own; that is safe because the collector only
  removes what is older than ``MEDIAGATE_GC_GRACE`` (longer than any ingest can
  take), so it never races an in-flight write or a row that is about to commit;
* the access audit's flusher (queued events to the database; stopped last so
  that it writes what the other workers' final requests recorded) and its
  retention job.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from mediagate import carriers
from mediagate.polling import PollingWorker
from mediagate.services import access_audit, outbox, webhooks

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from mediagate.context import Runtime

log = logging.getLogger("mediagate.background")


class GarbageCollector(PollingWorker):
    """Runs ``maintenance.collect_garbage`` at start and then every ``interval`` seconds."""

    name = "media-gc"

    def __init__(self, rt: Runtime, interval: float, grace: float) -> None:
        super().__init__(interval)
        self._rt = rt
        self._grace = grace

    def run_once(self) -> int:
        from mediagate.services import maintenance

        removed = maintenance.collect_garbage(self._rt, grace_seconds=self._grace)
        if removed:
            log.info("gc removed %d orphaned objects or interrupted writes", removed)
        return removed


def lifespan(rt: Runtime) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Starlette lifespan that runs the workers for as long as the app serves."""

    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        rt.signer.start()
        gc = None
        if rt.settings.gc_interval > 0:
            gc = GarbageCollector(rt, rt.settings.gc_interval, rt.settings.gc_grace)
            gc.start()
        deliveries = webhooks.Worker(rt)
        handoffs = outbox.Worker(rt, carriers.dispatch)
        audit_flush = access_audit.Flusher(rt, rt.settings.access_audit_flush_interval)
        audit_retention = access_audit.Retention(rt)
        deliveries.start()
        handoffs.start()
        audit_flush.start()
        audit_retention.start()
        try:
            yield
        finally:
            workers = (handoffs.stop, deliveries.stop, *([gc.stop] if gc else []), audit_retention.stop)
            for stop in (*workers, audit_flush.stop, rt.signer.stop):
                with contextlib.suppress(Exception):
                    stop()

    return run
