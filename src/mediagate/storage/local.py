"""Media files on the local disk, sharded by media sid.

Writes go to a temporary file in the same filesystem, are fsynced and then
renamed into place, so a crash or a failed fetch never leaves a half-written
object under its real name. Every path is checked to stay inside the root
(a path jail), even though keys are validated before they get here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from mediagate.core.crashpoints import crash_point
from mediagate.core.fsmodes import FILE_MODE, private_dir
from mediagate.storage.base import Blob, InvalidKey, ObjectNotFound, StoredObject, check_key

CHUNK = 256 * 1024


class LocalStore:
    network = False

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.tmp = self.root / ".tmp"
        private_dir(self.root)
        private_dir(self.tmp)

    def file_name(self, key: str) -> str:
        """The object's file, computed without touching the disk (``_path``
        resolves symlinks: system calls). Keys are checked (``check_key``: sids
        and hex only, no separators to escape with) and the root is resolved
        once, so the join stays inside the root. For the RSGI fast path, which
        hands the name to granian to open and send off the event loop."""
        account, media = check_key(key).split("/")
        return f"{self.root}/{account}/{media[2:4]}/{media}"

    def _path(self, key: str) -> Path:
        account, media = check_key(key).split("/")
        path = (self.root / account / media[2:4] / media).resolve()
        if not path.is_relative_to(self.root):
            raise ObjectNotFound(key)
        return path

    def put(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        final = self._path(key)
        if not final.parent.is_dir():  # account and shard folders: 0700 like the root
            private_dir(final.parent.parent)
            private_dir(final.parent)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix="put-")
        try:
            os.fchmod(fd, FILE_MODE)  # mkstemp's 0600 already; explicit, whatever the platform
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if size == len(chunk):
                        fh.flush()
                        crash_point("mid-fetch")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _fsync_dir(final.parent)
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    def open(self, key: str) -> Blob:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        return Blob(
            key=key,
            size=st.st_size,
            etag=f"{st.st_size:x}-{st.st_mtime_ns:x}",
            reader=lambda start, end: self.stream(key, start, end),
            local_path=path,
            relative_path=path.relative_to(self.root).as_posix(),
            local_stat=st,
        )

    def stat(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    def stream(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        try:
            fh = self._path(key).open("rb")
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        with fh:
            fh.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                chunk = fh.read(CHUNK if remaining is None else min(CHUNK, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def iter_keys(self) -> Iterator[tuple[str, float]]:
        for path in self.root.glob("AC*/*/ME*"):
            key = f"{path.parent.parent.name}/{path.name}"
            try:
                yield check_key(key), path.stat().st_mtime
            except (InvalidKey, FileNotFoundError):
                continue

    def clean_temp(self, cutoff: float) -> int:
        """Remove temp files last written before ``cutoff`` (epoch seconds):
        what a crash mid-write leaves behind. A write in progress touches its
        file with every chunk, and no ingest lasts as long as the grace the
        caller derives ``cutoff`` from, so in-flight writes are never removed
        (also not those of other processes sharing the directory)."""
        removed = 0
        for path in self.tmp.glob("put-*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # finished (renamed) or removed by another process meanwhile
        return removed

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def presigned_url(
        self, key: str, ttl: int, *, content_type: str, disposition: str, method: str = "GET"
    ) -> str | None:
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
