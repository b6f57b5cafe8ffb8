"""The storage interface, documented once.

Keys are ours: ``{AccountSid}/{MediaSid}``, derived from sids and never from
a client's filename (the filename lives only in the database). Backends
translate their own errors into ``ObjectNotFound`` so that nothing above this
package imports a provider's exception types.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# An optional ``-<16 hex>`` generation: a media moved to a new key by an early
# revocation in presign delivery (media/revocation.py), so that presigned
# URLs of the old key answer 404.
_KEY = re.compile(r"^AC[0-9a-f]{32}/ME[0-9a-f]{32}(?:-[0-9a-f]{16})?$")


class ObjectNotFound(FileNotFoundError):
    pass


class StorageError(OSError):
    """The backend failed (unreachable, refused, ...): a provider error, translated."""


# The errnos of a full volume (or an exhausted quota) under a local store.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class InvalidKey(ValueError):
    pass


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Blob:
    """One stored object, opened for reading: what the edge needs to serve it,
    without knowing which backend holds it.

    ``local_path`` is set only by backends on the local file system (the edge
    hands it to the server for zero-copy sends, with ``local_stat`` from the
    same open so that no second stat (and thread hop) is needed;
    ``relative_path`` is the file under the store's root, for
    X-Accel-Redirect). ``stream`` reads the inclusive byte range
    ``start..end`` in bounded chunks from any backend.
    """

    key: str
    size: int
    etag: str
    reader: Callable[[int, int | None], Iterator[bytes]]
    local_path: Path | None = None
    relative_path: str | None = None
    local_stat: os.stat_result | None = None

    def stream(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        return self.reader(start, end)


def media_key(account_sid: str, media_sid: str) -> str:
    return check_key(f"{account_sid}/{media_sid}")


def rekeyed_key(account_sid: str, media_sid: str) -> str:
    """A fresh key for a media's bytes (never the one it had: 64 random bits)."""
    return check_key(f"{account_sid}/{media_sid}-{secrets.token_hex(8)}")


def check_key(key: str) -> str:
    # fullmatch, not match: ``$`` also matches before a trailing newline, which
    # let "AC.../ME...\n" through as a key (and onto disk as a stray file name).
    if not _KEY.fullmatch(key):
        raise InvalidKey(f"not a media key: {key!r}")
    return key


class MediaStore(Protocol):
    # True when calls cross the network (an object store): callers on the
    # event loop must move them to a thread. Local-disk calls are a stat().
    network: bool

    def put(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        """Store the chunks atomically: either the whole object exists afterwards or
        nothing does (an exception from ``chunks`` leaves no trace)."""

    def open(self, key: str) -> Blob:
        """The object's size, etag and readers; ``ObjectNotFound`` if absent."""

    def stat(self, key: str) -> int:
        """Size in bytes; ``ObjectNotFound`` if absent."""

    def stream(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``start..end`` (inclusive), in bounded chunks."""

    def delete(self, key: str) -> None:
        """Remove the object; absent objects are not an error."""

    def iter_keys(self) -> Iterator[tuple[str, float]]:
        """Every stored key with its modification time (for garbage collection)."""

    def clean_temp(self, cutoff: float) -> int:
        """Remove what writes interrupted by a crash left behind (a local temp
        file, an incomplete S3 multipart upload) if it was started or last
        written before ``cutoff`` (epoch seconds); return how many. The caller
        puts ``cutoff`` further back than any write can last, so writes in
        flight, of this process or another, are never touched."""

    def file_name(self, key: str) -> str | None:
        """The object's plain file on this machine, computed without any I/O,
        for the server to open and send itself (the RSGI fast path); ``None``
        when the bytes are not a plain local file (remote, or sealed)."""

    def local_path(self, key: str) -> Path | None:
        """A filesystem path the edge may hand to the server for zero-copy sending,
        or ``None`` for remote backends."""

    def presigned_url(
        self, key: str, ttl: int, *, content_type: str, disposition: str, method: str = "GET"
    ) -> str | None:
        """A URL the object store itself serves for ``ttl`` seconds to ``method``
        (GET or HEAD: the method is signed too), answering with exactly this
        Content-Type and Content-Disposition, or ``None`` for "serve through us"
        (backends without one, like the local disk)."""
