"""Messages: create (media are fetched afterwards: media_fetches), fetch, list, delete."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from mediagate.accounts import quotas
from mediagate.cluster import invalidation as inv
from mediagate.core import sids
from mediagate.core.crashpoints import crash_point
from mediagate.core.errors import BadRequest, NotFound
from mediagate.core.inputs import parse_day
from mediagate.core.paging import Page, PageRequest, fetch_page
from mediagate.core.uris import message_path as message_path  # kept: callers use messages.message_path
from mediagate.db.dml import rowcount
from mediagate.db.models import Account, AuditEvent, Media, MediaFetch, Message
from mediagate.db.records import MessageRecord, page_of
from mediagate.media import ingest, removal
from mediagate.media.fetch import BlockedAddress, InvalidMediaUrl
from mediagate.messaging import channels, media_fetches, outbox

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

log = logging.getLogger("mediagate.messages")

MAX_BODY = 1600
MAX_MEDIA_URLS = 10


@dataclass(frozen=True)
class NewMessage:
    to: str | None
    from_: str | None
    body: str
    media_urls: list[str]
    status_callback: str | None = None  # Twilio's StatusCallback: POSTed on each status change


def count_segments(body: str) -> int:
    if not body:
        return 1
    gsm = all(ord(c) < 128 for c in body)
    single, multi = (160, 153) if gsm else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


def create(rt: Runtime, account_sid: str, new: NewMessage, *, actor: str) -> MessageRecord:
    """Validate, then write the ``queued`` message and, when it has MediaUrls,
    the fetch of its media (``media_fetches``) in one transaction, and answer:
    Twilio answers the create at once and fetches media afterwards, so a slow
    or dead media host never holds the request. What Twilio refuses at create
    time is refused here with its 400 (no Body nor MediaUrl 21602, more than 10
    MediaUrl 21623, a malformed or forbidden MediaUrl 21620); what it finds by
    fetching (11200, 12300, 11751) fails the message later (docs/media-urls.md)."""
    to_channel = channels.parse_to(new.to)
    channels.parse_from(new.from_, to_channel)
    if not new.body and not new.media_urls:
        raise BadRequest("Message body is required.", code=21602)
    if len(new.body) > MAX_BODY:
        raise BadRequest(f"The message body exceeds the {MAX_BODY} character limit.", code=21617)
    if len(new.media_urls) > MAX_MEDIA_URLS:
        raise BadRequest(f"Too many media urls. Message may have at most {MAX_MEDIA_URLS}.", code=21623)
    status_callback = None
    if new.status_callback:
        from mediagate.messaging.numbers import validate_webhook_url

        status_callback = validate_webhook_url(rt, new.status_callback, "StatusCallback")
    urls = new.media_urls[: to_channel.max_media]  # WhatsApp: Twilio sends the first and ignores the rest
    try:
        urls = ingest.validate_urls(urls, rt)
    except (InvalidMediaUrl, BlockedAddress) as exc:
        raise BadRequest(exc.message, code=21620) from exc

    with rt.sessions() as session:
        if session.get(Account, account_sid) is None:
            raise NotFound(f"/2010-04-01/Accounts/{account_sid}.json")
    # Before anything is queued: 403 when the stored quotas are reached, 429 past the hourly one.
    quotas.admit(rt, account_sid, len(urls))

    now = rt.clock.now()
    message = Message(
        sid=sids.new_sid(sids.MMS if urls else sids.SMS),
        account_sid=account_sid,
        # Stored as validated (channels.parse_* strip surrounding whitespace); the raw
        # value kept " +1555..." and the To/From list filters never matched it.
        to=(new.to or "").strip(),
        from_=(new.from_ or "").strip(),
        body=new.body,
        status="queued",
        direction="outbound-api",
        # Twilio's create answer counts no media yet: they are fetched afterwards,
        # and num_media says how many were stored once they are.
        num_media=0,
        num_segments=count_segments(new.body),
        status_callback=status_callback,
        date_created=now,
        date_updated=now,
    )
    with rt.tx() as session:
        session.add(message)
        session.flush()
        # The media fetch, or the carrier hand-off of a message without media, commits
        # with the message, so a crash right after this cannot lose it.
        if urls:
            media_fetches.add(session, message.sid, account_sid, to_channel, urls)
        else:
            outbox.add(session, message.sid, account_sid)
    # The message and its fetch or outbox row are committed; nothing dispatched, no response sent.
    if not urls:
        crash_point("after-row")
    return MessageRecord.of(message)


def get_any(rt: Runtime, message_sid: str) -> MessageRecord | None:
    """A message whatever its account: for the carrier hand-off, which starts from a sid."""
    with rt.sessions() as session:
        message = session.get(Message, message_sid)
    return None if message is None else MessageRecord.of(message)


def get(rt: Runtime, account_sid: str, message_sid: str) -> MessageRecord:
    message = get_any(rt, message_sid)
    if message is None or message.account_sid != account_sid:
        raise NotFound(message_path(account_sid, message_sid))
    return message


def _day(value: str, name: str) -> datetime:
    return parse_day(value, name)


def date_filters(query: Mapping[str, str], name: str) -> list[tuple[str, datetime]]:
    """Twilio's ``Name=YYYY-MM-DD``, ``Name<=`` (on or before) and ``Name>=`` (on or after)."""
    out: list[tuple[str, datetime]] = []
    for suffix, op in (("", "="), ("<", "<"), (">", ">")):
        raw = query.get(name + suffix)
        if raw:
            out.append((op, _day(raw, name + suffix)))
    return out


