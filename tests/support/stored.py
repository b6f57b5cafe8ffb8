"""What a server has stored, asked through its store: the same checks on every backend."""

from __future__ import annotations

from mediagate.runtime.context import Runtime
from mediagate.storage import ObjectNotFound
from mediagate.storage.local import LocalStore
from mediagate.storage.s3 import S3Store


def stored_keys(rt: Runtime, account_sid: str) -> list[str]:
    """The account's stored objects."""
    return sorted(key for key, _ in rt.store.iter_keys() if key.startswith(account_sid + "/"))


def exists(rt: Runtime, key: str) -> bool:
    try:
        rt.store.open(key)
    except ObjectNotFound:
        return False
    return True


def read(rt: Runtime, key: str) -> bytes:
    return b"".join(rt.store.stream(key))


def unfinished_writes(rt: Runtime, account_sid: str) -> list[str]:
    """Leftovers of aborted writes: temporary files on disk (one shared folder, so all of
    them), incomplete multipart uploads on S3 (the account's)."""
    store = rt.store
    if isinstance(store, LocalStore):
        return [str(p) for p in store.tmp.rglob("*") if p.is_file()]
    assert isinstance(store, S3Store)
    prefix = f"{store.prefix}/{account_sid}/" if store.prefix else f"{account_sid}/"
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=prefix)
    return [u["Key"] for u in uploads.get("Uploads", [])]
