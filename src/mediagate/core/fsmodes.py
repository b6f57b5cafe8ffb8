"""File modes of what mediagate writes: private to the service's user.

The data folder holds the SQLite database (sealed tokens, token hashes,
message bodies), the master secret and every media file. With the usual
umask 022 they came out 0644/0755, readable by every local user. Modes are
set explicitly, whatever the umask: folders 0700, files 0600.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) and make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> None:
    """Create ``path`` empty if missing, and make it 0600 (no-op chmod on other owners' errors)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def private_sqlite(path: Path) -> None:
    """The database file before SQLite opens it: SQLite creates ``-wal`` and
    ``-shm`` with the database file's own mode, so 0600 here makes them 0600.
    Existing ones (from an older version) are tightened too."""
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path.with_name(path.name + suffix), FILE_MODE)
