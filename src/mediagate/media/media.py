"""Media: metadata, deletion, and the content URL's redirect decision."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy import delete as sql_delete

from mediagate.accounts import auth, quotas
from mediagate.accounts.permissions import MEDIA_READ
from mediagate.cluster import invalidation as inv
from mediagate.core import sids
from mediagate.core.errors import NotFound, Unauthorized
from mediagate.core.paging import Page, PageRequest, fetch_page
from mediagate.core.timefmt import aware
from mediagate.core.uris import media_path as media_path  # kept: callers use media.media_path
from mediagate.core.uris import message_path
from mediagate.db.dml import rowcount
from mediagate.db.failures import is_database_unavailable
from mediagate.db.models import Account, AuditEvent, Media, Message
from mediagate.db.records import MediaRecord, page_of
from mediagate.media import removal
from mediagate.media.access_audit import credential_of
from mediagate.media.delivery import Target, locate
from mediagate.media.delivery import object_path as object_path  # kept: callers use media.object_path
from mediagate.media.hotcache import LOCAL_MAX_AGE, SHARED_MAX_AGE, MediaRow, Memo
from mediagate.media.ingest import IngestedMedia
from mediagate.messaging.messages import apply_day, date_filters
from mediagate.observability.lines import REQUEST_ID, lines, shape
from mediagate.storage import Blob as Blob  # the media hosts read bytes through this type
from mediagate.storage import ObjectNotFound as ObjectNotFound  # the hosts': deleted before read
from mediagate.storage import media_key

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mediagate.runtime.context import Runtime

AUDIT_LOGGER = "mediagate.audit"
# What the content URL needs of a credential. Its route declares it as checked here
# (api/media.py), because the fast path answers it without Starlette.
CONTENT_PERMISSION = MEDIA_READ
_AUDIT_LINE = shape(AUDIT_LOGGER, "media.content", ("account", "media", "credential", "decision"))


def page(rt: Runtime, account_sid: str, message_sid: str, query: Mapping[str, str], req: PageRequest) -> Page:
    with rt.sessions() as session:
        message = session.get(Message, message_sid)
        if message is None or message.account_sid != account_sid:
            raise NotFound(message_path(account_sid, message_sid).replace(".json", "/Media.json"))
        stmt = select(Media).where(Media.message_sid == message_sid)
        for op, day in date_filters(query, "DateCreated"):
            stmt = apply_day(stmt, Media.date_created, op, day)
        return page_of(fetch_page(session, stmt, Media.date_created, Media.sid, req), MediaRecord.of)


def get(rt: Runtime, account_sid: str, message_sid: str, media_sid: str) -> MediaRecord:
    with rt.sessions() as session:
        media = session.get(Media, media_sid)
    if media is None or media.account_sid != account_sid or media.message_sid != message_sid:
        raise NotFound(media_path(account_sid, message_sid, media_sid))
    return MediaRecord.of(media)


def delete(rt: Runtime, account_sid: str, message_sid: str, media_sid: str, *, actor: str) -> None:
    """Delete the row, then the object: every signed URL for it answers 404 from then
    on. Where presigned URLs are out the object goes first (media/removal.py)."""

    def stored() -> list[str]:
        with rt.sessions() as session:
            row = session.get(Media, media_sid)
        if row is None or row.account_sid != account_sid or row.message_sid != message_sid:
            raise NotFound(media_path(account_sid, message_sid, media_sid))
        return [row.storage_key]

    removal.remove_first(rt, stored)
    with rt.tx() as session:
        key = delete_row(session, account_sid, message_sid, media_sid)
        if key is None:
            raise NotFound(media_path(account_sid, message_sid, media_sid))
        session.add(AuditEvent(account_sid=account_sid, actor=actor, action="media.delete", target=media_sid))
    rt.invalidation.publish(inv.MEDIA, media_sid)
    # A key moved by a revocation meanwhile is another object: removed here too.
    removal.remove_after_commit(rt, [key])


def delete_row(session: Session, account_sid: str, message_sid: str, media_sid: str) -> str | None:
    """The one way a media row is deleted (the API's delete and retention):
    in the caller's transaction, returning the storage key whose object the
    caller deletes *after* committing, or ``None`` when the media is already
    gone (or not this account's). A crash between commit and object delete
    leaves an orphan object, which the scheduled gc removes."""
    # Lock the message row first (PostgreSQL; SQLite ignores FOR UPDATE and
    # serialises its writers): the same order as a message delete, which
    # locks the message and then its media, so the two cannot deadlock. A
    # concurrent delete of the same media waits here and then finds nothing.
    # Callers deleting several media lock their messages in sid order.
    session.get(Message, message_sid, with_for_update=True)
    media = session.get(Media, media_sid)
    if media is None or media.account_sid != account_sid or media.message_sid != message_sid:
        return None
    key, size = media.storage_key, media.size
    # One delete wins: the others delete no row, answer 404 and write no audit row.
    gone = rowcount(
        session,
        sql_delete(Media).where(
            Media.sid == media_sid, Media.account_sid == account_sid, Media.message_sid == message_sid
        ),
    )
    if gone != 1:
        return None
    # The count is derived in SQL from the row's current value: read, decrement
    # and write back in Python lost concurrent updates on PostgreSQL.
    session.execute(
        update(Message)
        .where(Message.sid == message_sid, Message.num_media > 0)
        .values(num_media=Message.num_media - 1)
    )
    quotas.release(session, account_sid, size, 1)  # same transaction: the counters cannot drift
    return key


def add(
    rt: Runtime,
    account_sid: str,
    message_sid: str,
    content_type: str,
    chunks: Iterable[bytes],
    *,
    filename: str | None = None,
) -> Media:
    """Store bytes that arrived by another route than MediaUrl (a carrier's
    inbound message, an import) as media of an existing message, with the
    account's *current* setting. The object is written before the row."""
    with rt.sessions() as session:
        account = session.get(Account, account_sid)
        message = session.get(Message, message_sid)
        if account is None or message is None or message.account_sid != account_sid:
            raise NotFound(message_path(account_sid, message_sid))
        auth_required = account.enforce_media_http_auth
    sid = sids.new_sid(sids.MEDIA)
    stored = rt.store.put(media_key(account_sid, sid), chunks)
    now = rt.clock.now()
    item = IngestedMedia(sid, stored.key, content_type, stored.size, stored.sha256, filename)
    row = item.row(account_sid, message_sid, auth_required=auth_required, now=now)
    try:
        with rt.tx() as session:
            # Increment in SQL (see ``delete``); no row updated = the message is gone.
            bumped = rowcount(
                session,
                update(Message).where(Message.sid == message_sid).values(num_media=Message.num_media + 1),
            )
            if bumped != 1:
                raise NotFound(message_path(account_sid, message_sid))
            quotas.charge(session, rt.settings, account_sid, row.size, 1)
            session.add(row)
    except BaseException:
        rt.store.delete(stored.key)
        raise
    return row


_MEDIA = Media.__table__.c
# Prebuilt Core statement: the content redirect is the hottest path (bench/).
_CONTENT_LOOKUP = select(
    _MEDIA.account_sid,
    _MEDIA.message_sid,
    _MEDIA.auth_required,
    _MEDIA.storage_key,
    _MEDIA.content_type,
    _MEDIA.filename,
).where(_MEDIA.sid == bindparam("sid"))


def _audit_content(
    rt: Runtime,
    account_sid: str,
    media_sid: str,
    credential: auth.Credential,
    decision: str,
    method: str,
    client: str | None,
    request_id: str | None = None,
) -> None:
    # Structured fields, not a formatted string: log shippers index them
    # (MEDIAGATE_LOG_FORMAT=json), and the request id joins them to the access
    # line. Batched (observability/lines.py): a logging record per request was
    # a large share of the redirect's time.
    if request_id is None:
        request_id = REQUEST_ID.get()
    lines.emit_values(_AUDIT_LINE, request_id, (account_sid, media_sid, credential[1] or "-", decision))
    # The durable audit: an enqueue, never a write on this path (media/access_audit.py).
    rt.access_audit.record(
        "api",
        account_sid,
        media_sid,
        method,
        credential,
        decision in _ALLOWED,
        decision,
        client,
    )


_ALLOWED = frozenset({"public", "signed", "presigned"})


def content_location(
    rt: Runtime,
    account_sid: str,
    message_sid: str,
    media_sid: str,
    authorization: str | None,
    *,
    method: str = "GET",
    client: str | None = None,
    redirect: bool = True,
) -> str:
    """Where ``GET .../Media/{ME}`` (no extension) redirects, read from the
    database (blocking: run it off the loop); the answers it reads are
    remembered for ``content_location_from_memory``.

    ``redirect=False`` is direct delivery, which sends the bytes instead: the
    same decision and audit, but no URL is signed (``delivery.locate``) and
    the access is not recorded here: the caller records what it sent.

    Without credentials only legacy (public) media is revealed; anything else
    is a 401, whether or not it exists, so the endpoint is no oracle for
    which sids exist. With credentials, they must be valid for the account
    in the path even when the media is public.
    """
    hot = rt.hot
    # The generation first: an invalidation during the reads below discards them.
    # (The authenticator takes its own before reading the credential.)
    media_generation = hot.media.begin()
    with rt.sessions() as session:

        def refused(reason: str, credential: auth.Credential) -> None:
            # Refused before the media is looked at (the answer must not depend
            # on it), so recorded under the account and media of the path, as an
            # anonymous refusal is. The reason class (the metrics label) is spelt
            # as access events spell reasons ("bad_secret" -> "bad-secret").
            decision = reason.replace("_", "-")
            _audit_content(rt, account_sid, media_sid, credential, decision, method, client)

        principal = (
            # Remembered for ``content_location_from_memory`` when allowed.
            auth.require(
                session,
                rt.keyring,
                authorization,
                account_sid,
                CONTENT_PERMISSION,
                memory=hot,
                on_refusal=refused,
            )
            if authorization
            else None
        )
        # A few columns through Core, not an ORM entity: this is the hot path
        # and hydrating a Media object costs more than the query (bench/).
        media = session.connection().execute(_CONTENT_LOOKUP, {"sid": media_sid}).first()
    found = media is not None and media.account_sid == account_sid and media.message_sid == message_sid
    if media is None or not found:
        reason = "not-found" if principal else "denied"
        _audit_content(rt, account_sid, media_sid, credential_of(principal), reason, method, client)
        if principal is None:
            raise auth.denied("missing")
        raise NotFound(media_path(account_sid, message_sid, media_sid, ""))
    target = Target(
        account_sid, media_sid, media.storage_key, media.content_type, media.filename, media.auth_required
    )
    hot.media.put(media_sid, MediaRow(message_sid, target), media_generation)
    return _decide(rt, principal, target, method, client, redirect=redirect)


def content_location_from_memory(
    rt: Runtime,
    account_sid: str,
    message_sid: str,
    media_sid: str,
    authorization: str | None,
    *,
    method: str = "GET",
    client: str | None = None,
    request_id: str | None = None,
    redirect: bool = True,
) -> str | None:
    """``content_location`` answered from memory, on the event loop, or
    ``None`` when anything it needs is not remembered (the caller then runs
    ``content_location`` off the loop). Only successes are remembered, so
    every refusal is decided by the database path, exactly as before."""
    if not rt.signer.refreshing:
        return None  # signing could read the database (no background refresh)
    hot = rt.hot
    principal = None
    if authorization:
        # The authenticator's rule over what it remembered; anything it cannot
        # allow from memory is asked again (and refused, counted) by the database path.
        principal = auth.recall(hot, authorization, account_sid, CONTENT_PERMISSION)
        if principal is None:
            return None
    row = hot.media.get(media_sid)
    if row is None or row.target.account_sid != account_sid or row.message_sid != message_sid:
        return None
    if row.target.auth_required and rt.settings.delivery == "presign":
        # Presigning may refresh the store's credentials (instance metadata, STS):
        # network I/O, so not on the loop.
        return None
    return _decide(rt, principal, row.target, method, client, request_id, redirect=redirect)


def _decide(
    rt: Runtime,
    principal: auth.Principal | None,
    target: Target,
    method: str,
    client: str | None,
    request_id: str | None = None,
    *,
    redirect: bool = True,
) -> str:
    # media/delivery.py decides where the bytes come from (public host,
    # our secured host, or the object store itself); Unauthorized when an
    # anonymous caller asks for media that needs auth.
    try:
        where = locate(rt, principal, target, method=method, sign=redirect)
    except Unauthorized:
        _audit_content(
            rt, target.account_sid, target.media_sid, auth.NO_CREDENTIAL, "denied", method, client, request_id
        )
        raise auth.denied("missing") from None
    _audit_content(
        rt,
        target.account_sid,
        target.media_sid,
        credential_of(principal),
        where.decision,
        method,
        client,
        request_id,
    )
    if redirect:
        # In memory only (media/access.py); a presigned URL is the last we see of a download.
        downloaded = where.decision == "presigned" and method == "GET"
        rt.access.record(target.account_sid, target.media_sid, downloaded=downloaded)
    return where.url


@dataclass(frozen=True)
class EdgeObject:
    key: str
    content_type: str
    filename: str | None
    sha256: str
    size: int
    auth_required: bool
    # Early revocation (media/revocation.py): signed URLs issued at or before
    # this instant (epoch ms; the later of the media's and its account's) are void.
    revoked_before: int = 0
    # When the row was written (epoch s): the bytes' Last-Modified. The row's
    # time, not the file's: the same on every backend and every replica, and
    # known without a stat() (the RSGI fast path answers from memory).
    created: int = 0
    # The owning account is active: suspended and closed accounts' legacy
    # media is not public (the public host), as on Twilio.
    account_active: bool = True


_ACCOUNTS = Account.__table__.c
# One query for the media row and its account's revocation cutoff.
_EDGE_LOOKUP = (
    select(
        _MEDIA.account_sid,
        _MEDIA.storage_key,
        _MEDIA.content_type,
        _MEDIA.filename,
        _MEDIA.sha256,
        _MEDIA.size,
        _MEDIA.auth_required,
        _MEDIA.urls_revoked_before,
        _MEDIA.date_created,
        _ACCOUNTS.media_urls_revoked_before,
        _ACCOUNTS.status,
    )
    .join_from(Media.__table__, Account.__table__, _ACCOUNTS.sid == _MEDIA.account_sid)
    .where(_MEDIA.sid == bindparam("sid"))
)


def edge_object(rt: Runtime, account_sid: str, media_sid: str) -> EdgeObject | None:
    with rt.sessions() as session:
        media = session.connection().execute(_EDGE_LOOKUP, {"sid": media_sid}).first()
    if media is None or media.account_sid != account_sid:
        return None
    return EdgeObject(
        media.storage_key,
        media.content_type,
        media.filename,
        media.sha256,
        media.size,
        media.auth_required,
        max(media.urls_revoked_before or 0, media.media_urls_revoked_before or 0),
        int(aware(media.date_created).timestamp()),
        media.status == "active",
    )


def public_edge_object(
    rt: Runtime, account_sid: str, media_sid: str, *, memory_only: bool = False
) -> EdgeObject | None:
    """The public host's lookup: legacy media (``auth_required`` false) of an
    active account, or ``None``. Suspending (or closing) an account hides its
    legacy public media, as Twilio does; reactivating shows it again.

    Through the secured host's cache: securing legacy media and changing an
    account's status both publish the account on the invalidation channel,
    which drops its entries. ``memory_only``: the cache alone (``None`` also
    when it does not know: the caller asks again without ``memory_only``)."""
    if memory_only:
        obj = rt.edge_objects.cached(account_sid, media_sid)
    else:
        obj = rt.edge_objects.get(rt, account_sid, media_sid)
    if obj is None or obj.auth_required or not obj.account_active:
        return None
    return obj


class Prepared(NamedTuple):
    """A media row the media hosts may serve, and where its bytes are.

    ``read(start, end)`` yields the inclusive byte range from any backend;
    ``file`` is set for a plain local file the server may open and send
    itself; ``relative_path`` is the file under the store's root, for
    X-Accel-Redirect."""

    obj: EdgeObject
    size: int
    read: Callable[[int, int | None], Iterator[bytes]]
    file: str | None = None
    relative_path: str | None = None


def plain_local_files(rt: Runtime) -> bool:
    """Whether stored objects are plain local files the server may send itself:
    sealed (encrypted) objects are decrypted by us, remote ones streamed, and
    behind X-Accel-Redirect the front nginx sends the file."""
    return not (rt.settings.accel_redirect_prefix or rt.store.network)


def prepare(rt: Runtime, obj: EdgeObject, *, memory_only: bool = False) -> Prepared | None:
    """Find the bytes, in whichever backend; ``None`` if they are gone (deletion
    removes the object right after the row). Blocking: run it off the loop.

    ``memory_only``: without any I/O, for the event loop (the RSGI fast path):
    only a plain local file qualifies, named from its key and not opened (the
    server opens it); ``None`` for anything else (the caller then asks again
    without ``memory_only``). Its existence is not checked: deletion drops the
    row from memory (``EdgeObjectCache``) before the file goes."""
    if memory_only:
        name = rt.store.file_name(obj.key)
        if name is None:
            return None
        return Prepared(obj, obj.size, functools.partial(rt.store.stream, obj.key), name)
    try:
        blob = rt.store.open(obj.key)
    except ObjectNotFound:
        return None
    local = str(blob.local_path) if blob.local_path is not None else None
    return Prepared(obj, blob.size, blob.stream, local, blob.relative_path)


class EdgeObjectCache:
    """Per-process cache of the secured host's media lookups (measured in bench/results/REPORT.md).

    Most fields the secured host uses never change after a media row is
    written (type, name, hash, size; sids are never reused); the revocation
    cutoffs and, after a presign-mode revocation, the key can, and those
    changes are published on the invalidation channel. Existence is *not*
    cached: the caller always checks the object in the store (``stat``), and
    deletion removes the object right after the row.
    Deletion is also published on the invalidation channel, which drops the
    entry here. ``auth_required`` (legacy media being secured) and the
    account's status can change: both publish the account, which drops its
    entries, so the public host reads them here too. Misses are not cached. Bounded
    in entries (LRU); off while the channel could miss messages.
    """

    def __init__(self, bus: inv.Invalidation, max_entries: int = 20_000) -> None:
        # The revocation cutoffs (media/revocation.py) can change: the same
        # maximum age as the redirect's memory, so a change made where no
        # message reaches us (a CLI without Redis) is seen within 1 s.
        age = SHARED_MAX_AGE if bus.shared else LOCAL_MAX_AGE
        self._items: Memo[tuple[str, str], EdgeObject] = Memo(bus, max_entries, age)
        bus.subscribe(inv.MEDIA, lambda sid: self._items.drop_where(lambda k, _: k[1] == sid))
        bus.subscribe(inv.ACCOUNT, lambda acct: self._items.drop_where(lambda k, _: k[0] == acct))
        bus.on_reset(self._items.clear)

    def cached(self, account_sid: str, media_sid: str) -> EdgeObject | None:
        """The remembered answer, or ``None``: memory only, never the database."""
        return self._items.get((account_sid, media_sid))

    def get(self, rt: Runtime, account_sid: str, media_sid: str) -> EdgeObject | None:
        key = (account_sid, media_sid)
        hit = self._items.get(key)
        if hit is not None:
            return hit
        generation = self._items.begin()
        try:
            obj = edge_object(rt, account_sid, media_sid)
        except Exception as exc:
            # A database outage: signed downloads of media already looked up
            # keep working from the last answer (no change could be written
            # meanwhile: the database is down), as they did before entries aged.
            stale = self._items.stale(key)
            if stale is not None and is_database_unavailable(exc):
                return stale
            raise
        if obj is not None:
            self._items.put(key, obj, generation)
        return obj
