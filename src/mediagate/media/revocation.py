"""Early revocation: void every outstanding signed URL of one media, or of an account.

A signed URL carries its issue time inside the signature (``Issued``, epoch
ms; ``media/signing.py``). Revoking writes a cutoff, "URLs issued at or before T are
void", on the media row (``urls_revoked_before``) or the account row
(``media_urls_revoked_before``). The secured host compares the URL's issue
time with the cutoff it already loaded with the media row (``EdgeObject``),
so the check costs an integer comparison. Nothing else changes: other media
keep working, and a URL issued after the revocation (the next content-URL
request) works again.

Where it takes effect: in this process at once, in every other process
within the invalidation channel's bound (``mediagate.cluster.invalidation``, at most
1 s; docs/deploy.md): both functions publish the media (or the account), and
every cache holding its row drops it. Server clocks must agree (NTP): the
issue time comes from the signing process's clock.

``presign`` delivery: an S3 presigned URL cannot be revoked at S3 short of
rotating the bucket credentials. The strongest per-media equivalent is to
move the object to a new key (copy, switch the row, delete the old key): the
old presigned URLs then answer 404 (S3's own NoSuchKey) at once. Costs one
object copy through this process per media; an account-wide revocation moves
every secured media of the account, in batches. Public (legacy) media have
unsigned, stable URLs and cannot be revoked: delete or secure them instead.

Which revocations move objects is the deployment's to decide, not the
revoking process's: a presign-mode server records in the database, as it
starts, that the deployment hands out presigned URLs (``record_delivery``,
an ``audit_events`` row), and every revocation afterwards, from an
edge-mode server or a CLI without ``MEDIAGATE_DELIVERY``, moves the objects
too. A revoking process that cannot reach the S3 store (a CLI without
``MEDIAGATE_STORAGE_URL``) refuses before changing anything, rather than
report a revocation that leaves presigned URLs working. The record is never
removed: a presigned URL outlives the setting that issued it (up to 7 days).

``revoke_media`` and ``revoke_account`` are the only writers of the cutoffs,
and publish from there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mediagate.cluster import invalidation as inv
from mediagate.core.errors import ApiError, BadRequest, NotFound
from mediagate.db.dml import rowcount
from mediagate.db.models import Account, AuditEvent, Media
from mediagate.storage import ObjectNotFound
from mediagate.storage.base import rekeyed_key

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

log = logging.getLogger("mediagate.revocation")

REKEY_BATCH = 200
# The ``audit_events`` action that says "this deployment hands out presigned URLs".
PRESIGN_DELIVERY = "delivery.presign"


@dataclass(frozen=True)
class Revocation:
    account_sid: str
    media_sid: str | None  # None: the whole account
    revoked_before_ms: int
    objects_moved: int  # presign delivery: objects moved to a new key


def _now_ms(rt: Runtime) -> int:
    # The runtime's clock: the signer stamps ``Issued`` from the same clock, so
    # a cut-off and the URLs it voids are compared on one time line.
    return int(rt.clock.time() * 1000)


class PresignNeedsStore(ApiError):
    status = 409
    code = 20409


def _presigns_itself(rt: Runtime) -> bool:
    # The local store answers None to presigned_url: media are served by our
    # secured host even in presign mode, and the cutoff is all it takes.
    return rt.settings.delivery == "presign" and rt.store.network


def presigned_urls_out(rt: Runtime) -> bool:
    """Whether S3 presigned URLs of this deployment may be out and this process
    can reach their objects (a media delete removes the object first there:
    media/removal.py). Unlike ``_presigning``, never refuses."""
    if _presigns_itself(rt):
        return True
    if not rt.store.network:
        return False
    with rt.sessions() as session:
        return _recorded(session) is not None


def record_delivery(rt: Runtime) -> None:
    """Called by a server as it starts: in presign delivery, record once for
    the whole deployment that presigned URLs are handed out, so that every
    process and command revoking moves objects (``_presigning``)."""
    if not _presigns_itself(rt):
        return
    with rt.tx() as session:
        if _recorded(session) is None:  # two first starts at once may both add one: harmless
            session.add(AuditEvent(account_sid=None, actor="server", action=PRESIGN_DELIVERY, target=None))


def _recorded(session: Session) -> int | None:
    found: int | None = session.scalar(
        select(AuditEvent.id).where(AuditEvent.action == PRESIGN_DELIVERY).limit(1)
    )
    return found


def _presigning(rt: Runtime) -> bool:
    """Whether a revocation must move objects: this process presigns, or the
    database says some process of the deployment did. Raises when presigned
    URLs were handed out but this process cannot move their objects."""
    if _presigns_itself(rt):
        return True
    with rt.sessions() as session:
        recorded = _recorded(session) is not None
    if recorded and not rt.store.network:
        raise PresignNeedsStore(
            "This deployment has handed out S3 presigned URLs (MEDIAGATE_DELIVERY=presign); revoking "
            "them moves the objects in the store. Run this with the servers' storage settings "
            "(MEDIAGATE_STORAGE_URL, MEDIAGATE_S3_ENDPOINT_URL and the AWS credentials). Nothing was revoked."
        )
    return recorded


def revoke_media(rt: Runtime, account_sid: str, media_sid: str, *, actor: str) -> Revocation:
    """Void every signed URL of one media issued until now."""
    cutoff = _now_ms(rt)
    presigning = _presigning(rt)  # before anything changes: it may refuse
    with rt.tx() as session:
        row = session.get(Media, media_sid, with_for_update=True)
        if row is None or row.account_sid != account_sid:
            raise NotFound(f"/v1/Accounts/{account_sid}/Media/{media_sid}/Revocations")
        if not row.auth_required:
            raise BadRequest(
                f"Media {media_sid} is public (created while Enforce HTTP Auth on Media URLs was off): "
                "its URL is not signed and cannot be revoked. Delete the media instead.",
                code=20001,
            )
        row.urls_revoked_before = max(row.urls_revoked_before or 0, cutoff)
        session.add(AuditEvent(account_sid=account_sid, actor=actor, action="media.revoke", target=media_sid))
    rt.invalidation.publish(inv.MEDIA, media_sid)
    moved = 1 if presigning and _move(rt, media_sid) else 0
    return Revocation(account_sid, media_sid, cutoff, moved)


def revoke_account(rt: Runtime, account_sid: str, *, actor: str) -> Revocation:
    """Void every signed URL of every media of one account issued until now."""
    cutoff = _now_ms(rt)
    presigning = _presigning(rt)  # before anything changes: it may refuse
    with rt.tx() as session:
        account = session.get(Account, account_sid, with_for_update=True)
        if account is None:
            raise NotFound(f"/v1/Accounts/{account_sid}/MediaRevocations")
        account.media_urls_revoked_before = max(account.media_urls_revoked_before or 0, cutoff)
        session.add(
            AuditEvent(account_sid=account_sid, actor=actor, action="media.revoke_all", target=account_sid)
        )
    rt.invalidation.publish(inv.ACCOUNT, account_sid)
    moved = _move_account(rt, account_sid) if presigning else 0
    return Revocation(account_sid, None, cutoff, moved)


def _move_account(rt: Runtime, account_sid: str) -> int:
    moved = 0
    after = ""
    while True:
        with rt.sessions() as session:
            batch = list(
                session.scalars(
                    select(Media.sid)
                    .where(Media.account_sid == account_sid, Media.auth_required.is_(True), Media.sid > after)
                    .order_by(Media.sid)
                    .limit(REKEY_BATCH)
                )
            )
        for sid in batch:
            moved += _move(rt, sid)
        if len(batch) < REKEY_BATCH:
            return moved
        after = batch[-1]


def _move(rt: Runtime, media_sid: str) -> bool:
    """Copy the media's object to a fresh key, point the row at it, delete the
    old one. A media deleted meanwhile keeps nothing (the copy is removed)."""
    with rt.sessions() as session:
        row = session.get(Media, media_sid)
        if row is None:
            return False
        account_sid, old = row.account_sid, row.storage_key
    new = rekeyed_key(account_sid, media_sid)
    try:
        rt.store.put(new, rt.store.stream(old))
    except ObjectNotFound:
        return False  # deleted between the read and the copy
    with rt.tx() as session:
        switched = rowcount(
            session,
            update(Media).where(Media.sid == media_sid, Media.storage_key == old).values(storage_key=new),
        )
    if switched != 1:
        rt.store.delete(new)
        return False
    rt.store.delete(old)
    rt.invalidation.publish(inv.MEDIA, media_sid)  # the redirect's remembered row names the old key
    return True
