"""Hand an outbound message to its carrier (loopback or offnet).

Apart from ``base`` so that the adapters can build on ``base`` while this,
the one place that knows every adapter, builds on them: no import cycle.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mediagate.carriers.base import Carrier, set_status
from mediagate.carriers.loopback import LoopbackCarrier, OffnetCarrier
from mediagate.messaging import messages, outbox

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

log = logging.getLogger("mediagate.carriers")


def dispatch(rt: Runtime, message_sid: str) -> None:
    """Hand an outbound message to the carrier that handles it, once its outbox
    entry is claimed (``messaging/outbox.py``): right after the API has answered
    (a background task of the create request) and, for what that missed (a
    crash), from the outbox worker. A no-op when another dispatcher holds the
    entry or the hand-off is done."""
    attempt = outbox.claim(rt, message_sid)
    if attempt is None:
        return
    try:
        if attempt > outbox.MAX_ATTEMPTS:
            log.error("giving up on the hand-off of %s after %d attempts", message_sid, attempt - 1)
            set_status(rt, message_sid, "failed", error_code=30008, error_message="Unknown error")
        else:
            _hand_off(rt, message_sid)
    except Exception:
        log.exception("hand-off of %s failed", message_sid)
        try:
            set_status(rt, message_sid, "failed", error_code=30008, error_message="Unknown error")
        except Exception:
            log.exception("could not mark %s failed; the outbox retries it", message_sid)
            return  # the entry stays claimed until its lease ends, then is retried
    outbox.finish(rt, message_sid)


def _hand_off(rt: Runtime, message_sid: str) -> None:
    message = messages.get_any(rt, message_sid)
    # "sent": a hand-off that a crash interrupted; the carriers pick it up from there.
    if message is None or message.status not in ("queued", "sent"):
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
