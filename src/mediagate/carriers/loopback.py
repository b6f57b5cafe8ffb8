"""Loopback: messages between numbers this service owns never leave it."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from mediagate import sids
from mediagate.carriers.base import AlreadyFinal, receive, set_status
from mediagate.db.models import Media, Message
from mediagate.services import ingest, numbers, quotas
from mediagate.services.ingest import IngestedMedia
from mediagate.storage import media_key

if TYPE_CHECKING:
    from mediagate.context import Runtime

log = logging.getLogger("mediagate.carriers")


class LoopbackCarrier:
    name = "loopback"

    def handles(self, rt: Runtime, message: Message) -> bool:
        return numbers.owner_of(rt, message.to) is not None

    def send(self, rt: Runtime, message: Message) -> None:
        owner = numbers.owner_of(rt, message.to)
        if owner is None:  # released between handles() and now
            set_status(rt, message.sid, "undelivered", error_code=30005, error_message="Unknown destination")
            return
        set_status(rt, message.sid, "sent")  # a no-op when a crashed hand-off got this far
        items = copy_media(rt, message, owner.account_sid)
        # The arrival and "delivered" commit together: a repeated hand-off redoes both or neither.
        try:
            with contextlib.suppress(AlreadyFinal):
                receive(
                    rt,
                    owner,
                    to=message.to,
                    from_=message.from_,
                    body=message.body,
                    items=items,
                    completes=message.sid,
                )
        except quotas.StorageQuotaExceeded:
            # The recipient's stored quota is full: receive() kept nothing of the arrival.
            # Not our failure, so no traceback: the sender sees "undelivered".
            log.info("loopback %s undelivered: the recipient's media quota is full", message.sid)
            set_status(
                rt,
                message.sid,
                "undelivered",
                error_code=30008,
                error_message="The recipient's media quota is full",
            )


def copy_media(rt: Runtime, message: Message, account_sid: str) -> list[IngestedMedia]:
    """Copy the outbound message's objects under the receiving account with new
    ME sids, streaming (no object is held in memory whole)."""
    with rt.sessions() as session:
        sources = list(
            session.scalars(
                select(Media).where(Media.message_sid == message.sid).order_by(Media.date_created, Media.sid)
            )
        )
    done: list[IngestedMedia] = []
    try:
        for src in sources:
            sid = sids.new_sid(sids.MEDIA)
            stored = rt.store.put(media_key(account_sid, sid), rt.store.stream(src.storage_key))
            done.append(
                IngestedMedia(sid, stored.key, src.content_type, stored.size, stored.sha256, src.filename)
            )
    except BaseException:
        ingest.discard(rt, done)
        raise
    return done


class OffnetCarrier:
    """Every number nobody here owns: handed off, no delivery receipt."""

    name = "offnet"

    def handles(self, rt: Runtime, message: Message) -> bool:
        return True

    def send(self, rt: Runtime, message: Message) -> None:
        set_status(rt, message.sid, "sent")
