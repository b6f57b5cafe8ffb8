"""One contract, every backend: the local disk and S3 (a real SeaweedFS, not a mock),
each also sealed (encryption at rest, ``storage/sealed.py``).

What the rest of mediagate relies on from ``MediaStore``: atomic puts that
stream (memory bounded by one part, not by the object), ranged reads, deletes
that take effect at once, provider errors translated into ``ObjectNotFound``,
and a listing for garbage collection.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mediagate.core import sids
from mediagate.storage import Blob, MediaStore, ObjectNotFound, media_key
from mediagate.storage.local import LocalStore
from mediagate.storage.s3 import S3Store
from mediagate.storage.sealed import SealedStore
from tests.support.sealed import sealed as seal_store
from tests.support.seaweed import ObjectStore

MiB = 1024 * 1024
PART = 5 * MiB  # the smallest part S3 allows, so multipart tests stay small


@pytest.fixture(scope="module")
def bucket(object_store: ObjectStore) -> str:
    return object_store.new_bucket()


@pytest.fixture(params=["local", "s3", "sealed-local", "sealed-s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStore:
    backend = request.param.removeprefix("sealed-")
    inner: MediaStore
    if backend == "local":
        inner = LocalStore(tmp_path / "media")
    else:
        object_store: ObjectStore = request.getfixturevalue("object_store")
        bucket: str = request.getfixturevalue("bucket")
        # A fresh prefix per test keeps listings independent within one bucket.
        inner = S3Store(
            bucket, f"t{secrets.token_hex(4)}/media", endpoint_url=object_store.endpoint_url, part_size=PART
        )
    if request.param.startswith("sealed-"):
        # The key table on SQLite here; test_encryption runs it on both databases.
        return seal_store(inner, f"sqlite:///{tmp_path / 'keys.db'}")
    return inner


def new_key() -> str:
    return media_key(sids.new_sid(sids.ACCOUNT), sids.new_sid(sids.MEDIA))


def pattern(size: int) -> Iterator[bytes]:
    """``size`` bytes in 64 KiB chunks whose content depends on the offset."""
    for offset in range(0, size, 65536):
        n = min(65536, size - offset)
        yield ((offset // 65536).to_bytes(4, "big") * 16384)[:n]


def test_put_open_stream_delete(store: MediaStore) -> None:
    key = new_key()
    body = os.urandom(1000)
    stored = store.put(key, [body[:300], body[300:]])
    assert (stored.key, stored.size, stored.sha256) == (key, 1000, hashlib.sha256(body).hexdigest())
    blob = store.open(key)
    assert isinstance(blob, Blob)
    assert (blob.key, blob.size) == (key, 1000)
    assert blob.etag
    assert b"".join(blob.stream()) == body
    assert store.stat(key) == 1000
    store.delete(key)
    with pytest.raises(ObjectNotFound):
        store.open(key)
    with pytest.raises(ObjectNotFound):
        store.stat(key)
    with pytest.raises(ObjectNotFound):
        list(store.stream(key))


def test_empty_object(store: MediaStore) -> None:
    key = new_key()
    stored = store.put(key, [])
    assert (stored.size, stored.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert store.open(key).size == 0
    assert b"".join(store.stream(key)) == b""


def test_overwrite_replaces_content_and_etag(store: MediaStore) -> None:
    key = new_key()
    store.put(key, [b"first version"])
    first = store.open(key).etag
    store.put(key, [b"second"])
    blob = store.open(key)
    assert blob.size == 6 and b"".join(blob.stream()) == b"second"
    assert blob.etag != first


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 0, slice(0, 1)),
        (0, 99, slice(0, 100)),
        (100, None, slice(100, None)),
        (999, 999, slice(999, 1000)),  # the last byte is inclusive
        (990, 5000, slice(990, 1000)),  # an end past the object stops at its end
        (1000, None, slice(1000, 1000)),  # starting at the size yields nothing
        (500, 499, slice(0, 0)),
    ],
)
def test_ranged_stream(store: MediaStore, start: int, end: int | None, expected: slice) -> None:
    key = new_key()
    body = bytes(range(256)) * 3 + os.urandom(232)
    store.put(key, [body])
    assert b"".join(store.open(key).stream(start, end)) == body[expected]
    assert b"".join(store.stream(key, start, end)) == body[expected]


def test_reads_come_in_bounded_chunks(store: MediaStore) -> None:
    key = new_key()
    body = os.urandom(3 * 256 * 1024 + 123)
    store.put(key, [body])
    chunks = list(store.open(key).stream())
    assert len(chunks) > 1 and all(len(c) <= 256 * 1024 for c in chunks)
    assert b"".join(chunks) == body


def test_multipart_object_is_intact(store: MediaStore) -> None:
    """Larger than two S3 parts, in chunks that do not line up with part boundaries."""
    key = new_key()
    size = 2 * PART + 12345
    whole = b"".join(pattern(size))
    stored = store.put(key, pattern(size))
    assert stored.size == size and stored.sha256 == hashlib.sha256(whole).hexdigest()
    assert store.open(key).size == size
    assert hashlib.sha256(b"".join(store.stream(key))).digest() == hashlib.sha256(whole).digest()
    # A range across the first part boundary.
    assert b"".join(store.stream(key, PART - 10, PART + 9)) == whole[PART - 10 : PART + 10]


def test_put_memory_does_not_grow_with_the_object(store: MediaStore) -> None:
    """40 MiB stored with a peak of well under two parts of Python memory (a
    buffered put would hold all 40 MiB)."""
    key = new_key()
    size = 8 * PART
    tracemalloc.start()
    try:
        stored = store.put(key, pattern(size))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == size
    assert peak < 3 * PART, f"peak {peak / MiB:.1f} MiB for a {size / MiB:.0f} MiB object"


class Boom(Exception):
    pass


def test_failed_put_leaves_no_object(store: MediaStore) -> None:
    key = new_key()

    def failing() -> Iterator[bytes]:
        yield from pattern(PART + MiB)  # past the first part: a multipart upload is in flight on S3
        raise Boom("the upstream connection dropped")

    with pytest.raises(Boom):
        store.put(key, failing())
    with pytest.raises(ObjectNotFound):
        store.open(key)
    assert [k for k, _ in store.iter_keys()] == []
    backend = store.inner if isinstance(store, SealedStore) else store
    if isinstance(backend, S3Store):  # and the upload was aborted, not left to accrue storage
        uploads = backend.client.list_multipart_uploads(Bucket=backend.bucket, Prefix=backend.prefix)
        assert uploads.get("Uploads", []) == []


def test_failed_overwrite_keeps_the_old_object(store: MediaStore) -> None:
    key = new_key()
    store.put(key, [b"the good bytes"])

    def failing() -> Iterator[bytes]:
        yield b"half"
        raise Boom("dropped")

    with pytest.raises(Boom):
        store.put(key, failing())
    assert b"".join(store.stream(key)) == b"the good bytes"


def test_delete_missing_key_is_fine_and_only_removes_its_object(store: MediaStore) -> None:
    store.delete(new_key())
    keep, drop = new_key(), new_key()
    store.put(keep, [b"keep"])
    store.put(drop, [b"drop"])
    store.delete(drop)
    assert b"".join(store.stream(keep)) == b"keep"
    with pytest.raises(ObjectNotFound):
        store.open(drop)


def test_iter_keys_lists_every_object_with_its_age(store: MediaStore) -> None:
    keys = {new_key() for _ in range(5)}
    for key in keys:
        store.put(key, [key.encode()])
    listed = dict(store.iter_keys())
    assert set(listed) == keys
    assert all(abs(time.time() - mtime) < 3600 for mtime in listed.values())


def test_unknown_keys_are_not_found(store: MediaStore) -> None:
    key = new_key()
    with pytest.raises(ObjectNotFound):
        store.open(key)
    with pytest.raises(ObjectNotFound):
        store.stat(key)
    with pytest.raises(ObjectNotFound):
        list(store.stream(key))


def test_presigned_url(store: MediaStore) -> None:
    key = new_key()
    body = os.urandom(2000)
    store.put(key, [body])
    disposition = "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    url = store.presigned_url(key, 60, content_type="application/pdf", disposition=disposition)
    if isinstance(store, LocalStore | SealedStore):
        # The local disk is always served through our edge, and so is a sealed
        # object (the store would hand out ciphertext).
        assert url is None
        return
    assert url is not None
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.content == body
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"] == disposition
    # The overrides are inside the signature: changing one is refused.
    tampered = url.replace("response-content-type=application%2Fpdf", "response-content-type=text%2Fhtml")
    assert tampered != url
    assert requests.get(tampered, timeout=30).status_code == 403
    ranged = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=30)
    assert ranged.status_code == 206 and ranged.content == body[10:20]


def test_s3_objects_live_under_the_prefix(object_store: ObjectStore, bucket: str) -> None:
    prefix = f"p{secrets.token_hex(4)}"
    inside = S3Store(bucket, prefix, endpoint_url=object_store.endpoint_url)
    other = S3Store(bucket, prefix + "x", endpoint_url=object_store.endpoint_url)
    key = new_key()
    inside.put(key, [b"x"])
    names = [
        o["Key"] for o in object_store.client().list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    ]
    assert names == [f"{prefix}/{key}"]
    assert list(other.iter_keys()) == []
    with pytest.raises(ObjectNotFound):
        other.open(key)
    # Objects in the bucket that are not media keys are ignored, never collected.
    object_store.client().put_object(Bucket=bucket, Key=f"{prefix}/notes.txt", Body=b"hi")
    assert [k for k, _ in inside.iter_keys()] == [key]


def _backend(store: MediaStore) -> MediaStore:
    return store.inner if isinstance(store, SealedStore) else store


def leave_interrupted_write(store: MediaStore, key: str) -> None:
    """What a kill -9 in the middle of ``put(key, ...)`` leaves: on S3 a
    multipart upload with one part uploaded and neither completed nor aborted,
    on the local disk a partial temp file."""
    backend = _backend(store)
    if isinstance(backend, S3Store):
        name = f"{backend.prefix}/{key}"
        upload = backend.client.create_multipart_upload(Bucket=backend.bucket, Key=name)
        backend.client.upload_part(
            Bucket=backend.bucket, Key=name, UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * PART
        )
    else:
        assert isinstance(backend, LocalStore)
        (backend.tmp / f"put-{secrets.token_hex(4)}").write_bytes(b"half an object")


def interrupted_writes(store: MediaStore) -> list[str]:
    backend = _backend(store)
    if isinstance(backend, S3Store):
        uploads = backend.client.list_multipart_uploads(Bucket=backend.bucket, Prefix=f"{backend.prefix}/")
        return sorted(u["Key"] for u in uploads.get("Uploads", []))
    assert isinstance(backend, LocalStore)
    return sorted(p.name for p in backend.tmp.iterdir())


def test_clean_temp_removes_interrupted_writes_started_before_the_cutoff(store: MediaStore) -> None:
    done = new_key()
    store.put(done, pattern(PART + 10))  # a multipart upload on S3, completed
    before = time.time()
    leave_interrupted_write(store, new_key())
    after = time.time()
    assert len(interrupted_writes(store)) == 1
    # A cutoff before the write started: it may be in flight (another process's), kept.
    assert store.clean_temp(before - 60) == 0
    assert len(interrupted_writes(store)) == 1
    assert store.clean_temp(after + 2) == 1
    assert interrupted_writes(store) == []
    assert store.clean_temp(after + 2) == 0
    # The completed object is untouched.
    assert hashlib.sha256(b"".join(store.stream(done))).digest() == (
        hashlib.sha256(b"".join(pattern(PART + 10))).digest()
    )
    assert [k for k, _ in store.iter_keys()] == [done]


def test_s3_clean_temp_pages_and_keeps_to_its_prefix(object_store: ObjectStore, bucket: str) -> None:
    prefix = f"c{secrets.token_hex(4)}"
    # A page of two: three uploads of ours need two list requests.
    store = S3Store(bucket, prefix, endpoint_url=object_store.endpoint_url, part_size=PART, list_page_size=2)
    neighbour = S3Store(bucket, prefix + "x", endpoint_url=object_store.endpoint_url, part_size=PART)
    for _ in range(3):
        leave_interrupted_write(store, new_key())
    leave_interrupted_write(neighbour, new_key())
    client = object_store.client()
    # A multipart upload under our prefix that is not a media key: not ours to abort.
    foreign = client.create_multipart_upload(Bucket=bucket, Key=f"{prefix}/backup.tar")
    lists: list[object] = []
    store.client.meta.events.register("before-call.s3.ListMultipartUploads", lambda **kw: lists.append(kw))
    assert store.clean_temp(time.time() + 2) == 3
    assert len(lists) >= 2
    left = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix)["Uploads"]
    assert sorted(u["Key"] for u in left) == sorted([f"{prefix}/backup.tar", *interrupted_writes(neighbour)])
    assert len(interrupted_writes(neighbour)) == 1
    client.abort_multipart_upload(Bucket=bucket, Key=f"{prefix}/backup.tar", UploadId=foreign["UploadId"])
