"""Fetching MediaUrl into storage: safe fetch, channel limits, type checks.

Everything fetched for one message is stored before any database row is
written, and removed again if a later URL fails, so a failed fetch never
leaves a partial media row or a stray object behind. Outbound messages fetch
after their create has answered (messaging/media_fetches.py); the carrier
ingress fetches while it delivers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from mediagate.core import sids
from mediagate.db.models import Media
from mediagate.media import fetch_types
from mediagate.media.fetch import FetchError, RetrievalFailed, TooLarge, validate_media_url
from mediagate.messaging.channels import Channel
from mediagate.observability import metrics
from mediagate.storage import DISK_FULL, media_key

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime
    from mediagate.testmode.faults import Fault

_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "audio/x-wav": "audio/wav"}


class InvalidContentType(FetchError):
    code = 12300


class StorageFull(FetchError):
    """Our media storage is full. Twilio's 11200 (the media could not be
    retrieved) is the code its clients already handle for "this media did not
    make it"; the message says why. See docs/operations.md."""

    code = 11200


@dataclass(frozen=True)
class IngestedMedia:
    sid: str
    key: str
    content_type: str
    size: int
    sha256: str
    filename: str | None

    def row(self, account_sid: str, message_sid: str, *, auth_required: bool, now: datetime) -> Media:
        """The media row for these stored bytes; ``auth_required`` is fixed here, once."""
        return Media(
            sid=self.sid,
            account_sid=account_sid,
            message_sid=message_sid,
            content_type=self.content_type,
            size=self.size,
            sha256=self.sha256,
            filename=self.filename,
            storage_key=self.key,
            auth_required=auth_required,
            date_created=now,
            date_updated=now,
        )


def validate_urls(urls: list[str], rt: Runtime) -> list[str]:
    return [validate_media_url(url, rt.fetcher.policy) for url in urls]


def ingest(rt: Runtime, account_sid: str, urls: list[str], channel: Channel) -> list[IngestedMedia]:
    """Fetch and store every URL; on any failure remove what was stored and re-raise.
    All the URLs together get ``fetch_deadline`` seconds: each fetch's own limit alone
    let ten slow URLs hold a fetch slot for ten times as long."""
    done: list[IngestedMedia] = []
    limit = rt.settings.fetch_deadline
    deadline = time.monotonic() + limit
    try:
        total = 0
        for url in urls:
            try:
                item = _fetch_one(rt, account_sid, url, channel, deadline)
            except RetrievalFailed as exc:
                if time.monotonic() < deadline:
                    raise
                raise RetrievalFailed(
                    f"Timed out retrieving the media: fetching the media of one message may take at most "
                    f"{limit:g} seconds."
                ) from exc
            done.append(item)
            total += item.size
            if channel.max_message_bytes is not None and total > channel.max_message_bytes:
                raise TooLarge(
                    f"The media in this message total {total} bytes, over the {channel.name} limit of "
                    f"{channel.max_message_bytes} bytes.",
                )
    except FetchError as exc:
        metrics.INGEST_FAILURES.labels(channel.name, str(exc.code)).inc()
        discard(rt, done)
        raise
    except BaseException:
        discard(rt, done)
        raise
    for item in done:
        metrics.INGEST_MEDIA.labels(channel.name).inc()
        metrics.INGEST_BYTES.labels(channel.name).inc(item.size)
    return done


def store_new(
    rt: Runtime, account_sid: str, chunks: Iterator[bytes], content_type: str, filename: str | None
) -> IngestedMedia:
    """Store bytes that arrive by another path than a MediaUrl (a carrier's copy,
    a local file) as a new media object of ``account_sid``, under a new ME sid."""
    sid = sids.new_sid(sids.MEDIA)
    stored = rt.store.put(media_key(account_sid, sid), chunks)
    return IngestedMedia(sid, stored.key, content_type, stored.size, stored.sha256, filename)


def copy_message_media(rt: Runtime, message_sid: str, account_sid: str) -> list[IngestedMedia]:
    """Copy a message's objects under ``account_sid`` with new ME sids, streaming
    (no object is held in memory whole); nothing is kept if one copy fails."""
    with rt.sessions() as session:
        sources = list(
            session.scalars(
                select(Media).where(Media.message_sid == message_sid).order_by(Media.date_created, Media.sid)
            )
        )
    done: list[IngestedMedia] = []
    try:
        for src in sources:
            done.append(
                store_new(rt, account_sid, rt.store.stream(src.storage_key), src.content_type, src.filename)
            )
    except BaseException:
        discard(rt, done)
        raise
    return done


