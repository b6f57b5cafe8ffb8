"""Cap glibc's malloc arenas for the server processes.

glibc gives each thread that allocates concurrently an arena of its own (up to
8 per core). A server worker runs 20-25 threads (the thread pool behind boto3,
file and database calls), and memory freed in those arenas stays with the
process: the soak in ``make bench`` saw a worker grow ~18 MB in two minutes,
of which Python objects were 2-3 MB (SQLAlchemy's bounded statement cache
filling) and most of the rest free memory held in per-thread arenas
(``bench/analysis.md``). Two arenas keep that held memory small at no
measurable cost to a process whose threads mostly wait on I/O.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

ARENAS = 2
_M_ARENA_MAX = -8  # from glibc's malloc.h


def limit(arenas: int = ARENAS) -> bool:
    """Apply the cap to this process and to the workers it spawns.

    An operator's own ``MALLOC_ARENA_MAX`` wins. Returns whether this process
    took the cap (False off glibc, e.g. musl or macOS, where there is nothing to do)."""
    value = os.environ.setdefault("MALLOC_ARENA_MAX", str(arenas))  # spawned workers read it at start
    if not value.isdigit() or not value.isascii() or int(value) < 1:
        return False  # the operator's value, whatever glibc makes of it
    arenas = int(value)
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas) == 1)
