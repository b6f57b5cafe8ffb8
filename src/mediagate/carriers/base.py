"""The carrier interface and the paths every adapter shares: status changes
(with their status callbacks) and the arrival of an inbound message."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from mediagate import sids
from mediagate.db.models import Account, Message
from mediagate.errors import NotFound
from mediagate.services import ingest, webhooks
from mediagate.services.ingest import IngestedMedia
from mediagate.services.messages import count_segments
from mediagate.services.numbers import Owner
from mediagate.timefmt import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mediagate.context import Runtime

log = logging.getLogger("mediagate.carriers")

# Statuses after which nothing changes any more.
FINAL = frozenset({"delivered", "undelivered", "failed", "received", "canceled", "read"})


class Carrier(Protocol):
    """An outbound adapter. ``send`` moves a ``queued`` message on (sent,
    delivered, undelivered, failed) through ``set_status``, which reports each
    change to the message's StatusCallback."""

    name: str

    def handles(self, rt: Runtime, message: Message) -> bool: ...

    def send(self, rt: Runtime, message: Message) -> None: ...


def set_status(
    rt: Runtime,
    message_sid: str,
    status: str,
    *,
    error_code: int | None = None,
    error_message: str | None = None,
) -> Message | None:
    """Change an outbound message's status and, when it has a StatusCallback,
    enqueue the callback in the same transaction."""
    with rt.tx() as session:
        message = session.get(Message, message_sid, with_for_update=True)
        if message is None or message.status in FINAL:
            return None
        now = utcnow()
        message.status = status
        message.date_updated = now
        if status == "sent" and message.date_sent is None:
            message.date_sent = now
        if error_code is not None:
            message.error_code = error_code
            message.error_message = error_message
        if message.status_callback:
            _enqueue_status(session, rt, message)
    return message


def _enqueue_status(session: Session, rt: Runtime, message: Message) -> None:
    assert message.status_callback is not None
    webhooks.enqueue(
        session,
        rt,
        account_sid=message.account_sid,
        message_sid=message.sid,
        kind="status",
        url=message.status_callback,
        method="POST",
        params=webhooks.status_params(message),
    )


def report_created(rt: Runtime, message: Message) -> None:
    """A message that failed at creation (its media could not be fetched) still
    gets its ``failed`` status callback."""
    if message.status != "failed" or not message.status_callback:
        return
    with rt.tx() as session:
        _enqueue_status(session, rt, message)


def receive(
    rt: Runtime,
    owner: Owner,
    *,
    to: str,
    from_: str,
    body: str,
    items: Sequence[IngestedMedia],
) -> Message:
    """Record an inbound message for the account that owns ``to``, with media
    already stored under that account (``items``), and enqueue the webhook to
    the number's SmsUrl, all in one transaction. Each media row takes the
    receiving account's *current* Enforce HTTP Auth setting. On failure the
    stored objects are removed."""
    now = utcnow()
    message = Message(
        sid=sids.new_sid(sids.MMS if items else sids.SMS),
        account_sid=owner.account_sid,
        to=to,
        from_=from_,
        body=body,
        status="received",
        direction="inbound",
        num_media=len(items),
        num_segments=count_segments(body),
        date_created=now,
        date_updated=now,
        date_sent=now,
    )
    try:
        with rt.tx() as session:
            account = session.get(Account, owner.account_sid)
            if account is None:
                raise NotFound(f"/2010-04-01/Accounts/{owner.account_sid}.json")
            session.add(message)
            session.flush()
            for item in items:
                session.add(
                    item.row(
                        owner.account_sid, message.sid, auth_required=account.enforce_media_http_auth, now=now
                    )
                )
            if owner.sms_url:
                webhooks.enqueue(
                    session,
                    rt,
                    account_sid=owner.account_sid,
                    message_sid=message.sid,
                    kind="incoming",
                    url=owner.sms_url,
                    method=owner.sms_method,
                    params=webhooks.incoming_params(rt, message, [(i.sid, i.content_type) for i in items]),
                )
    except BaseException:
        ingest.discard(rt, list(items))
        raise
    log.info("inbound %s to %s for %s (%d media)", message.sid, to, owner.account_sid, len(items))
    return message


def dispatch(rt: Runtime, message_sid: str) -> None:
    """Hand a newly created outbound message to the carrier that handles it.
    Runs after the API has answered (a background task of the create request)."""
    from mediagate.carriers.loopback import LoopbackCarrier, OffnetCarrier

    with rt.sessions() as session:
        message = session.get(Message, message_sid)
    if message is None:
        return
    if message.status != "queued":
        report_created(rt, message)
        return
    carriers: list[Carrier] = [LoopbackCarrier(), OffnetCarrier()]
    for carrier in carriers:
        if carrier.handles(rt, message):
            try:
                carrier.send(rt, message)
            except Exception:
                log.exception("carrier %s failed on %s", carrier.name, message_sid)
                set_status(rt, message_sid, "failed", error_code=30008, error_message="Unknown error")
            return
