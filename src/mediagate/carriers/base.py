"""The carrier interface. The paths every adapter shares live in the services:
status changes in ``messaging/message_status.py``, arrivals in
``messaging/inbound.py`` (re-exported here for the adapters)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from mediagate.db.records import MessageRecord
from mediagate.messaging.inbound import AlreadyFinal as AlreadyFinal
from mediagate.messaging.inbound import receive as receive
from mediagate.messaging.message_status import FINAL as FINAL
from mediagate.messaging.message_status import apply_status as apply_status
from mediagate.messaging.message_status import set_status as set_status

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime


class Carrier(Protocol):
    """An outbound adapter. ``send`` moves a ``queued`` message on (sent,
    delivered, undelivered, failed) through ``set_status``, which reports each
    change to the message's StatusCallback."""

    name: str

    def handles(self, rt: Runtime, message: MessageRecord) -> bool: ...

    def send(self, rt: Runtime, message: MessageRecord) -> None: ...
