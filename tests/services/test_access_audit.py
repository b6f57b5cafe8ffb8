"""The access audit's queue, flusher and retention, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from mediagate.context import Runtime
from mediagate.db.models import MediaAccessEvent
from mediagate.observability import metrics
from mediagate.services import access_audit
from mediagate.services.access_audit import AccessAudit, Event
from mediagate.timefmt import utcnow

AC = "AC" + "1" * 32
ME = "ME" + "2" * 32


def _record(q: AccessAudit, n: int = 1) -> None:
    for _ in range(n):
        q.record("api", AC, ME, "GET", ("auth_token", AC), True, "signed", "127.0.0.1")


def _dropped() -> float:
    return metrics.REGISTRY.get_sample_value("mediagate_access_audit_dropped_total") or 0.0


def test_a_full_queue_drops_counts_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    q = AccessAudit(max_events=3)
    before = _dropped()
    with caplog.at_level(logging.WARNING, logger="mediagate.access_audit"):
        _record(q, 5)
    assert len(q) == 3
    assert _dropped() - before == 2
    warnings = [r for r in caplog.records if r.name == "mediagate.access_audit"]
    assert len(warnings) == 1 and "full" in warnings[0].getMessage()


def test_a_failed_write_puts_the_batch_back_in_order() -> None:
    q = AccessAudit(max_events=4)
    _record(q, 3)
    batch = q.take(2)
    assert len(q) == 1
    assert q.put_back(batch) == 0
    assert q.take(10)[:2] == batch


def test_flush_writes_everything_and_purge_keeps_the_recent(runtime: Runtime) -> None:
    _record(runtime.access_audit, access_audit.BATCH + 7)  # more than one INSERT batch
    assert access_audit.flush(runtime) == access_audit.BATCH + 7
    assert len(runtime.access_audit) == 0
    old = Event(
        utcnow() - timedelta(days=40), "secure", AC, ME, "GET", "signed_url", "KI1", False, "revoked", None
    )
    access_audit.write(runtime, [old])
    with runtime.sessions() as session:
        row = session.scalars(select(MediaAccessEvent).where(MediaAccessEvent.reason == "revoked")).one()
        assert row.sid.startswith("AE") and row.credential_sid == "KI1" and row.allowed is False

    assert access_audit.purge(runtime, 0) == 0  # 0 = keep forever
    assert access_audit.purge(runtime, 30) == 1
    with runtime.sessions() as session:
        left = session.scalar(select(func.count()).select_from(MediaAccessEvent))
    assert left == access_audit.BATCH + 7


def test_a_failed_flush_keeps_the_events_for_the_next_pass(runtime: Runtime) -> None:
    _record(runtime.access_audit, 3)
    table = MediaAccessEvent.__table__
    table.drop(runtime.engine)  # a real database error for the INSERT, on either database
    try:
        with pytest.raises(DBAPIError):
            access_audit.flush(runtime)
    finally:
        table.create(runtime.engine)
    assert len(runtime.access_audit) == 3
    assert access_audit.flush(runtime) == 3
