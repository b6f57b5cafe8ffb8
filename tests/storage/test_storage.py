"""LocalStore against a real temporary directory."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediagate.core import sids
from mediagate.storage import ObjectNotFound, media_key
from mediagate.storage.base import InvalidKey
from mediagate.storage.local import CHUNK, LocalStore


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "media")


def new_key() -> str:
    return media_key(sids.new_sid(sids.ACCOUNT), sids.new_sid(sids.MEDIA))


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_stat_stream_delete(store: LocalStore) -> None:
    key = new_key()
    body = os.urandom(1000)
    stored = store.put(key, [body[:300], body[300:]])
    assert stored.key == key
    assert stored.size == 1000
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert store.stat(key) == 1000
    assert b"".join(store.stream(key)) == body
    store.delete(key)
    with pytest.raises(ObjectNotFound):
        store.stat(key)
    with pytest.raises(ObjectNotFound):
        list(store.stream(key))


def test_sha256_and_size_over_many_chunks(store: LocalStore) -> None:
    key = new_key()
    chunks = [os.urandom(n) for n in (0, 1, 4096, 0, CHUNK + 7, 13)]
    stored = store.put(key, iter(chunks))
    whole = b"".join(chunks)
    assert stored.size == len(whole) == store.stat(key)
    assert stored.sha256 == hashlib.sha256(whole).hexdigest()
    path = store.local_path(key)
    assert path is not None
    assert path.read_bytes() == whole


def test_empty_object(store: LocalStore) -> None:
    key = new_key()
    stored = store.put(key, [])
    assert stored.size == 0
    assert stored.sha256 == hashlib.sha256(b"").hexdigest()
    assert store.stat(key) == 0
    assert list(store.stream(key)) == []


def test_overwrite_replaces_content(store: LocalStore) -> None:
    key = new_key()
    store.put(key, [b"first version"])
    store.put(key, [b"second"])
    assert b"".join(store.stream(key)) == b"second"
    assert store.stat(key) == 6


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 0, slice(0, 1)),
        (0, 99, slice(0, 100)),
        (100, None, slice(100, None)),
        (990, 999, slice(990, 1000)),  # the last byte is inclusive
        (999, 999, slice(999, 1000)),
        (990, 5000, slice(990, 1000)),  # an end past the object stops at its end
        (1000, None, slice(1000, 1000)),  # starting at the size yields nothing
        (500, 499, slice(0, 0)),
    ],
)
def test_stream_ranges(store: LocalStore, start: int, end: int | None, expected: slice) -> None:
    key = new_key()
    body = bytes(range(256)) * 3 + os.urandom(232)
    assert len(body) == 1000
    store.put(key, [body])
    assert b"".join(store.stream(key, start, end)) == body[expected]


def test_stream_is_chunked_and_bounded(store: LocalStore) -> None:
    key = new_key()
    body = os.urandom(3 * CHUNK + 123)
    store.put(key, [body])
    chunks = list(store.stream(key))
    assert len(chunks) == 4
    assert all(len(c) <= CHUNK for c in chunks)
    assert b"".join(chunks) == body
    # A range spanning a chunk boundary, ending exactly at it.
    part = list(store.stream(key, CHUNK - 10, 2 * CHUNK - 1))
    assert all(len(c) <= CHUNK for c in part)
    assert b"".join(part) == body[CHUNK - 10 : 2 * CHUNK]


class Boom(Exception):
    pass


def failing_chunks(written: list[int]) -> Iterator[bytes]:
    for _ in range(3):
        written.append(1)
        yield os.urandom(CHUNK)
    raise Boom("the upstream connection dropped")


def test_failed_put_leaves_no_trace(store: LocalStore) -> None:
    key = new_key()
    written: list[int] = []
    with pytest.raises(Boom):
        store.put(key, failing_chunks(written))
    assert len(written) == 3  # it did write something before failing
    with pytest.raises(ObjectNotFound):
        store.stat(key)
    path = store.local_path(key)
    assert path is not None and not path.exists()
    assert list(store.tmp.iterdir()) == []
    assert files_under(store.root) == []


def test_failed_overwrite_keeps_the_old_object(store: LocalStore) -> None:
    key = new_key()
    store.put(key, [b"the good bytes"])
    with pytest.raises(Boom):
        store.put(key, failing_chunks([]))
    assert b"".join(store.stream(key)) == b"the good bytes"
    assert list(store.tmp.iterdir()) == []


def test_sharded_layout(store: LocalStore, tmp_path: Path) -> None:
    account = sids.new_sid(sids.ACCOUNT)
    media = sids.new_sid(sids.MEDIA)
    key = media_key(account, media)
    store.put(key, [b"x"])
    expected = (tmp_path / "media" / account / media[2:4] / media).resolve()
    assert store.local_path(key) == expected
    assert expected.read_bytes() == b"x"
    assert files_under(store.root) == [expected]


def test_many_objects_spread_over_shards(store: LocalStore) -> None:
    account = sids.new_sid(sids.ACCOUNT)
    for _ in range(64):
        store.put(media_key(account, sids.new_sid(sids.MEDIA)), [b"."])
    shards = [p for p in (store.root / account).iterdir() if p.is_dir()]
    assert len(shards) > 16  # 64 random sids over 256 two-hex-digit shards
    assert all(len(p.name) == 2 for p in shards)


def test_delete_missing_key_is_fine(store: LocalStore) -> None:
    key = new_key()
    store.delete(key)  # no directory at all
    store.put(key, [b"x"])
    store.delete(key)
    store.delete(key)  # already gone
    with pytest.raises(ObjectNotFound):
        store.stat(key)


def test_delete_only_removes_its_object(store: LocalStore) -> None:
    account = sids.new_sid(sids.ACCOUNT)
    keep = media_key(account, sids.new_sid(sids.MEDIA))
    drop = media_key(account, sids.new_sid(sids.MEDIA))
    store.put(keep, [b"keep"])
    store.put(drop, [b"drop"])
    store.delete(drop)
    assert b"".join(store.stream(keep)) == b"keep"


def test_unknown_key_raises_not_found(store: LocalStore) -> None:
    key = new_key()
    with pytest.raises(ObjectNotFound):
        store.stat(key)
    with pytest.raises(ObjectNotFound):
        list(store.stream(key))
    # ObjectNotFound is a FileNotFoundError, so generic callers can catch that.
    assert issubclass(ObjectNotFound, FileNotFoundError)


AC = "AC" + "a" * 32
ME = "ME" + "b" * 32
BAD_KEYS = [
    "../" + ME,
    f"{AC}/../{ME}",
    f"{AC}/../../etc/passwd",
    f"../../{AC}/{ME}",
    f"{AC}/{ME}/..",
    f"/{AC}/{ME}",
    f"/etc/{ME}",
    "/etc/passwd",
    f"{AC}/{ME}/extra",
    f"{AC}//{ME}",
    f"{AC}\\{ME}",
    f"{AC}/{ME}\n",
    f"{AC}/{ME}\x00",
    f"{AC}/{ME}.png",
    f"AC{'a' * 31}/{ME}",
    f"{AC}/ME{'b' * 33}",
    f"SK{'a' * 32}/{ME}",
    f"{AC}/MM{'b' * 32}",
    f"ac{'a' * 32}/{ME}",
    f"{AC}/ME{'B' * 32}",  # sids are lowercase hex
    f"{ME}/{AC}",
    AC,
    "",
    ".",
    "..",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_path_jail_rejects_bad_keys(store: LocalStore, tmp_path: Path, key: str) -> None:
    for operation in (
        lambda: store.put(key, [b"escaped"]),
        lambda: store.stat(key),
        lambda: list(store.stream(key)),
        lambda: store.local_path(key),
    ):
        with pytest.raises((InvalidKey, ObjectNotFound)):
            operation()
    with pytest.raises(InvalidKey):  # delete forgives absent objects, not malformed keys
        store.delete(key)
    # Nothing was written anywhere under the temporary directory (inside or outside the root).
    assert [p for p in files_under(tmp_path) if p.parent != store.tmp] == []
    assert list(store.tmp.iterdir()) == []


def test_media_key_validates(store: LocalStore) -> None:
    with pytest.raises(InvalidKey):
        media_key("AC../..", ME)
    with pytest.raises(InvalidKey):
        media_key(AC, "../" + ME)
    assert media_key(AC, ME) == f"{AC}/{ME}"


def test_symlink_out_of_the_root_is_refused(store: LocalStore, tmp_path: Path) -> None:
    """Even a valid key may not resolve outside the root (say an operator's
    stray symlink): the jail checks the resolved path, not just the key."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ME[2:4]).mkdir()
    (outside / ME[2:4] / ME).write_bytes(b"secret from outside")
    (store.root / AC).symlink_to(outside, target_is_directory=True)
    key = media_key(AC, ME)

    with pytest.raises(ObjectNotFound):
        store.stat(key)
    with pytest.raises(ObjectNotFound):
        list(store.stream(key))
    with pytest.raises(ObjectNotFound):
        store.local_path(key)
    with pytest.raises(ObjectNotFound):
        store.put(key, [b"overwritten"])
    store.delete(key)  # like any absent object: no error, and nothing outside is removed
    assert (outside / ME[2:4] / ME).read_bytes() == b"secret from outside"
    assert sorted(p.name for p in outside.rglob("*")) == sorted([ME[2:4], ME])


def test_root_is_resolved_and_tmp_is_inside(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    store = LocalStore(tmp_path / "link" / "media")
    assert store.root == (tmp_path / "real" / "media")
    assert store.tmp.parent == store.root and store.tmp.is_dir()
    key = new_key()
    store.put(key, [b"ok"])
    assert b"".join(store.stream(key)) == b"ok"


def test_no_presigned_urls(store: LocalStore) -> None:
    key = new_key()
    store.put(key, [b"x"])
    assert store.presigned_url(key, 60, content_type="image/png", disposition="inline") is None