def page(rt: Runtime, account_sid: str, query: Mapping[str, str], req: PageRequest) -> Page:
    stmt = select(Message).where(Message.account_sid == account_sid)
    if query.get("To"):
        stmt = stmt.where(Message.to == query["To"])
    if query.get("From"):
        stmt = stmt.where(Message.from_ == query["From"])
    for op, day in date_filters(query, "DateSent"):
        stmt = apply_day(stmt, Message.date_sent, op, day)
    with rt.sessions() as session:
        return page_of(fetch_page(session, stmt, Message.date_created, Message.sid, req), MessageRecord.of)


def apply_day(stmt: Any, column: Any, op: str, day: datetime) -> Any:
    end = day + timedelta(days=1)
    if op == "=":
        return stmt.where(column >= day, column < end)
    if op == "<":
        return stmt.where(column < end)
    return stmt.where(column >= day)


def delete_message(rt: Runtime, account_sid: str, message_sid: str, *, actor: str) -> None:
    """Delete the message and its media (Twilio's behaviour since 2020): rows
    first, then objects, so a crash in between leaves only an orphan file for
    ``mediagate media gc``, never a row pointing at nothing. Where presigned URLs
    are out the objects go first (media/removal.py)."""

    def stored() -> list[str]:
        with rt.sessions() as session:
            owned = session.scalar(
                select(Message.sid).where(Message.sid == message_sid, Message.account_sid == account_sid)
            )
            keys = list(session.scalars(select(Media.storage_key).where(Media.message_sid == message_sid)))
        if owned is None:
            raise NotFound(message_path(account_sid, message_sid))
        return keys

    removal.remove_first(rt, stored)
    with rt.tx() as session:
        # FOR UPDATE (PostgreSQL): a concurrent delete of the same message waits
        # here, then finds nothing and answers 404. SQLite ignores it; there the
        # rowcount check below decides (its writers are serialised).
        message = session.get(Message, message_sid, with_for_update=True)
        if message is None or message.account_sid != account_sid:
            raise NotFound(message_path(account_sid, message_sid))
        doomed = session.execute(
            select(Media.sid, Media.storage_key, Media.size).where(Media.message_sid == message_sid)
        ).all()
        keys = [row.storage_key for row in doomed]
        session.execute(delete(Media).where(Media.message_sid == message_sid))
        gone = rowcount(
            session, delete(Message).where(Message.sid == message_sid, Message.account_sid == account_sid)
        )
        if gone != 1:
            # Lost the race: roll back (our media delete found nothing anyway),
            # delete no objects, write no audit row.
            raise NotFound(message_path(account_sid, message_sid))
        quotas.release(session, account_sid, sum(row.size for row in doomed), len(doomed))
        # A fetch still pending for it has nothing to attach its media to any more.
        session.execute(delete(MediaFetch).where(MediaFetch.message_sid == message_sid))
        session.add(
            AuditEvent(account_sid=account_sid, actor=actor, action="message.delete", target=message_sid)
        )
    # One Redis round trip for all of them: a frozen Redis holds the request one deadline, not one per media.
    rt.invalidation.publish_many(inv.MEDIA, [row.sid for row in doomed])
    removal.remove_after_commit(rt, keys)


