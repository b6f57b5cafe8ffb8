"""Deterministic crash points for the crash-consistency tests.

``MEDIAGATE_TEST_CRASH_AT=<name>[@N]`` makes the process die at that point with
``os._exit(137)`` (what kill -9 looks like to its parent), without unwinding
anything: no ``finally``, no rollback, no temp-file cleanup. Unset (always,
outside the test suite) every call is a string comparison. Not a user
setting, deliberately absent from the README.

Points: ``mid-fetch`` (local store: after the first chunk of an object is in
its temp file; S3: after the first part of a multipart upload is uploaded,
so an object of one part never reaches it), ``after-object-write`` (every
object of a message stored, no row yet), ``after-row`` (the message and its
media rows committed, no response sent).
"""

from __future__ import annotations

import os
import threading

# ``name`` or ``name@N``: die the N-th time the point is reached (default 1st),
# so a test can have earlier requests succeed (and be acknowledged) first.
_AT, _, _NTH = os.environ.get("MEDIAGATE_TEST_CRASH_AT", "").partition("@")
_nth = int(_NTH) if _NTH.isdigit() else 1
_seen = 0
_lock = threading.Lock()


def crash_point(name: str) -> None:
    global _seen
    if not _AT or name != _AT:
        return
    with _lock:
        _seen += 1
        if _seen >= _nth:
            os._exit(137)
