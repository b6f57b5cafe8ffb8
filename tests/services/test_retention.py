"""Retention rules and the batched access records, on SQLite and PostgreSQL,
with the bytes on the local disk and on S3 (SeaweedFS)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mediagate import webhooks
from mediagate.accounts import accounts
from mediagate.core.errors import BadRequest
from mediagate.core.timefmt import utcnow
from mediagate.db.models import AuditEvent, Media, MediaActivity, Message
from mediagate.media import media
from mediagate.messaging import messages
from mediagate.observability.metrics import REGISTRY
from mediagate.retention import rules as retention
from mediagate.runtime.context import Runtime
from tests.conftest import MakeRuntime
from tests.support.receiver import running_receiver
from tests.support.seaweed import ObjectStore
from tests.support.stored import exists


@pytest.fixture(params=["local", "s3"])
def rt(request: pytest.FixtureRequest, make_runtime: MakeRuntime) -> Runtime:
    extra: dict[str, str] = {}
    if request.param == "s3":
        store: ObjectStore = request.getfixturevalue("object_store")
        env = store.env(prefix="retention")
        extra = {
            "storage_url": env["MEDIAGATE_STORAGE_URL"],
            "s3_endpoint_url": env["MEDIAGATE_S3_ENDPOINT_URL"],
        }
    return make_runtime(retention_max_days=90, **extra)


def _media(rt: Runtime, n: int, account_sid: str | None = None) -> tuple[str, str, list[str]]:
    if account_sid is None:
        account_sid = accounts.create(rt, "ret").account.sid
    msg = messages.create(
        rt, account_sid, messages.NewMessage("+15550001111", "+15550002222", "hi", []), actor="t"
    )
    sids = [media.add(rt, account_sid, msg.sid, "image/png", [b"\x89PNG" + bytes([i])]).sid for i in range(n)]
    return account_sid, msg.sid, sids


def _age(rt: Runtime, sids: list[str], days: float) -> None:
    with rt.tx() as session:
        session.execute(
            update(Media).where(Media.sid.in_(sids)).values(date_created=utcnow() - timedelta(days=days))
        )


def _keys(rt: Runtime, sids: list[str]) -> dict[str, str]:
    with rt.sessions() as session:
        return {
            r.sid: r.storage_key
            for r in session.execute(select(Media.sid, Media.storage_key).where(Media.sid.in_(sids)))
        }


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _left(rt: Runtime, sids: list[str]) -> set[str]:
    with rt.sessions() as session:
        return set(session.scalars(select(Media.sid).where(Media.sid.in_(sids))))


def test_rule_validation_default_and_maximum(rt: Runtime) -> None:
    account, _, _ = _media(rt, 0)
    rule = retention.get_rule(rt, account)
    assert rule.date_created is None and rule.effective_days_after_creation == 90  # the maximum caps "keep"
    with pytest.raises(BadRequest, match="from 1 to 90"):
        retention.parse_days("DaysAfterCreation", "91", 90)
    for bad in ("-1", "1.5", "ten", "0", "²", "9" * 5000, "0000001000000"):
        with pytest.raises(BadRequest):
            retention.parse_days("DaysAfterLastAccess", bad, 90)
    assert retention.parse_days("DaysAfterCreation", "", 90) == 0  # clear
    with pytest.raises(BadRequest):
        retention.set_rule(rt, account, retention.Change(days_after_creation=120), actor="t", via="test")
    rule = retention.set_rule(
        rt,
        account,
        retention.Change(days_after_creation=30, after_first_download=True),
        actor="t",
        via="test",
    )
    assert (rule.days_after_creation, rule.effective_days_after_creation, rule.after_first_download) == (
        30,
        30,
        True,
    )
    rule = retention.set_rule(rt, account, retention.Change(days_after_creation=0), actor="t", via="test")
    assert rule.days_after_creation is None and rule.after_first_download is True
    with rt.sessions() as session:
        changes = list(
            session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "retention.rule"))
        )
    assert len(changes) == 2 and "days_after_creation=30" in changes[0]


def test_creation_rule_deletes_in_audited_batches_objects_included(rt: Runtime) -> None:
    account, msg, sids = _media(rt, 5)
    other, _, other_sids = _media(rt, 2)
    _age(rt, sids[:4] + other_sids, 10)
    # Both rules match the four old media: each is listed, counted and deleted once.
    retention.set_rule(
        rt, account, retention.Change(days_after_creation=7, days_after_last_access=5), actor="t", via="test"
    )
    retention.set_rule(rt, other, retention.Change(days_after_last_access=30), actor="t", via="test")
    keys = _keys(rt, sids)

    dry = list(retention.apply(rt, dry_run=True, batch=3))
    assert dry[-1].total == 4
    assert sorted(c.media_sid for s in dry for c in s.media) == sorted(sids[:4])
    assert _left(rt, sids) == set(sids)  # a dry run deletes nothing

    deleted_before = _sample("mediagate_retention_deleted_media_total", rule="days_after_creation")
    steps = list(retention.apply(rt, batch=3, actor="ops"))
    assert (
        _sample("mediagate_retention_deleted_media_total", rule="days_after_creation") - deleted_before == 4
    )
    assert [(len(s.media), s.done, s.total) for s in steps] == [(3, 3, 4), (1, 4, 4)]
    assert _left(rt, sids) == {sids[4]}
    assert [exists(rt, keys[s]) for s in sids] == [False] * 4 + [True]
    assert _left(rt, other_sids) == set(other_sids)  # 10 days since creation < 30 without access
    with rt.sessions() as session:
        audits = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.delete")))
        message = session.get(Message, msg)
    assert message is not None and message.num_media == 1
    assert [(a.account_sid, a.target, a.actor) for a in audits] == [
        (account, "days_after_creation", "ops")
    ] * 2
    assert audits[0].detail is not None and audits[0].detail.startswith(
        "3 media deleted by days_after_creation=7"
    )
    assert list(retention.apply(rt)) == []  # nothing left to do


def test_access_records_flush_in_batches_and_drive_the_access_rules(rt: Runtime) -> None:
    account, _, sids = _media(rt, 4)
    _age(rt, sids, 20)
    rt.access.record(account, sids[0], downloaded=False)  # fetched, not downloaded
    rt.access.record(account, sids[1], downloaded=True)
    assert rt.access.flush(rt) == 2 and rt.access.flush(rt) == 0
    rt.access.record(account, sids[1], downloaded=False)  # a later access keeps the first download
    rt.access.flush(rt)
    with rt.sessions() as session:
        rows = {r.media_sid: r for r in session.scalars(select(MediaActivity))}
    assert set(rows) == {sids[0], sids[1]}
    assert rows[sids[0]].first_downloaded is None and rows[sids[1]].first_downloaded is not None

    retention.set_rule(rt, account, retention.Change(after_first_download=True), actor="t", via="test")
    assert [c.media_sid for s in retention.apply(rt) for c in s.media] == [sids[1]]
    # Never fetched for 20 days > 10: gone; fetched just now: kept.
    retention.set_rule(
        rt,
        account,
        retention.Change(days_after_last_access=10, after_first_download=False),
        actor="t",
        via="test",
    )
    assert sorted(c.media_sid for s in retention.apply(rt) for c in s.media) == sorted(sids[2:])
    assert _left(rt, sids) == {sids[0]}
    with rt.sessions() as session:
        assert set(session.scalars(select(MediaActivity.media_sid))) == {sids[0]}


def test_the_access_buffer_is_bounded() -> None:
    from mediagate.media.access import AccessRecorder

    recorder = AccessRecorder(2)
    dropped_before = _sample("mediagate_access_records_dropped_total")
    recorder.record("AC1", "ME1", downloaded=False)
    assert not recorder.full.is_set()
    recorder.record("AC1", "ME2", downloaded=False)
    assert recorder.full.is_set()  # wakes the flusher
    recorder.record("AC1", "ME3", downloaded=False)
    recorder.record("AC1", "ME1", downloaded=True)  # known media still update
    assert recorder.pending() == 2 and recorder.dropped == 1
    assert _sample("mediagate_access_records_dropped_total") - dropped_before == 1
    taken = recorder.take()
    assert taken["ME1"].first_downloaded is not None and not recorder.full.is_set()


def test_webhook_rule_deletes_media_once_their_inbound_webhook_got_a_2xx(rt: Runtime) -> None:
    account, delivered_msg, delivered = _media(rt, 2)
    _, failed_msg, failed = _media(rt, 1, account)
    _, _, unannounced = _media(rt, 1, account)
    retention.set_rule(rt, account, retention.Change(after_webhook_delivered=True), actor="t", via="test")
    with running_receiver() as receiver:
        receiver.answer("/bad", 500)
        sids = []
        with rt.tx() as session:
            for msg, path in ((delivered_msg, "/ok"), (failed_msg, "/bad")):
                row = webhooks.enqueue(
                    session, rt, account_sid=account, message_sid=msg, kind="incoming",
                    url=receiver.url(path), method="POST", params=[("MessageSid", msg)],
                )  # fmt: skip
                sids.append(row.sid)
        sender = webhooks.Sender(rt)
        try:
            outcomes = [webhooks.attempt(rt, sender, sid) for sid in sids]
        finally:
            sender.close()
    assert [o.ok for o in outcomes if o is not None] == [True, False]
    assert sorted(c.media_sid for s in retention.apply(rt) for c in s.media) == sorted(delivered)
    assert _left(rt, delivered + failed + unannounced) == set(failed + unannounced)


def _activity(rt: Runtime) -> set[str]:
    with rt.sessions() as session:
        return set(session.scalars(select(MediaActivity.media_sid)))


def test_the_flusher_writes_at_shutdown_and_early_when_the_buffer_fills(runtime: Runtime) -> None:
    from mediagate.media.access import AccessRecorder
    from mediagate.runtime.background import AccessFlusher

    account, _, sids = _media(runtime, 3)
    runtime.access = AccessRecorder(2)
    flusher = AccessFlusher(runtime, 3600)  # its clock alone would not write during this test
    flusher.start()
    try:
        runtime.access.record(account, sids[0], downloaded=False)
        runtime.access.record(account, sids[1], downloaded=True)  # full: the flusher is woken
        deadline = time.monotonic() + 30
        while _activity(runtime) != {sids[0], sids[1]}:
            assert time.monotonic() < deadline, "a full buffer was not written"
            time.sleep(0.05)
        runtime.access.record(account, sids[2], downloaded=False)
    finally:
        flusher.stop()
    assert _activity(runtime) == set(sids)  # the last record was written at shutdown
