"""The access audit's queue, flusher and retention, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from mediagate.core.paging import parse_page_request
from mediagate.core.timefmt import utcnow
from mediagate.db.models import MediaAccessEvent
from mediagate.media import access_audit
from mediagate.media.access_audit import AccessAudit, Event
from mediagate.observability import metrics
from mediagate.runtime.context import Runtime

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


def _accesses(runtime: Runtime) -> tuple[int, int]:
    """(rows, accesses they count)."""
    with runtime.sessions() as session:
        rows, total = session.execute(
            select(func.count(), func.coalesce(func.sum(MediaAccessEvent.count), 0))
        ).one()
    return int(rows), int(total)


def test_flush_writes_everything_and_purge_keeps_the_recent(runtime: Runtime) -> None:
    # Distinct accesses (one client address each), more than one write and one INSERT's worth.
    n = access_audit.BATCH + 7
    for i in range(n):
        runtime.access_audit.record(
            "api", AC, ME, "GET", ("auth_token", AC), True, "signed", f"10.0.{i // 250}.{i % 250}"
        )
    assert access_audit.flush(runtime) == n
    assert len(runtime.access_audit) == 0
    assert _accesses(runtime) == (n, n)
    old = Event(
        utcnow() - timedelta(days=40), "secure", AC, ME, "GET", "signed_url", "KI1", False, "revoked", None
    )
    access_audit.write(runtime, [old])
    with runtime.sessions() as session:
        row = session.scalars(select(MediaAccessEvent).where(MediaAccessEvent.reason == "revoked")).one()
        assert row.sid.startswith("AE") and row.credential_sid == "KI1" and row.allowed is False

    assert access_audit.purge(runtime, 0) == 0  # 0 = keep forever
    assert access_audit.purge(runtime, 30) == 1
    assert _accesses(runtime) == (n, n)


def _utc(when: datetime | None) -> datetime | None:
    # SQLite gives back naive UTC datetimes, PostgreSQL aware ones.
    return when if when is None or when.tzinfo else when.replace(tzinfo=UTC)


def _event(when: datetime, client: str = "127.0.0.1", reason: str = "signed") -> Event:
    return Event(when, "api", AC, ME, "GET", "auth_token", AC, reason == "signed", reason, client)


def test_identical_accesses_of_one_second_are_one_row_with_their_count(runtime: Runtime) -> None:
    base = datetime(2026, 12, 3, 9, 0, 0, 100_000, tzinfo=UTC)
    ms = timedelta(milliseconds=1)
    events = [
        *(_event(base + i * ms) for i in range(5)),  # five repeats in one second
        _event(base + 6 * ms, client="10.0.0.9"),  # another client
        _event(base + 7 * ms, reason="denied"),  # another answer
        _event(base + 900 * ms),  # the next second (09:00:01.000): a row of its own
        _event(base + 901 * ms),
    ]
    groups = access_audit.group(events)
    assert [(g.first.when, g.last, g.times) for g in groups] == [
        (base, base + 4 * ms, 5),
        (base + 6 * ms, base + 6 * ms, 1),
        (base + 7 * ms, base + 7 * ms, 1),
        (base + 900 * ms, base + 901 * ms, 2),
    ]
    access_audit.write(runtime, events)
    with runtime.sessions() as session:
        rows = session.scalars(select(MediaAccessEvent).order_by(MediaAccessEvent.sid)).all()
        got = [(r.client_ip, r.reason, r.count, _utc(r.date_created), _utc(r.date_updated)) for r in rows]
    assert got == [
        ("127.0.0.1", "signed", 5, base, base + 4 * ms),
        ("10.0.0.9", "signed", 1, base + 6 * ms, base + 6 * ms),
        ("127.0.0.1", "denied", 1, base + 7 * ms, base + 7 * ms),
        ("127.0.0.1", "signed", 2, base + 900 * ms, base + 901 * ms),
    ]


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


def test_a_row_from_before_counts_reads_as_one_access(runtime: Runtime) -> None:
    # Rows written before migration 0011 have no date_updated and the column default count.
    when = datetime(2026, 12, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    with runtime.tx() as session:
        session.add(
            MediaAccessEvent(
                sid="AE" + "0" * 32,
                date_created=when,
                host="api",
                account_sid=AC,
                media_sid=ME,
                method="GET",
                credential_kind="auth_token",
                credential_sid=AC,
                allowed=True,
                reason="signed",
                client_ip=None,
            )
        )
    found = access_audit.page(runtime, AC, {"MediaSid": ME}, parse_page_request({}))
    [record] = found.rows
    assert record.count == 1
    assert _utc(record.date_updated) == _utc(record.date_created) == when
