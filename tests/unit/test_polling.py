"""The shared background loop (outbox worker, scheduled gc): a pass that fails
because the database is away logs one warning, not a traceback per poll; any
other failure keeps its traceback; the loop goes on after both."""

from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy.exc import OperationalError

from mediagate.db.polling import PollingWorker


class _Failing(PollingWorker):
    name = "test-worker"

    def __init__(self, errors: list[Exception]) -> None:
        super().__init__(interval=0.01)
        self.errors = errors
        self.passes = 0
        self.done = threading.Event()

    def run_once(self) -> int:
        self.passes += 1
        if self.errors:
            raise self.errors.pop(0)
        self.done.set()
        return 0


def test_database_outage_is_one_line_and_a_bug_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    outage = OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))
    worker = _Failing([outage, RuntimeError("a bug")])
    with caplog.at_level(logging.WARNING, logger="mediagate.background"):
        worker.start()
        assert worker.done.wait(10), "the loop stopped after a failed pass"
        worker.stop()
    records = [r for r in caplog.records if r.name == "mediagate.background"]
    assert [(r.levelno, r.exc_info is not None) for r in records] == [
        (logging.WARNING, False),
        (logging.ERROR, True),
    ]
    assert "database is unavailable (OperationalError)" in records[0].getMessage()
    assert worker.passes >= 3
    assert worker.stopping


class _Counting(PollingWorker):
    name = "test-counting"

    def __init__(self) -> None:
        super().__init__(interval=3600)  # only a wake or a stop ends the wait
        self.passes = threading.Semaphore(0)

    def run_once(self) -> int:
        self.passes.release()
        return 0


def test_a_clock_step_wakes_a_waiting_worker_and_stop_ends_its_wait() -> None:
    from mediagate.core.clock import ManualClock, on_advance

    clock = ManualClock()
    worker = _Counting()
    on_advance(clock, worker.wake)  # what background.lifespan wires for retention and the outbox
    worker.start()
    try:
        assert worker.passes.acquire(timeout=10), "no first pass at start"
        assert not worker.passes.acquire(timeout=0.2)  # waiting out its hour
        clock.advance(60)
        assert worker.passes.acquire(timeout=10), "the clock step did not wake the worker"
    finally:
        worker.stop(timeout=10)
    assert worker._thread is not None and not worker._thread.is_alive()  # stop ended the hour's wait
