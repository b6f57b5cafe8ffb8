"""A simulated carrier that sends real sample files (``mediagate inbound --sample KIND``).

The ingress (``carriers/ingress.py``) takes local files under the outbound media rules,
as a gateway in front of us would be held to. A carrier is not: it hands over what the
phone sent, an iPhone's HEIC or a zero-byte file after a failed transcoding included,
and Twilio passes it on with the type the carrier declared. This adapter does the same
with the files of ``messaging/samples``: stored as they are, under the receiving
account, announced to the number's webhook with their type, as any arrival is
(``carriers.base.receive``: the account's current setting, the signed webhook).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mediagate.accounts import quotas
from mediagate.carriers.base import receive
from mediagate.core.errors import BadRequest
from mediagate.core.inputs import check_text
from mediagate.db.records import MessageRecord
from mediagate.media import ingest
from mediagate.media.ingest import IngestedMedia
from mediagate.messaging import channels
from mediagate.messaging.messages import MAX_BODY
from mediagate.messaging.numbers import Owner
from mediagate.messaging.samples import Sample

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime


def deliver(
    rt: Runtime, owner: Owner, *, to: str, from_: str, body: str, samples: Sequence[Sample]
) -> MessageRecord:
    """An inbound message to ``to`` (a number ``owner`` owns) carrying ``samples``."""
    for name, text in (("To", to), ("From", from_), ("Body", body)):
        check_text(text, name)
    channel = channels.parse_to(to)
    channels.parse_from(from_, channel)
    if not samples:
        raise BadRequest("Give at least one sample.", code=21602)
    if len(samples) > channel.max_media:
        raise BadRequest(
            f"Too many media: a {channel.name} message carries at most {channel.max_media}.", code=21623
        )
    if len(body) > MAX_BODY:
        raise BadRequest(f"The message body exceeds the {MAX_BODY} character limit.", code=21617)
    quotas.admit(rt, owner.account_sid, len(samples))
    items: list[IngestedMedia] = []
    try:
        for one in samples:
            data = one.read()
            chunks = iter([data] if data else [])
            items.append(ingest.store_new(rt, owner.account_sid, chunks, one.content_type, one.filename))
    except BaseException:
        ingest.discard(rt, items)
        raise
    return MessageRecord.of(receive(rt, owner, to=to.strip(), from_=from_.strip(), body=body, items=items))
