"""Explicit, audited operations on stored media.

* ``secure_legacy``: media created while *Enforce HTTP Auth on Media URLs*
  was off stays public until someone decides otherwise (SPEC section 3).
  This is that decision: in batches, each committed on its own, so an
  interrupted run resumes where it stopped by simply running again, with
  progress reported after each batch and an audit row per batch.
* ``collect_garbage``: objects with no media row (a crash between writing
  bytes and committing the row, or between deleting a row and its object)
  and what interrupted writes left (a crash mid-fetch: a temp file, an
  incomplete S3 multipart upload) are removed once they are older than a
  grace period. The server runs it on a schedule (``MEDIAGATE_GC_INTERVAL``);
  ``mediagate media gc`` runs it once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from mediagate.cluster import invalidation as inv
from mediagate.db.models import AuditEvent, Media

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime


@dataclass(frozen=True)
class Progress:
    done: int
    total: int


def legacy_count(rt: Runtime, account_sid: str) -> int:
    with rt.sessions() as session:
        return int(
            session.scalar(
                select(func.count()).where(Media.account_sid == account_sid, Media.auth_required.is_(False))
            )
            or 0
        )


def secure_legacy(rt: Runtime, account_sid: str, *, actor: str, batch: int = 500) -> Iterator[Progress]:
    total = legacy_count(rt, account_sid)
    done = 0
    while True:
        with rt.tx() as session:
            sids = list(
                session.scalars(
                    select(Media.sid)
                    .where(Media.account_sid == account_sid, Media.auth_required.is_(False))
                    .order_by(Media.sid)
                    .limit(batch)
                )
            )
            if not sids:
                return
            session.execute(
                update(Media)
                .where(Media.sid.in_(sids))
                .values(auth_required=True, date_updated=rt.clock.now())
            )
            session.add(
                AuditEvent(
                    account_sid=account_sid,
                    actor=actor,
                    action="media.secure_legacy",
                    target=account_sid,
                    detail=f"{len(sids)} media now require HTTP auth ({sids[0]} .. {sids[-1]})",
                )
            )
        # Remembered media rows say "public" for these.
        rt.invalidation.publish(inv.ACCOUNT, account_sid)
        done += len(sids)
        yield Progress(done, max(total, done))


def collect_garbage(rt: Runtime, *, grace_seconds: float = 3600) -> int:
    """Delete stored objects that no media row points at, and what writes
    interrupted by a crash left (temp files, incomplete multipart uploads);
    return how many. Only what is older than ``grace_seconds`` is touched: an
    ingest in flight (its temp file or multipart upload still being written,
    or its object written and its row not committed yet) is younger."""
    # The wall clock, not the runtime's: the cut-off is compared with file and
    # upload times the filesystem or S3 wrote, and moving a test clock must not
    # make an ingest in flight look old enough to remove.
    cutoff = time.time() - grace_seconds
    removed = rt.store.clean_temp(cutoff)
    for key, mtime in rt.store.iter_keys():
        if mtime > cutoff:
            continue  # maybe an ingest in flight: its row is not committed yet
        with rt.sessions() as session:
            referenced = session.scalar(select(Media.sid).where(Media.storage_key == key).limit(1))
        if referenced is None:
            rt.store.delete(key)
            removed += 1
    return removed
