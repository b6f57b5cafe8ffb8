"""The rules that read the runtime's clock, on SQLite and PostgreSQL, with a
``ManualClock`` moved instead of waiting: resource dates, retention ages,
webhook retries and claims, outbox claims, the access audit's retention,
revocation cut-offs and the process registry."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from mediagate import webhooks
from mediagate.accounts import accounts
from mediagate.cluster import processes
from mediagate.core.clock import ManualClock
from mediagate.core.timefmt import aware
from mediagate.db.models import AuditEvent, Media, WebhookDelivery
from mediagate.media import access_audit, media, revocation
from mediagate.messaging import messages, outbox
from mediagate.retention import rules as retention
from mediagate.runtime.context import Runtime
from tests.conftest import MakeRuntime
from tests.support.receiver import running_receiver

START = datetime(2031, 3, 1, 9, 0, tzinfo=UTC)  # far from the wall clock: a wall-clock read shows
DAY = 86400.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def rt(make_runtime: MakeRuntime, clock: ManualClock) -> Runtime:
    return make_runtime(clock=clock)


def _message(rt: Runtime, account_sid: str) -> str:
    new = messages.NewMessage("+15550001111", "+15550002222", "hi", [])
    return messages.create(rt, account_sid, new, actor="t").sid


def _media(rt: Runtime, account_sid: str, n: int = 1) -> list[str]:
    msg = _message(rt, account_sid)
    return [media.add(rt, account_sid, msg, "image/png", [b"\x89PNG" + bytes([i])]).sid for i in range(n)]


def _left(rt: Runtime, sids: list[str]) -> set[str]:
    with rt.sessions() as session:
        return set(session.scalars(select(Media.sid).where(Media.sid.in_(sids))))


def _deleted(rt: Runtime) -> list[str]:
    return sorted(c.media_sid for step in retention.apply(rt) for c in step.media)


def test_new_resources_carry_the_clocks_date_and_the_moved_one_after_a_step(
    rt: Runtime, clock: ManualClock
) -> None:
    account = accounts.create(rt, "dates").account
    assert aware(account.date_created) == START
    (first,) = _media(rt, account.sid)
    clock.advance(DAY)
    (second,) = _media(rt, account.sid)
    with rt.tx() as session:
        stmt = select(Media.sid, Media.date_created).where(Media.sid.in_([first, second]))
        dates = {sid: when for sid, when in session.execute(stmt)}
        # A row the code does not stamp itself: the column default reads the clock too.
        session.add(AuditEvent(account_sid=account.sid, actor="t", action="test.default"))
    assert aware(dates[first]) == START
    assert aware(dates[second]) == START + timedelta(days=1)
    with rt.sessions() as session:
        stamped = session.scalar(select(AuditEvent.date_created).where(AuditEvent.action == "test.default"))
    assert stamped is not None and aware(stamped) == START + timedelta(days=1)


def test_a_creation_rule_applies_once_the_clock_passes_the_age(rt: Runtime, clock: ManualClock) -> None:
    account = accounts.create(rt, "ages").account.sid
    sids = _media(rt, account, 2)
    retention.set_rule(rt, account, retention.Change(days_after_creation=1), actor="t", via="test")
    assert _deleted(rt) == []
    clock.advance(DAY)  # exactly one day old: not older than a day yet
    assert _deleted(rt) == []
    clock.advance(1)
    assert _deleted(rt) == sorted(sids)
    assert _left(rt, sids) == set()


def test_a_last_access_rule_measures_from_the_access_on_the_clock(rt: Runtime, clock: ManualClock) -> None:
    account = accounts.create(rt, "access").account.sid
    fetched, idle = _media(rt, account, 2)
    retention.set_rule(rt, account, retention.Change(days_after_last_access=2), actor="t", via="test")
    clock.advance(DAY)
    rt.access.record(account, fetched, downloaded=False)  # one day after creation
    assert rt.access.flush(rt) == 1
    clock.advance(DAY + 1)  # the idle one is two days old, the fetched one one day since its access
    assert _deleted(rt) == [idle]
    clock.advance(DAY)
    assert _deleted(rt) == [fetched]


def _delivery(rt: Runtime) -> str:
    account = accounts.create(rt, "hooks").account.sid
    with rt.tx() as session:
        row = webhooks.enqueue(
            session, rt, account_sid=account, message_sid=None, kind="incoming",
            url="http://127.0.0.1:9/never", method="POST", params=[("Body", "hi")],
        )  # fmt: skip
        return row.sid


def _due(rt: Runtime) -> list[str]:
    return [sid for sid, _ in webhooks.due(rt)]


def test_a_webhook_retry_becomes_due_when_the_clock_reaches_its_backoff(
    rt: Runtime, clock: ManualClock
) -> None:
    sid = _delivery(rt)
    assert _due(rt) == [sid]
    failed = webhooks.Outcome(503, "HTTP 503")
    for attempt, wait in ((1, 1.0), (2, 2.0), (3, 4.0)):  # webhook_retry_base 1 s, doubling
        assert webhooks.claim(rt, sid)
        webhooks.record_attempt(rt, sid, failed, 5)
        assert webhooks.backoff(rt, attempt) == wait
        clock.advance(wait - 0.5)
        assert _due(rt) == []
        clock.advance(0.5)
        assert _due(rt) == [sid]
    with rt.sessions() as session:
        row = session.get(WebhookDelivery, sid)
        assert row is not None and row.attempts == 3
        assert aware(row.next_attempt_at) == START + timedelta(seconds=7)


def test_a_webhook_claim_expires_when_the_clock_passes_its_lease(rt: Runtime, clock: ManualClock) -> None:
    sid = _delivery(rt)
    assert webhooks.claim(rt, sid)  # a process claims it and dies
    assert not webhooks.claim(rt, sid) and _due(rt) == []
    clock.advance(rt.settings.webhook_lease)  # the lease's last instant
    assert not webhooks.claim(rt, sid)
    clock.advance(0.001)
    assert _due(rt) == [sid]
    assert webhooks.claim(rt, sid)


def test_renewing_a_webhook_claim_moves_its_end_from_the_clocks_now(rt: Runtime, clock: ManualClock) -> None:
    sid = _delivery(rt)
    assert webhooks.claim(rt, sid)
    clock.advance(rt.settings.webhook_lease - 1)
    webhooks.extend_leases(rt, [sid])  # the worker's heartbeat
    clock.advance(2)  # past the first claim's end, inside the renewed one
    assert not webhooks.claim(rt, sid)
    clock.advance(rt.settings.webhook_lease)
    assert webhooks.claim(rt, sid)


def test_a_retry_after_a_token_rotation_is_signed_with_the_new_token(rt: Runtime, clock: ManualClock) -> None:
    """The rotation lands between the attempts because the retry waits for the
    clock, not for a real backoff the test has to race."""
    new = accounts.create(rt, "rotation")
    with running_receiver() as receiver:
        hook = receiver.url("/rotate")
        receiver.answer("/rotate", 500)
        with rt.tx() as session:
            sid = webhooks.enqueue(
                session, rt, account_sid=new.account.sid, message_sid=None, kind="incoming",
                url=hook, method="POST", params=[("Body", "hi")],
            ).sid  # fmt: skip
        sender = webhooks.Sender(rt)
        try:
            first = webhooks.attempt(rt, sender, sid)
            assert first is not None and first.status_code == 500
            accounts.create_secondary_token(rt, new.account.sid, actor="t")
            rotated = accounts.promote_secondary_token(rt, new.account.sid, actor="t").token
            assert webhooks.attempt(rt, sender, sid) is None  # not due before the clock moves
            clock.advance(webhooks.backoff(rt, 1))
            second = webhooks.attempt(rt, sender, sid)
            assert second is not None and second.ok
        finally:
            sender.close()
        hits = receiver.received("/rotate")
    assert len(hits) == 2
    old, now = (RequestValidator(token) for token in (new.auth_token, rotated))
    assert old.validate(hook, hits[0].form, hits[0].headers["X-Twilio-Signature"])
    assert now.validate(hook, hits[1].form, hits[1].headers["X-Twilio-Signature"])
    assert not old.validate(hook, hits[1].form, hits[1].headers["X-Twilio-Signature"])
    assert hits[0].headers["I-Twilio-Idempotency-Token"] == hits[1].headers["I-Twilio-Idempotency-Token"]


def test_the_webhook_worker_sends_a_retry_as_soon_as_the_clock_makes_it_due(
    rt: Runtime, clock: ManualClock
) -> None:
    """Neither its poll (an hour here) nor its lease renewal (every 100 s) wakes
    the worker in time: only the clock step can."""
    slow = Runtime(**{**rt.__dict__, "settings": rt.settings.model_copy(update={"webhook_lease": 300.0})})
    account = accounts.create(slow, "worker").account.sid
    with running_receiver() as receiver:
        receiver.answer("/w", 500)
        with slow.tx() as session:
            sid = webhooks.enqueue(
                session, slow, account_sid=account, message_sid=None, kind="incoming",
                url=receiver.url("/w"), method="POST", params=[("Body", "hi")],
            ).sid  # fmt: skip
        worker = webhooks.Worker(slow, poll_interval=3600)
        worker.start()
        try:
            (first,) = receiver.wait_for("/w", 1, timeout=30)
            assert first.status == 500
            deadline = time.monotonic() + 30
            while _attempts(slow, sid) < 1:  # the failed attempt is recorded after the answer
                assert time.monotonic() < deadline, "the first attempt was never recorded"
                time.sleep(0.02)
            clock.advance(webhooks.backoff(slow, 1))
            _, second = receiver.wait_for("/w", 2, timeout=30)
        finally:
            worker.stop()
    assert second.status == 200
    assert first.headers["I-Twilio-Idempotency-Token"] == second.headers["I-Twilio-Idempotency-Token"]


def _attempts(rt: Runtime, sid: str) -> int:
    with rt.sessions() as session:
        row = session.get(WebhookDelivery, sid)
        return 0 if row is None else row.attempts


def test_an_outbox_claim_expires_when_the_clock_passes_its_lease(rt: Runtime, clock: ManualClock) -> None:
    account = accounts.create(rt, "outbox").account.sid
    sid = _message(rt, account)
    assert outbox.due(rt) == [sid]
    assert outbox.claim(rt, sid) == 1  # the dispatching process dies
    assert outbox.due(rt) == []
    clock.advance(rt.settings.outbox_lease)
    assert outbox.due(rt) == []
    clock.advance(0.001)
    assert outbox.due(rt) == [sid]
    assert outbox.claim(rt, sid) == 2


def test_access_audit_events_are_purged_once_older_than_the_retention_on_the_clock(
    rt: Runtime, clock: ManualClock
) -> None:
    account = accounts.create(rt, "audit").account.sid
    rt.access_audit.record(
        "secure", account, "ME" + "1" * 32, "GET", ("signed_url", "KI1"), True, "signed", None
    )
    assert access_audit.flush(rt) == 1
    clock.advance(90 * DAY)
    assert access_audit.purge(rt, 90) == 0
    clock.advance(1)
    assert access_audit.purge(rt, 90) == 1


def test_a_revocation_cuts_off_at_the_clocks_time(rt: Runtime, clock: ManualClock) -> None:
    account = accounts.create(rt, "revoke").account.sid
    clock.advance(0.5)
    done = revocation.revoke_account(rt, account, actor="t")
    assert done.revoked_before_ms == int(START.timestamp() * 1000) + 500


def test_a_process_whose_heartbeat_the_clock_left_behind_is_no_longer_live(
    rt: Runtime, clock: ManualClock
) -> None:
    me = processes.register(rt)
    assert [p.id for p in processes.live_processes(rt)] == [me]
    clock.advance(rt.settings.process_heartbeat * processes.STALE_AFTER + 1)
    assert processes.live_processes(rt) == []
