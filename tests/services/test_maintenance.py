"""Securing legacy media and collecting orphaned objects, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mediagate.accounts import accounts
from mediagate.core.settings import Settings
from mediagate.db.models import AuditEvent, Media
from mediagate.media import maintenance, media
from mediagate.messaging import messages
from mediagate.runtime.context import Runtime, build_runtime
from mediagate.storage import media_key
from tests.support.seaweed import ObjectStore


def _message_with_media(rt: Runtime, n: int, *, enforce: bool) -> tuple[str, list[str]]:
    acct = accounts.create(rt, "maint").account
    accounts.set_enforcement(rt, acct.sid, enforce, actor="test", via="test")
    msg = messages.create(
        rt, acct.sid, messages.NewMessage("+15550001111", "+15550002222", "hello", []), actor="test"
    )
    sids = [
        media.add(rt, acct.sid, msg.sid, "image/png", [b"\x89PNG\r\n\x1a\n" + bytes([i])]).sid
        for i in range(n)
    ]
    return acct.sid, sids


def test_secure_legacy_in_batches_is_resumable_and_audited(runtime: Runtime) -> None:
    account, sids = _message_with_media(runtime, 7, enforce=False)
    other_account, other_sids = _message_with_media(runtime, 2, enforce=False)
    steps = maintenance.secure_legacy(runtime, account, actor="ops", batch=3)
    first = next(steps)
    assert (first.done, first.total) == (3, 7)
    steps.close()  # interrupted after one batch
    assert maintenance.legacy_count(runtime, account) == 4
    progress = [p.done for p in maintenance.secure_legacy(runtime, account, actor="ops", batch=3)]
    assert progress == [3, 4]
    assert maintenance.legacy_count(runtime, account) == 0
    with runtime.sessions() as session:
        flags = set(session.scalars(select(Media.auth_required).where(Media.sid.in_(sids))))
        audits = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "media.secure_legacy")))
    assert flags == {True}
    assert len(audits) == 3 and {a.actor for a in audits} == {"ops"}
    # Another account's legacy media is untouched.
    assert maintenance.legacy_count(runtime, other_account) == len(other_sids)


def test_gc_removes_only_old_orphans(runtime: Runtime) -> None:
    account, sids = _message_with_media(runtime, 1, enforce=True)
    orphan_old = media_key(account, "ME" + "a" * 32)
    orphan_new = media_key(account, "ME" + "b" * 32)
    runtime.store.put(orphan_old, [b"old"])
    runtime.store.put(orphan_new, [b"new"])
    old_path = runtime.store.local_path(orphan_old)
    assert old_path is not None
    os.utime(old_path, (1, 1))
    kept_path = runtime.store.local_path(media_key(account, sids[0]))
    assert kept_path is not None
    os.utime(kept_path, (1, 1))  # old but referenced: must stay
    assert maintenance.collect_garbage(runtime, grace_seconds=60) == 1
    assert not old_path.exists()
    assert kept_path.exists()
    assert runtime.store.stat(orphan_new) == 3


@pytest.fixture
def s3_runtime(db_url: str, tmp_path: Path, object_store: ObjectStore) -> Iterator[Runtime]:
    env = object_store.env(prefix="gc")
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key=secrets.token_hex(32),
        public_url="http://mediagate.test",
        storage_url=env["MEDIAGATE_STORAGE_URL"],
        s3_endpoint_url=env["MEDIAGATE_S3_ENDPOINT_URL"],
    )
    rt = build_runtime(settings)
    yield rt
    rt.close()


def test_gc_on_s3_removes_unreferenced_objects_past_the_grace(s3_runtime: Runtime) -> None:
    """S3 keeps no settable mtime, so the threshold is checked from both sides: a long
    grace keeps every fresh orphan (an upload in flight), a negative one makes all of
    them old and leaves only what a row refers to."""
    rt = s3_runtime
    account, sids = _message_with_media(rt, 2, enforce=True)
    orphans = [media_key(account, "ME" + c * 32) for c in "de"]
    for key in orphans:
        rt.store.put(key, [b"orphan"])
    assert maintenance.collect_garbage(rt, grace_seconds=3600) == 0
    assert maintenance.collect_garbage(rt, grace_seconds=-60) == 2
    assert sorted(k for k, _ in rt.store.iter_keys()) == sorted(media_key(account, s) for s in sids)
    assert maintenance.collect_garbage(rt, grace_seconds=-60) == 0
