"""The carrier interface. The paths every adapter shares live in the services:
status changes in ``services/message_status.py``, arrivals in
``services/inbound.py`` (re-exported here for the adapters)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from mediagate.services.inbound import AlreadyFinal as AlreadyFinal
from mediagate.services.inbound import receive as receive
from mediagate.services.message_status import FINAL as FINAL
from mediagate.services.message_status import apply_status as apply_status
from mediagate.services.message_status import set_status as set_status
from mediagate.services.records import MessageRecord

if TYPE_CHECKING:
    from mediagate.context import Runtime


class Carrier(Protocol):
    """An outbound adapter. ``send`` moves a ``queued`` message on (sent,
    delivered, undelivered, failed) through ``set_status``, which reports each
    change to the message's StatusCallback."""

    name: str

    def handles(self, rt: Runtime, message: MessageRecord) -> bool: ...

    def send(self, rt: Runtime, message: MessageRecord) -> None: ...
