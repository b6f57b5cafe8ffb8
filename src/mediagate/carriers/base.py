"""The carrier interface and the paths every adapter shares: status changes
(with their status callbacks) and the arrival of an inbound message."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import func, update

from mediagate import sids
from mediagate.db.models import Account, Message
from mediagate.errors import NotFound
from mediagate.services import ingest, quotas, webhooks
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


class AlreadyFinal(Exception):
    """The outbound message a loopback arrival would complete is already final:
    another dispatch of the same message got there first."""


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
        return apply_status(
            session, rt, message_sid, status, error_code=error_code, error_message=error_message
        )


def apply_status(
    session: Session,
    rt: Runtime,
    message_sid: str,
    status: str,
    *,
    error_code: int | None = None,
    error_message: str | None = None,
) -> Message | None:
    """``set_status`` inside the caller's transaction. None, and nothing
    reported, when the message is gone, final, or already in ``status``: the
    change is one conditional UPDATE, so a hand-off that runs twice (after a
    crash, or in two processes) reports each change once."""
    now = utcnow()
    values: dict[str, object] = {"status": status, "date_updated": now}
    if status == "sent":
        values["date_sent"] = func.coalesce(Message.date_sent, now)
    if error_code is not None:
        values["error_code"] = error_code
        values["error_message"] = error_message
    result = session.execute(
        update(Message)
        .where(Message.sid == message_sid, Message.status != status, Message.status.not_in(FINAL))
        .values(values)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    message = session.get(Message, message_sid, populate_existing=True)
    if message is not None and message.status_callback:
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


def receive(
    rt: Runtime,
    owner: Owner,
    *,
    to: str,
    from_: str,
    body: str,
    items: Sequence[IngestedMedia],
    completes: str | None = None,
) -> Message:
    """Record an inbound message for the account that owns ``to``, with media
    already stored under that account (``items``), and enqueue the webhook to
    the number's SmsUrl, all in one transaction. Each media row takes the
    receiving account's *current* Enforce HTTP Auth setting. On failure the
    stored objects are removed.

    ``completes``: the outbound (loopback) message this arrival delivers; it is
    marked ``delivered`` in the same transaction, so a hand-off repeated after
    a crash neither loses the arrival nor records it twice (``AlreadyFinal``
    when that message is already final)."""
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
            if completes is not None and apply_status(session, rt, completes, "delivered") is None:
                raise AlreadyFinal(completes)
            # The receiving account's stored quotas; over one, nothing of this arrival is kept.
            quotas.charge(session, rt.settings, owner.account_sid, sum(i.size for i in items), len(items))
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
