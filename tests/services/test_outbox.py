"""The carrier hand-off from the outbox, on SQLite and PostgreSQL: it is claimed
once, and repeating a hand-off that a crash interrupted reports each status
change once and delivers a loopback message once."""

from __future__ import annotations

from sqlalchemy import select

from mediagate import carriers
from mediagate.accounts import accounts
from mediagate.db.models import Message, WebhookDelivery
from mediagate.messaging import media_fetches, messages, number_pool, numbers, outbox
from mediagate.runtime.context import Runtime

TO = "+15551239876"
CALLBACK = "http://127.0.0.1:9/status"  # never sent to: these tests do not run the webhook worker


def _queued(rt: Runtime) -> tuple[str, str]:
    sender = accounts.create(rt, "sender").account.sid
    recipient = accounts.create(rt, "recipient").account.sid
    number_pool.assign(rt, TO, recipient)  # the operator assigns it first (docs/security.md)
    numbers.create(rt, recipient, {"PhoneNumber": TO, "SmsUrl": "http://127.0.0.1:9/in"}, actor="test")
    new = messages.NewMessage(to=TO, from_="+15557650001", body="hi", media_urls=[], status_callback=CALLBACK)
    return messages.create(rt, sender, new, actor="test").sid, recipient


def _callbacks(rt: Runtime, message_sid: str) -> list[str]:
    with rt.sessions() as session:
        rows = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.message_sid == message_sid, WebhookDelivery.kind == "status")
            .order_by(WebhookDelivery.date_created)
        )
        return [dict((k, v) for k, v in r.params)["MessageStatus"] for r in rows]


def _status(rt: Runtime, message_sid: str) -> str:
    with rt.sessions() as session:
        return str(session.scalar(select(Message.status).where(Message.sid == message_sid)))


def _arrivals(rt: Runtime, account_sid: str) -> int:
    with rt.sessions() as session:
        return len(list(session.scalars(select(Message.sid).where(Message.account_sid == account_sid))))


def test_a_created_message_waits_in_the_outbox_until_dispatched(runtime: Runtime) -> None:
    sid, recipient = _queued(runtime)
    assert outbox.due(runtime) == [sid]
    carriers.dispatch(runtime, sid)
    assert _status(runtime, sid) == "delivered"
    assert outbox.pending(runtime) == 0
    assert _callbacks(runtime, sid) == ["sent", "delivered"]
    assert _arrivals(runtime, recipient) == 1
    carriers.dispatch(runtime, sid)  # done: nothing left to claim, nothing happens again
    assert _callbacks(runtime, sid) == ["sent", "delivered"] and _arrivals(runtime, recipient) == 1


def test_a_claimed_hand_off_is_not_run_by_a_second_dispatcher(runtime: Runtime) -> None:
    sid, recipient = _queued(runtime)
    assert outbox.claim(runtime, sid) == 1  # another process holds it
    carriers.dispatch(runtime, sid)
    assert _arrivals(runtime, recipient) == 0 and _callbacks(runtime, sid) == []
    assert outbox.due(runtime) == []  # not due until that claim's lease runs out


def test_a_hand_off_interrupted_after_sent_completes_once(runtime: Runtime) -> None:
    sid, recipient = _queued(runtime)
    carriers.set_status(runtime, sid, "sent")  # how far the process got before it died
    carriers.dispatch(runtime, sid)
    assert _status(runtime, sid) == "delivered"
    assert _callbacks(runtime, sid) == ["sent", "delivered"]  # "sent" is not reported twice
    assert _arrivals(runtime, recipient) == 1


def test_a_repeated_status_change_reports_nothing(runtime: Runtime) -> None:
    sid, _ = _queued(runtime)
    assert carriers.set_status(runtime, sid, "sent") is not None
    assert carriers.set_status(runtime, sid, "sent") is None
    assert carriers.set_status(runtime, sid, "delivered") is not None
    assert carriers.set_status(runtime, sid, "failed") is None  # final stays final
    assert _callbacks(runtime, sid) == ["sent", "delivered"]


def test_a_failed_media_fetch_reports_its_callback_in_the_same_transaction(runtime: Runtime) -> None:
    sender = accounts.create(runtime, "sender").account.sid
    new = messages.NewMessage(
        to=TO,
        from_="+15557650001",
        body="",
        media_urls=["http://127.0.0.1:9/none.png"],
        status_callback=CALLBACK,
    )
    message = messages.create(runtime, sender, new, actor="test")
    # Queued at once; nothing to hand off until the media are stored.
    assert message.status == "queued" and outbox.pending(runtime) == 0
    token = media_fetches.claim(runtime, message.sid)
    assert token is not None
    media_fetches.process(runtime, message.sid, token)
    assert _status(runtime, message.sid) == "failed"
    assert outbox.pending(runtime) == 0 and media_fetches.pending(runtime) == 0
    assert _callbacks(runtime, message.sid) == ["failed"]
