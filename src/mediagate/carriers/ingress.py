"""Carrier-simulation ingress: deliver an inbound message as a carrier would.

Used by ``POST /v1/Carrier/Inbound`` (media by URL, fetched with the same
SSRF-safe fetcher as outbound MediaUrl) and by ``mediagate inbound`` (media
from URLs or local files, read in chunks).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mediagate.accounts import quotas
from mediagate.carriers.base import receive
from mediagate.core.errors import ApiError, BadRequest, NotFound, ServiceUnavailable
from mediagate.core.inputs import bad_text_reason, check_text
from mediagate.db.records import MessageRecord
from mediagate.media import ingest
from mediagate.media.fetch import MAX_CONTENT_TYPE, BlockedAddress, FetchError, InvalidMediaUrl
from mediagate.media.ingest import IngestedMedia, StorageFull
from mediagate.messaging import channels, numbers
from mediagate.messaging.messages import MAX_BODY, MAX_MEDIA_URLS
from mediagate.messaging.numbers import Owner

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

CHUNK = 64 * 1024


@dataclass(frozen=True)
class LocalFile:
    path: Path
    content_type: str | None = None  # default: from the file name's extension


@dataclass(frozen=True)
class Inbound:
    to: str | None
    from_: str | None
    body: str
    media_urls: Sequence[str] = ()
    files: Sequence[LocalFile] = ()


def unknown_number(to: str | None) -> ApiError:
    """The error for a ``To`` that no account here owns (or no ``To`` at all)."""
    if not to:
        return BadRequest("A 'To' phone number is required.", code=21604)
    return NotFound(f"/2010-04-01/IncomingPhoneNumbers?PhoneNumber={numbers.e164_part(to)}")


def resolve_owner(rt: Runtime, to: str | None) -> Owner:
    owner = numbers.owner_of(rt, to or "")
    if owner is None:
        raise unknown_number(to)
    return owner


def deliver(rt: Runtime, owner: Owner, inbound: Inbound) -> MessageRecord:
    """Validate, store the media under the owner's account, then record the
    inbound message and enqueue its webhook (``carriers.base.receive``)."""
    # The CLI's arguments reach here without the API's form gate (api.common):
    # check the same way, so a NUL or a lone surrogate is a 400, not a 500.
    for name, text in (("To", inbound.to), ("From", inbound.from_), ("Body", inbound.body)):
        check_text(text or "", name)
    channel = channels.parse_to(inbound.to)
    channels.parse_from(inbound.from_, channel)
    to, from_ = (inbound.to or "").strip(), (inbound.from_ or "").strip()
    count = len(inbound.media_urls) + len(inbound.files)
    if not inbound.body and not count:
        raise BadRequest("Message body is required.", code=21602)
    if len(inbound.body) > MAX_BODY:
        raise BadRequest(f"The message body exceeds the {MAX_BODY} character limit.", code=21617)
    if count > min(MAX_MEDIA_URLS, channel.max_media):
        raise BadRequest(
            f"Too many media: a {channel.name} message carries at most {channel.max_media}.", code=21623
        )
    try:
        urls = ingest.validate_urls(list(inbound.media_urls), rt)
    except (InvalidMediaUrl, BlockedAddress) as exc:
        raise BadRequest(exc.message, code=21620) from exc
    # The receiving account's quotas, before anything is stored: 403 / 429 (Retry-After) to the carrier.
    quotas.admit(rt, owner.account_sid, count)
    items: list[IngestedMedia] = []
    try:
        for local in inbound.files:
            items.append(_store_file(rt, owner.account_sid, local, channel))
        items.extend(ingest.ingest(rt, owner.account_sid, urls, channel))
    except StorageFull as exc:  # our disk, not the sender's fault: the carrier should retry
        ingest.discard(rt, items)
        raise ServiceUnavailable(exc.message) from exc
    except FetchError as exc:
        ingest.discard(rt, items)
        raise BadRequest(exc.message, code=exc.code) from exc
    except BaseException:
        ingest.discard(rt, items)
        raise
    return MessageRecord.of(receive(rt, owner, to=to, from_=from_, body=inbound.body, items=items))


def content_type_of(path: Path, given: str | None) -> str:
    if given:
        content_type = given.strip().lower()
        if len(content_type) > MAX_CONTENT_TYPE or bad_text_reason(content_type):
            raise BadRequest(f"The content type must be at most {MAX_CONTENT_TYPE} characters.", code=12300)
        return content_type
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed is None:
        raise BadRequest(f"Cannot tell the content type of {path.name}; give it explicitly.", code=12300)
    return guessed


def _store_file(rt: Runtime, account_sid: str, local: LocalFile, channel: channels.Channel) -> IngestedMedia:
    path = local.path
    if not path.is_file():
        raise BadRequest(f"{path} is not a readable file.", code=11200)
    content_type = content_type_of(path, local.content_type)
    limit = channel.limit_for(content_type)
    if limit is None:
        raise BadRequest(f"{channel.name} does not accept {content_type} ({path.name}).", code=12300)
    limit = min(limit, rt.settings.max_media_bytes)
    size = path.stat().st_size
    if size == 0:
        raise BadRequest(f"{path.name} is empty.", code=11200)
    if size > limit:
        raise BadRequest(f"{path.name} is {size} bytes; the limit for {content_type} is {limit}.", code=11751)
    name = path.name if bad_text_reason(path.name) is None else None  # undecodable file names
    return ingest.store_new(rt, account_sid, _chunks(path), content_type, name)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk
