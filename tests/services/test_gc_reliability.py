"""Garbage collection after crashes: temp files of interrupted writes, the age
threshold that protects in-flight writes, and the server's scheduled run.
On SQLite and PostgreSQL (the ``runtime`` fixture)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from mediagate.accounts import accounts
from mediagate.media import maintenance, media
from mediagate.messaging import messages
from mediagate.runtime.background import GarbageCollector
from mediagate.runtime.context import Runtime
from mediagate.storage import media_key


def _temp_file(rt: Runtime, name: str, age: float) -> Path:
    path = rt.settings.media_dir / ".tmp" / name
    path.write_bytes(b"half an object")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_gc_removes_interrupted_temp_writes_but_not_in_flight_ones(runtime: Runtime) -> None:
    stale = _temp_file(runtime, "put-crashed", age=7200)
    in_flight = _temp_file(runtime, "put-writing", age=5)
    removed = maintenance.collect_garbage(runtime, grace_seconds=3600)
    assert removed == 1
    assert not stale.exists()
    assert in_flight.exists()
    # `mediagate media gc --grace 0` removes everything interrupted.
    assert maintenance.collect_garbage(runtime, grace_seconds=0) == 1
    assert not in_flight.exists()


def test_gc_keeps_young_orphans_whose_rows_may_still_commit(runtime: Runtime) -> None:
    acct = accounts.create(runtime, "gc").account
    msg = messages.create(
        runtime, acct.sid, messages.NewMessage("+15550001111", "+15550002222", "hi", []), actor="t"
    )
    kept = media.add(runtime, acct.sid, msg.sid, "image/png", [b"\x89PNG\r\n\x1a\nrow"])
    # An object written a moment ago by an ingest whose row is not committed yet.
    pending = runtime.store.put(media_key(acct.sid, "ME" + "a" * 32), [b"\x89PNG\r\n\x1a\npending"])
    assert maintenance.collect_garbage(runtime, grace_seconds=3600) == 0
    runtime.store.stat(pending.key)
    runtime.store.stat(kept.storage_key)
    # Once older than the grace, the orphan goes; the referenced object stays.
    assert maintenance.collect_garbage(runtime, grace_seconds=0) == 1
    runtime.store.stat(kept.storage_key)


def test_the_scheduled_collector_runs_at_start_and_again(runtime: Runtime) -> None:
    first = _temp_file(runtime, "put-before-start", age=60)
    gc = GarbageCollector(runtime, interval=0.05, grace=10)
    gc.start()
    try:
        deadline = time.monotonic() + 30
        while first.exists():
            assert time.monotonic() < deadline, "the collector did not run at start"
            time.sleep(0.02)
        second = _temp_file(runtime, "put-later", age=60)
        while second.exists():
            assert time.monotonic() < deadline, "the collector did not run again"
            time.sleep(0.02)
    finally:
        gc.stop()
