"""The inbound domain: an arriving message and its media recorded for the account
that owns the number, with the webhook to its SmsUrl, in one transaction.
Carriers are adapters that translate a carrier's request into ``receive``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mediagate import webhooks
from mediagate.accounts import quotas
from mediagate.core import sids
from mediagate.core.errors import NotFound
from mediagate.db.models import Account, Message
from mediagate.media import ingest
from mediagate.media.ingest import IngestedMedia
from mediagate.messaging.message_status import apply_status
from mediagate.messaging.messages import count_segments
from mediagate.messaging.numbers import Owner

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

log = logging.getLogger("mediagate.carriers")  # the carriers' logger, as before the move


class AlreadyFinal(Exception):
    """The outbound message a loopback arrival would complete is already final:
    another dispatch of the same message got there first."""


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
    now = rt.clock.now()
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
