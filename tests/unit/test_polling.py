"""The shared background loop (outbox worker, scheduled gc): a pass that fails
because the database is away logs one warning, not a traceback per poll; any
other failure keeps its traceback; the loop goes on after both."""

from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy.exc import OperationalError

from mediagate.polling import PollingWorker


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
