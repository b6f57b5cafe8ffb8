"""Encryption at rest (storage/sealed.py, media/encryption.py) on local files
and S3 (SeaweedFS), with the key table on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from mediagate.core import sids
from mediagate.media import encryption
from mediagate.runtime.context import Runtime
from mediagate.storage import MediaStore, media_key
from mediagate.storage.local import LocalStore
from mediagate.storage.s3 import S3Store
from mediagate.storage.sealed import TAG, MasterKeys, SealedStore, SealError
from tests.support.sealed import make_keys, sealed
from tests.support.seaweed import ObjectStore

CHUNK = 1024  # small chunks: many boundaries in a small object


@pytest.fixture(params=["local", "s3"])
def inner(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStore:
    if request.param == "local":
        return LocalStore(tmp_path / "media")
    object_store: ObjectStore = request.getfixturevalue("object_store")
    return S3Store(object_store.new_bucket(), "media", endpoint_url=object_store.endpoint_url)


@pytest.fixture
def store(inner: MediaStore, db_url: str) -> SealedStore:
    return sealed(inner, db_url, chunk_size=CHUNK)


def new_key() -> str:
    return media_key(sids.new_sid(sids.ACCOUNT), sids.new_sid(sids.MEDIA))


def raw(store: SealedStore, key: str) -> bytes:
    """The object as the backend holds it: from the file on disk, or a plain S3 GET."""
    if isinstance(store.inner, LocalStore):
        path = store.inner.local_path(key)
        assert path is not None
        return path.read_bytes()
    assert isinstance(store.inner, S3Store)
    s3 = store.inner
    return s3.client.get_object(Bucket=s3.bucket, Key=s3._name(key))["Body"].read()


def test_round_trip_and_no_plaintext_at_rest(store: SealedStore) -> None:
    key = new_key()
    # Recognisable plaintext: a repeated marker would survive any non-encryption.
    body = b"PLAINTEXT-MARKER " * 700 + os.urandom(333)
    stored = store.put(key, [body[:5000], body[5000:]])
    assert (stored.size, stored.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    at_rest = raw(store, key)
    assert b"PLAINTEXT-MARKER" not in at_rest
    assert len(at_rest) == len(body) + TAG * -(-len(body) // CHUNK)
    blob = store.open(key)
    # Sealed objects never take the zero-copy paths (sendfile, X-Accel-Redirect).
    assert (blob.size, blob.local_path, blob.relative_path) == (len(body), None, None)
    assert store.local_path(key) is None
    assert b"".join(blob.stream()) == body
    assert store.stat(key) == len(body)
    assert store.presigned_url(key, 60, content_type="text/plain", disposition="inline") is None


def test_ranges_at_chunk_boundaries(store: SealedStore) -> None:
    key = new_key()
    body = os.urandom(5 * CHUNK + 17)
    store.put(key, [body])
    blob = store.open(key)
    edges = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK - 1, 5 * CHUNK, len(body) - 1]
    offsets = st.one_of(st.sampled_from(edges), st.integers(0, len(body) + 5))

    @hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(offsets, st.one_of(st.none(), offsets))
    def check(start: int, end: int | None) -> None:
        expected = body[start:] if end is None else body[start : end + 1]
        assert b"".join(blob.stream(start, end)) == expected

    check()


def test_ranged_read_fetches_only_the_chunks_it_needs(store: SealedStore) -> None:
    key = new_key()
    store.put(key, [os.urandom(10 * CHUNK)])
    asked: list[tuple[int, int | None]] = []
    real = store.inner.stream

    def spy(k: str, start: int = 0, end: int | None = None):  # type: ignore[no-untyped-def]
        asked.append((start, end))
        return real(k, start, end)

    store.inner.stream = spy  # type: ignore[method-assign]
    list(store.open(key).stream(3 * CHUNK + 5, 4 * CHUNK + 2))
    step = CHUNK + TAG
    assert asked == [(3 * step, 5 * step - 1)]


def test_empty_object_is_sealed_too(store: SealedStore) -> None:
    key = new_key()
    store.put(key, [])
    assert len(raw(store, key)) == TAG
    assert store.open(key).size == 0 and b"".join(store.stream(key)) == b""


def _rewrite(store: SealedStore, key: str, data: bytes) -> None:
    store.inner.put(key, [data])  # behind the sealed store's back, as an attacker with the disk would


@pytest.mark.parametrize("where", [0, CHUNK + TAG + 3, -1])
def test_a_flipped_byte_is_an_error_never_wrong_bytes(store: SealedStore, where: int) -> None:
    key = new_key()
    body = os.urandom(3 * CHUNK + 10)
    store.put(key, [body])
    data = bytearray(raw(store, key))
    data[where] ^= 0x01
    _rewrite(store, key, bytes(data))
    with pytest.raises(SealError):
        b"".join(store.open(key).stream())
    chunk = (where % len(data)) // (CHUNK + TAG)
    with pytest.raises(SealError):
        b"".join(store.open(key).stream(chunk * CHUNK, chunk * CHUNK))
    # Chunks that were not touched still read (and only they).
    other = 0 if chunk else 1
    assert b"".join(store.open(key).stream(other * CHUNK, other * CHUNK + 9)) == body[other * CHUNK :][:10]


def test_reordered_truncated_or_swapped_chunks_fail(store: SealedStore) -> None:
    key, other = new_key(), new_key()
    body = os.urandom(3 * CHUNK)
    store.put(key, [body])
    store.put(other, [os.urandom(3 * CHUNK)])
    step = CHUNK + TAG
    data = raw(store, key)
    # Two chunks swapped.
    _rewrite(store, key, data[step : 2 * step] + data[:step] + data[2 * step :])
    with pytest.raises(SealError):
        b"".join(store.open(key).stream())
    # The last chunk dropped (and the size check bypassed by padding with a copy of chunk 0).
    _rewrite(store, key, data[: 2 * step] + data[:step])
    with pytest.raises(SealError):
        b"".join(store.open(key).stream(2 * CHUNK))
    # Simply truncated.
    _rewrite(store, key, data[: 2 * step])
    with pytest.raises(SealError):
        store.open(key)
    # Another object's ciphertext (same length) under this key.
    _rewrite(store, key, raw(store, other))
    with pytest.raises(SealError):
        b"".join(store.open(key).stream())


def test_plaintext_objects_from_before_keep_working(store: SealedStore) -> None:
    key = new_key()
    store.inner.put(key, [b"stored before encryption was on"])
    blob = store.open(key)
    assert b"".join(blob.stream()) == b"stored before encryption was on"
    # The backend's own Blob: a local plaintext file keeps its zero-copy path.
    assert blob.local_path == store.inner.local_path(key)
    store.delete(key)
    assert list(store.iter_keys()) == []


def test_rewrap_after_rotation_does_not_touch_objects(store: SealedStore) -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    table = store.table
    assert isinstance(table, encryption.DbKeyTable)
    before_rotation = SealedStore(store.inner, MasterKeys({"k1": k1}, "k1"), table, chunk_size=CHUNK)
    keys = [new_key() for _ in range(3)]
    bodies = {key: os.urandom(2 * CHUNK + 1) for key in keys}
    for key in keys:
        before_rotation.put(key, [bodies[key]])
    at_rest = {key: raw(store, key) for key in keys}
    # k2 becomes active; k1 stays configured until the rewrap is done.
    both = MasterKeys({"k1": k1, "k2": k2}, "k2")
    seen: list[int] = []
    result = encryption.rewrap(table.sessions, both, batch=2, progress=seen.append)
    assert (result.rewrapped, result.remaining) == (3, 0)
    assert seen == [2, 3]
    assert encryption.key_ids_in_use(table.sessions) == {"k2": 3}
    assert {key: raw(store, key) for key in keys} == at_rest  # no object rewritten
    # k1 can go now.
    after = SealedStore(store.inner, MasterKeys({"k2": k2}, "k2"), table, chunk_size=CHUNK)
    assert all(b"".join(after.stream(key)) == bodies[key] for key in keys)
    # Without k1 nothing sealed before the rewrap would have opened.
    with pytest.raises(SealError, match="'k2'"):
        before_rotation.open(keys[0])
    # Run again (as after an interruption): nothing left to do.
    assert encryption.rewrap(table.sessions, both) == encryption.RewrapResult(0, 0)


def test_missing_master_key_fails_at_start(runtime: Runtime) -> None:
    inner = runtime.store
    on = runtime.settings.model_copy(
        update={"encryption": "on", "master_keys": f"k1:{secrets.token_hex(32)}"}
    )
    store = encryption.wrap_store(on, runtime.sessions, runtime.keyring, inner)
    assert isinstance(store, SealedStore)
    store.put(new_key(), [b"sealed"])
    # Turned off but the key still configured: sealed objects still open.
    kept = runtime.settings.model_copy(update={"master_keys": on.master_keys})
    assert isinstance(encryption.wrap_store(kept, runtime.sessions, runtime.keyring, inner), SealedStore)
    # Turned off and the key gone: refused, naming the key (never its value).
    with pytest.raises(encryption.EncryptionConfigError, match="'k1' \\(1 objects\\)") as info:
        encryption.wrap_store(runtime.settings, runtime.sessions, runtime.keyring, inner)
    assert on.master_keys.split(":")[1] not in str(info.value)


def test_off_and_nothing_sealed_is_the_plain_backend(runtime: Runtime) -> None:
    assert not isinstance(runtime.store, SealedStore)
    assert (
        encryption.wrap_store(runtime.settings, runtime.sessions, runtime.keyring, runtime.store)
        is runtime.store
    )


def test_master_key_settings_are_checked() -> None:
    from mediagate.core.crypto import parse_master_keys

    key = secrets.token_hex(32)
    assert parse_master_keys(f"a:{key}, b-2:{key}") == {"a": bytes.fromhex(key), "b-2": bytes.fromhex(key)}
    for bad in (f"a:{key[:-2]}", f"a:{key},a:{key}", key, f"a b:{key}"):
        with pytest.raises(ValueError) as info:
            parse_master_keys(bad)
        assert key[:16] not in str(info.value)
    assert make_keys("x").active == "x"


def _volume_files_contain(object_store: ObjectStore, needle: bytes) -> bool:
    """Whether SeaweedFS's own files on disk hold ``needle`` (what a stolen disk shows)."""
    data = object_store.log_path.parent / "data"
    return any(needle in path.read_bytes() for path in data.rglob("*") if path.is_file())


