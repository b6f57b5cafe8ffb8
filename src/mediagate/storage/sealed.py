"""Encryption at rest: objects sealed in AES-256-GCM chunks (docs/encryption.md).

Each object gets its own random 256-bit data key. The plaintext is cut into
fixed-size chunks; chunk ``i`` is sealed with nonce ``i`` (12 bytes, big
endian: unique because the key is never used for a second object) and
associated data naming the format, the object's key, ``i`` and whether it is
the last chunk. So a chunk cannot be moved to another position or object,
and dropping trailing chunks fails on the missing "last" flag. A ciphertext
chunk is ``chunk_size + 16`` bytes (the GCM tag), which makes the ciphertext
offset of any plaintext byte arithmetic: a Range request reads and decrypts
only the chunks it covers.

The data key, wrapped (AES-GCM) by a master key, lives in the database with
the master key's id, the chunk size and the plaintext size
(``SealedObject``), not in the object: rotating the master key re-wraps those
rows and never rewrites an object (``mediagate encryption rewrap``). An
object without such a row is a plaintext object from before encryption was
turned on, and is served as it is (mixed stores).

``SealedStore`` wraps any backend. Its sealed ``Blob`` has no local path,
which is the one place that takes sealed objects off the zero-copy paths
(FileResponse/sendfile, X-Accel-Redirect) and onto ``blob_response``;
plaintext objects keep the backend's own Blob.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mediagate.storage.base import Blob, MediaStore, StorageError, StoredObject

CHUNK_SIZE = 64 * 1024
TAG = 16
_FORMAT = b"mediagate-seal-v1\0"
_WRAP = b"mediagate-dek-v1\0"


class SealError(StorageError):
    """A sealed object failed authentication (tampered, truncated, swapped) or
    its master key is missing. Never answered with bytes."""


@dataclass(frozen=True)
class KeyRecord:
    """What the database holds per sealed object."""

    key_id: str
    wrapped_key: bytes
    chunk_size: int
    size: int  # plaintext bytes


class KeyTable(Protocol):
    """Where the wrapped data keys live (the database; see media/encryption.py)."""

    def get(self, key: str) -> KeyRecord | None: ...

    def save(self, key: str, record: KeyRecord) -> None: ...

    def delete(self, key: str) -> None: ...


class MasterKeys:
    """The master keys by id; new data keys are wrapped by ``active``."""

    def __init__(self, keys: dict[str, bytes], active: str) -> None:
        for key_id, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"master key {key_id!r} must be 32 bytes (64 hex digits)")
        if active not in keys:
            raise ValueError(f"the active master key {active!r} is not in the keyring")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active = active

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def wrap(self, data_key: bytes, object_key: str, key_id: str | None = None) -> tuple[str, bytes]:
        key_id = key_id or self.active
        nonce = os.urandom(12)
        # The object's key in the associated data: a wrapped key copied onto
        # another object's row does not unwrap there.
        sealed = self._keys[key_id].encrypt(nonce, data_key, _WRAP + object_key.encode())
        return key_id, nonce + sealed

    def unwrap(self, key_id: str, wrapped: bytes, object_key: str) -> bytes:
        aead = self._keys.get(key_id)
        if aead is None:
            raise SealError(
                f"sealed object {object_key} needs master key {key_id!r}, which is not configured"
            )
        try:
            return aead.decrypt(wrapped[:12], wrapped[12:], _WRAP + object_key.encode())
        except InvalidTag:
            raise SealError(
                f"the data key of {object_key} does not unwrap with master key {key_id!r}"
            ) from None


def _aad(object_key: str, index: int, last: bool) -> bytes:
    return _FORMAT + object_key.encode() + struct.pack(">QB", index, last)


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def chunk_count(size: int, chunk_size: int) -> int:
    # An empty object is one empty (authenticated) last chunk, so that even
    # truncating a sealed object to nothing is detected.
    return max(1, -(-size // chunk_size))


def ciphertext_size(size: int, chunk_size: int) -> int:
    return size + TAG * chunk_count(size, chunk_size)


def seal_chunks(
    chunks: Iterable[bytes], data_key: bytes, object_key: str, chunk_size: int, sink: hashlib._Hash
) -> Iterator[bytes]:
    """Ciphertext chunks of the plaintext ``chunks``; the plaintext goes into
    ``sink`` (a digest) as it passes. One chunk is held back until the next
    byte arrives: only then is it known not to be the last."""
    aead = AESGCM(data_key)
    buffer = bytearray()
    index = 0
    for chunk in chunks:
        sink.update(chunk)
        buffer += chunk
        offset = 0
        while len(buffer) - offset > chunk_size:
            plain = buffer[offset : offset + chunk_size]
            yield aead.encrypt(_nonce(index), plain, _aad(object_key, index, False))
            offset += chunk_size
            index += 1
        del buffer[:offset]  # once per input chunk: a large input is not shifted per output chunk
    yield aead.encrypt(_nonce(index), bytes(buffer), _aad(object_key, index, True))


def open_range(
    ciphertext: Iterable[bytes], data_key: bytes, object_key: str, record: KeyRecord, start: int, end: int
) -> Iterator[bytes]:
    """Plaintext bytes ``start..end`` (inclusive, within the object) from the
    ciphertext stream that begins at the first chunk covering ``start``."""
    aead = AESGCM(data_key)
    size, step = record.chunk_size, record.chunk_size + TAG
    last = chunk_count(record.size, size) - 1
    last_len = ciphertext_size(record.size, size) - last * step
    index = start // size
    skip = start - index * size
    remaining = end - start + 1
    buffer = bytearray()
    for piece in ciphertext:
        buffer += piece
        offset = 0
        while remaining > 0 and index <= last:
            take = step if index < last else last_len
            if len(buffer) - offset < take:
                break
            sealed = buffer[offset : offset + take]
            offset += take
            try:
                plain = aead.decrypt(_nonce(index), sealed, _aad(object_key, index, index == last))
            except InvalidTag:
                raise SealError(f"sealed object {object_key}: chunk {index} fails authentication") from None
            out = plain[skip : skip + remaining]
            skip = 0
            remaining -= len(out)
            index += 1
            if out:
                yield out
        del buffer[:offset]
        if remaining <= 0:
            return
    if remaining > 0:
        # Fewer ciphertext bytes than the record promises: truncated.
        raise SealError(f"sealed object {object_key} is truncated")


class SealedStore:
    """A ``MediaStore`` that seals new objects (when ``seal_new``) and opens
    sealed and plaintext objects alike. Every call looks up the key table, so
    this store always counts as ``network`` (callers run it in a thread)."""

    network = True

    def __init__(
        self,
        inner: MediaStore,
        keys: MasterKeys,
        table: KeyTable,
        *,
        seal_new: bool = True,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.inner = inner
        self.keys = keys
        self.table = table
        self.seal_new = seal_new
        self.chunk_size = chunk_size

    def put(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        if not self.seal_new:
            self.table.delete(key)  # a stale record would make the plaintext unreadable
            return self.inner.put(key, chunks)
        data_key = AESGCM.generate_key(bit_length=256)
        digest = hashlib.sha256()
        counted = _Counter()
        self.inner.put(key, seal_chunks(counted.count(chunks), data_key, key, self.chunk_size, digest))
        size = counted.total
        key_id, wrapped = self.keys.wrap(data_key, key)
        try:
            self.table.save(key, KeyRecord(key_id, wrapped, self.chunk_size, size))
        except BaseException:
            # Without its record the object is unreadable (and would pass for
            # plaintext): remove it rather than leave it.
            self.inner.delete(key)
            raise
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    def open(self, key: str) -> Blob:
        record = self.table.get(key)
        blob = self.inner.open(key)  # ObjectNotFound if the bytes are gone
        if record is None:
            return blob  # plaintext: the backend's own Blob, zero-copy paths included
        if blob.size != ciphertext_size(record.size, record.chunk_size):
            raise SealError(f"sealed object {key} has {blob.size} bytes, not what its record says")
        data_key = self.keys.unwrap(record.key_id, record.wrapped_key, key)
        return Blob(
            key=key,
            size=record.size,
            # The ciphertext's etag changes with every put, as the plaintext's would.
            etag=blob.etag,
            reader=lambda start, end: self._read(key, record, data_key, start, end),
        )

    def _read(
        self, key: str, record: KeyRecord, data_key: bytes, start: int, end: int | None
    ) -> Iterator[bytes]:
        last_byte = record.size - 1
        end = last_byte if end is None else min(end, last_byte)
        if start > end:
            return
        step = record.chunk_size + TAG
        first, final = start // record.chunk_size, end // record.chunk_size
        cipher_end = min((final + 1) * step, ciphertext_size(record.size, record.chunk_size)) - 1
        ciphertext = self.inner.stream(key, first * step, cipher_end)
        yield from open_range(ciphertext, data_key, key, record, start, end)

    def stat(self, key: str) -> int:
        record = self.table.get(key)
        size = self.inner.stat(key)
        return size if record is None else record.size

    def stream(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        return self.open(key).stream(start, end)

    def delete(self, key: str) -> None:
        # The bytes first: a crash in between leaves a record without an
        # object (harmless), never a sealed object without its key.
        self.inner.delete(key)
        self.table.delete(key)

    def iter_keys(self) -> Iterator[tuple[str, float]]:
        return self.inner.iter_keys()

    def file_name(self, key: str) -> None:
        # Whether this object is sealed is a key-table lookup (I/O): never from the fast path.
        return None

    def local_path(self, key: str) -> Path | None:
        return None if self.table.get(key) is not None else self.inner.local_path(key)

    def presigned_url(
        self, key: str, ttl: int, *, content_type: str, disposition: str, method: str = "GET"
    ) -> str | None:
        # The object store would hand out ciphertext: sealed objects are served through us.
        if self.table.get(key) is not None:
            return None
        return self.inner.presigned_url(
            key, ttl, content_type=content_type, disposition=disposition, method=method
        )

    def clean_temp(self, cutoff: float) -> int:
        return self.inner.clean_temp(cutoff)


class _Counter:
    def __init__(self) -> None:
        self.total = 0

    def count(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.total += len(chunk)
            yield chunk