def discard(rt: Runtime, items: list[IngestedMedia]) -> None:
    for item in items:
        with contextlib.suppress(OSError):
            rt.store.delete(item.key)


def _fetch_one(rt: Runtime, account_sid: str, url: str, channel: Channel, deadline: float) -> IngestedMedia:
    testing = rt.testing
    if testing is None:
        return _fetch(rt, account_sid, url, channel, deadline, None)
    # Test mode: an armed media-fetch fault, and the fetch in the journal.
    from mediagate.testmode.journal import plain_url

    fault = testing.faults.take("media-fetch", account_sid, None)
    shown = {"url": plain_url(url), "fault": fault.sid if fault is not None else None}
    try:
        item = _fetch(rt, account_sid, url, channel, deadline, fault)
    except FetchError as exc:
        testing.journal.record("media-fetch", account_sid, None, ok=False, error=exc.message, **shown)
        raise
    testing.journal.record(
        "media-fetch", account_sid, item.sid, ok=True, content_type=item.content_type, size=item.size, **shown
    )
    return item


def _cut(chunks: Iterator[bytes], after: int) -> Iterator[bytes]:
    """A test-mode ``truncate`` fault: the connection drops after ``after`` bytes."""
    seen = 0
    for chunk in chunks:
        if seen + len(chunk) >= after:
            yield chunk[: max(after - seen, 0)]
            raise RetrievalFailed("Error reading the media from the server.")
        seen += len(chunk)
        yield chunk


def _fetch(
    rt: Runtime, account_sid: str, url: str, channel: Channel, deadline: float, fault: Fault | None
) -> IngestedMedia:
    ceiling = min(rt.settings.max_media_bytes, channel.max_message_bytes or rt.settings.max_media_bytes)
    if fault is not None and fault.action == "delay":
        assert fault.delay_ms is not None
        time.sleep(min(fault.delay_ms / 1000, max(deadline - time.monotonic(), 0)))
    if fault is not None and fault.action == "status":
        raise RetrievalFailed(f"The media server returned HTTP {fault.status}.")  # as a real one would
    with rt.fetcher.open(url, max_bytes=ceiling, deadline=deadline) as response:
        content_type = _ALIASES.get(response.content_type, response.content_type)
        limit = channel.limit_for(content_type)
        if limit is None:
            raise InvalidContentType(
                f"The media at {url} has Content-Type {content_type or '(none)'!r}, "
                f"which {channel.name} does not accept."
            )
        limit = min(limit, rt.settings.max_media_bytes)
        if response.content_length is not None and response.content_length > limit:
            raise TooLarge(f"The media at {url} is {response.content_length} bytes; the limit is {limit}.")
        try:
            item = store_new(
                rt,
                account_sid,
                _checked(
                    response.iter_bytes()
                    if fault is None or fault.action != "truncate"
                    else _cut(response.iter_bytes(), (response.content_length or 2) // 2),
                    content_type,
                    limit,
                    url,
                ),
                content_type,
                response.filename,
            )
        except OSError as exc:
            if exc.errno in DISK_FULL:
                # The store removed its partial write; the message fails with a
                # clear error instead of the request failing with a 500.
                raise StorageFull(
                    f"The media at {url} could not be stored: the media storage is full. Try again later."
                ) from exc
            raise
    if item.size == 0:
        rt.store.delete(item.key)
        raise RetrievalFailed(f"The media at {url} is empty.")
    return item


def _checked(chunks: Iterator[bytes], content_type: str, limit: int, url: str) -> Iterator[bytes]:
    """The bytes as they arrive, refused past ``limit`` or when their first bytes
    do not fit ``content_type`` (12300, as Twilio: media/fetch_types.py)."""
    check = fetch_types.checked(content_type)
    head = b""
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise TooLarge(f"The media at {url} is larger than the {limit}-byte limit for {content_type}.")
        if check and len(head) < fetch_types.HEAD:
            head += chunk[: fetch_types.HEAD - len(head)]
            if len(head) >= fetch_types.HEAD and not fetch_types.agrees(content_type, head):
                raise InvalidContentType(f"The bytes at {url} are not {content_type}.")
        yield chunk
    if check and seen and len(head) < fetch_types.HEAD and not fetch_types.agrees(content_type, head):
        raise InvalidContentType(f"The bytes at {url} are not {content_type}.")
