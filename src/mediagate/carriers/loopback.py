"""Loopback: messages between numbers this service owns never leave it."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from mediagate.accounts import quotas
from mediagate.carriers.base import AlreadyFinal, receive, set_status
from mediagate.db.records import MessageRecord
from mediagate.media import ingest
from mediagate.messaging import numbers

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

log = logging.getLogger("mediagate.carriers")


class LoopbackCarrier:
    name = "loopback"

    def handles(self, rt: Runtime, message: MessageRecord) -> bool:
        return numbers.owner_of(rt, message.to) is not None

    def send(self, rt: Runtime, message: MessageRecord) -> None:
        owner = numbers.owner_of(rt, message.to)
        if owner is None:  # released between handles() and now
            set_status(rt, message.sid, "undelivered", error_code=30005, error_message="Unknown destination")
            return
        set_status(rt, message.sid, "sent")  # a no-op when a crashed hand-off got this far
        items = ingest.copy_message_media(rt, message.sid, owner.account_sid)
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


class OffnetCarrier:
    """Every number nobody here owns: handed off, no delivery receipt."""

    name = "offnet"

    def handles(self, rt: Runtime, message: MessageRecord) -> bool:
        return True

    def send(self, rt: Runtime, message: MessageRecord) -> None:
        set_status(rt, message.sid, "sent")
