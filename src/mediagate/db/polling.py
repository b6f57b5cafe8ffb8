"""One daemon thread that runs ``run_once`` every ``interval`` seconds until stopped.

The outbox worker and the scheduled gc share this loop (the webhook worker has
its own: it keeps sender slots busy rather than polling on a clock). A pass
that fails because the database is away logs one line, not a traceback per
poll for the length of the outage; any other failure logs its traceback.
The first pass runs at start: it is what picks up after a crash.
"""

from __future__ import annotations

import logging
import threading

from mediagate.db.failures import is_database_unavailable

log = logging.getLogger("mediagate.background")


class PollingWorker:
    name = "worker"

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._stop = threading.Event()
        # Set to end the current wait early: stopping, or the runtime's clock
        # moved forward (work may have become due: background.lifespan).
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        self._stop.clear()  # a worker may be started again after a stop (a second lifespan)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Run the next pass now instead of at the end of the interval."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:
                if is_database_unavailable(exc):
                    log.warning(
                        "%s skipped a pass: the database is unavailable (%s)", self.name, type(exc).__name__
                    )
                else:
                    log.exception("%s pass failed", self.name)
            self.wait()

    def wait(self) -> None:
        """Between two passes; a subclass may end the wait early (but must honour ``stopping``).
        The interval is elapsed process time, not the runtime clock's: a moved
        clock wakes the worker (``wake``) rather than shortening its sleep."""
        self._wake.wait(self._interval)
        self._wake.clear()
