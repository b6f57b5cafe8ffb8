"""Memory probe for the soak (``BENCH_SOAK_PROBE=SECONDS``): not part of mediagate.

bench/soak.py puts this folder on the server's PYTHONPATH, so every Python
process of the server tree (the ``mediagate serve`` parent and each forked
worker) imports it at start-up. After ``MEMPROBE_DELAY`` seconds it starts ``tracemalloc``; a daemon thread
that appends one JSON line every ``MEMPROBE_EVERY`` seconds to
``$MEMPROBE_DIR/probe-<pid>.jsonl``: VmRSS, glibc's ``mallinfo2`` (bytes in use
by malloc and bytes free but held in its arenas), the bytes ``tracemalloc``
sees, the live object count of the 15 commonest types, and the 15 source lines
whose traced memory grew most since the previous line. Python-level growth
shows in tracemalloc; growth only in RSS/arena means C allocations or malloc
fragmentation. tracemalloc slows the process several times: the probe is for
diagnosis, never for the figures of the report.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import threading
import time
import tracemalloc
from collections import Counter
from typing import Any

_EVERY = float(os.environ.get("MEMPROBE_EVERY") or 0)
_DIR = os.environ.get("MEMPROBE_DIR", "")
_FRAMES = 8
# Tracing starts this late: tracing the imports and start-up made a worker too slow to come up.
_DELAY = float(os.environ.get("MEMPROBE_DELAY") or 20)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
            "keepcost",
        )
    ]  # fmt: skip


def _mallinfo() -> dict[str, int]:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        m = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    # arena: main-arena bytes from sbrk; hblkhd: mmapped blocks; uordblks: in use; fordblks: free.
    return {"arena": m.arena, "mmap": m.hblkhd, "in_use": m.uordblks, "free": m.fordblks}


def _rss() -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _threads() -> int:
    try:
        return len(os.listdir(f"/proc/{os.getpid()}/task"))
    except OSError:
        return 0


def _loop() -> None:
    time.sleep(_DELAY)
    tracemalloc.start(_FRAMES)
    path = os.path.join(_DIR, f"probe-{os.getpid()}.jsonl")
    previous: tracemalloc.Snapshot | None = None
    first: tracemalloc.Snapshot | None = None
    t0 = time.monotonic()
    n = 0
    while True:
        time.sleep(_EVERY)
        n += 1
        snap = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__))
        )
        current, peak = tracemalloc.get_traced_memory()
        line: dict[str, Any] = {
            "t": round(time.monotonic() - t0, 1),
            "rss": _rss(),
            "threads": _threads(),
            "malloc": _mallinfo(),
            "traced": current,
            "traced_peak": peak,
        }
        if n % 3 == 1:  # object counts are slower: every third line
            line["types"] = Counter(type(o).__name__ for o in gc.get_objects()).most_common(15)
        if previous is not None:
            line["grew"] = [
                [str(s.traceback[0]), s.size_diff, s.count_diff]
                for s in snap.compare_to(previous, "lineno")[:15]
                if s.size_diff > 0
            ]
        if first is None:
            first = snap
        elif n % 4 == 0:
            # Since the first line, grouped by whole traceback (callers show who holds it).
            line["since_first"] = [
                [s.traceback.format()[-_FRAMES:], s.size_diff, s.count_diff]
                for s in snap.compare_to(first, "traceback")[:8]
                if s.size_diff > 0
            ]
        previous = snap
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


def _start() -> None:
    tracemalloc.stop()  # a fork inherits the parent's tracing: the child's own start counts
    threading.Thread(target=_loop, name="memprobe", daemon=True).start()


if _EVERY > 0 and _DIR:
    _start()
    # granian forks its workers: the thread does not survive a fork, start it again.
    os.register_at_fork(after_in_child=_start)
