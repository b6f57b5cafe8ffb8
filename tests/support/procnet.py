"""Which process owns a TCP connection, from Linux's /proc (what ``ss -p`` reads).

The tests that kill "the process that is sending this webhook" learn it from
the sender's port as the receiver saw it."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def _inodes_for_local_port(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local = fields[1]
            if int(local.rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found


def owner_of(local_port: int, candidates: Iterable[int]) -> int | None:
    """The pid among ``candidates`` holding a socket bound to ``local_port``."""
    inodes = {f"socket:[{inode}]" for inode in _inodes_for_local_port(local_port)}
    for pid in candidates:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(fd_dir / fd) in inodes:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None