# --------------------------------------------------------------------------- UpdateMessage
#
# Twilio's ``POST .../Messages/{SM|MM}.json`` (operation UpdateMessage in
# twilio_api_v2010.json) takes ``Body=""`` to redact a message's text and
# ``Status=canceled`` to cancel a *scheduled* message; its errors: 30400 for a
# request that is neither or both or names another value, 30409 for a cancel of
# a message that is not scheduled. mediagate schedules nothing, so every cancel
# is 30409, as Twilio answers it for any message past ``scheduled``.

# Twilio redacts "post-flight message records": a message still on its way
# (queued, sending, accepted, scheduled, receiving) keeps its body.
REDACTABLE = frozenset(
    {"sent", "delivered", "undelivered", "failed", "received", "read", "canceled", "partially_delivered"}
)


@dataclass(frozen=True)
class MessageUpdate:
    """The form of an UpdateMessage request: ``None`` for a parameter not sent."""

    body: str | None
    status: str | None


def _invalid(why: str) -> BadRequest:
    return BadRequest(f"Parameters are not valid: {why}", code=30400)


def update(
    rt: Runtime, account_sid: str, message_sid: str, change: MessageUpdate, *, actor: str
) -> MessageRecord:
    """Twilio's UpdateMessage: redact (``Body=""``) or cancel (``Status=canceled``)."""
    if change.body is None and change.status is None:
        raise _invalid("send Body (empty, to redact the message) or Status=canceled.")
    if change.body is not None and change.status is not None:
        raise _invalid("a message cannot be canceled and redacted in one request.")
    if change.status is not None:
        if change.status != "canceled":
            raise _invalid(f"Status may only be 'canceled', not {change.status[:40]!r}.")
        get(rt, account_sid, message_sid)  # 404 for a message that is not there
        # Only a scheduled message can be canceled, and mediagate schedules none.
        raise BadRequest("This message cannot be canceled: it is not scheduled.", code=30409)
    if change.body:
        raise _invalid("Body must be empty: a message's text can only be redacted, not changed.")
    return redact(rt, account_sid, message_sid, actor=actor)


def redact(rt: Runtime, account_sid: str, message_sid: str, *, actor: str) -> MessageRecord:
    """Empty the message's body, here and in the stored webhook requests that carried
    it (the deliveries list shows their parameters), and audit it. Every other field
    stays as it was but ``date_updated``; media are removed through the Media resource,
    as on Twilio. Redacting a redacted message answers it unchanged."""
    from mediagate.db.models import WebhookDelivery  # the webhook queue's table, used only here

    with rt.tx() as session:
        message = session.get(Message, message_sid, with_for_update=True)
        if message is None or message.account_sid != account_sid:
            raise NotFound(message_path(account_sid, message_sid))
        if message.status not in REDACTABLE:
            # Twilio documents redaction of post-flight records only, without naming the
            # error; 20009 is its code for the same condition on DELETE.
            raise BadRequest(
                f"Cannot redact this message before it is complete (status {message.status}): "
                "try again once it is sent, delivered, undelivered, failed or received.",
                code=20009,
            )
        if message.body:
            message.body = ""
            message.date_updated = rt.clock.now()
            for delivery in session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.message_sid == message_sid)
            ):
                if any(name == "Body" for name, _ in delivery.params):
                    delivery.params = [[n, "" if n == "Body" else v] for n, v in delivery.params]
            session.add(
                AuditEvent(account_sid=account_sid, actor=actor, action="message.redact", target=message_sid)
            )
        session.flush()
        return MessageRecord.of(message)