@pytest.mark.parametrize("size", [1000, 6 * 1024 * 1024])  # one PUT, and a multipart upload
def test_presign_delivery_asks_the_store_for_sse_s3(object_store: ObjectStore, size: int) -> None:
    """What presign delivery relies on: the store applies SSE-S3 on both upload
    shapes (its volume files hold no plaintext) and still answers plaintext to
    an allowed GET (which is why SSE-S3 does not protect a readable bucket)."""
    bucket = object_store.new_bucket()
    s3 = S3Store(bucket, "media", endpoint_url=object_store.endpoint_url, part_size=5 * 1024 * 1024, sse=True)
    plain = S3Store(bucket, "plain", endpoint_url=object_store.endpoint_url)
    # Incompressible, with a marker every 80 bytes that no chunking can split everywhere.
    tag = secrets.token_hex(8).encode()
    body = b"".join(tag + os.urandom(64) for _ in range(size // 80 + 1))[:size]
    key = new_key()
    s3.put(key, [body[: size // 2], body[size // 2 :]])
    head = s3.client.head_object(Bucket=s3.bucket, Key=s3._name(key))
    assert head.get("ServerSideEncryption") == "AES256"
    assert b"".join(s3.stream(key)) == body
    # The control: the same bytes without SSE are found on the store's disk.
    other_tag = secrets.token_hex(8).encode()
    plain.put(new_key(), [other_tag + os.urandom(64) + other_tag])
    assert _volume_files_contain(object_store, other_tag)
    assert not _volume_files_contain(object_store, tag)


def test_a_bad_master_key_setting_is_reported_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from mediagate.core import settings as settings_mod

    monkeypatch.setenv("MEDIAGATE_MASTER_KEYS", "k1:" + "ab" * 31)  # 31 bytes: one short
    with pytest.raises(settings_mod.SettingsError) as info:
        settings_mod.load()
    assert "MEDIAGATE_MASTER_KEYS is not valid: master key 'k1' must be 32 bytes" in str(info.value)
    assert "abab" not in str(info.value)


def test_a_put_over_a_sealed_object_replaces_its_record(store: SealedStore) -> None:
    key = new_key()
    store.put(key, [b"first" * 1000])
    store.put(key, [b"second"])
    assert b"".join(store.stream(key)) == b"second"
    table = store.table
    assert isinstance(table, encryption.DbKeyTable)
    assert encryption.key_ids_in_use(table.sessions) == {"k1": 1}
    store.delete(key)
    assert encryption.key_ids_in_use(table.sessions) == {}
