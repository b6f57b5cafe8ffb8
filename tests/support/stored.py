"""What a server has stored, asked through its store: the same checks on every backend."""

from __future__ import annotations

from mediagate.media import media
from mediagate.messaging import messages
from mediagate.runtime.context import Runtime
from mediagate.storage import ObjectNotFound
from mediagate.storage.local import LocalStore
from mediagate.storage.s3 import S3Store
from tests.support.fileserver import png_bytes


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


def message_with_media(rt: Runtime, account_sid: str, body: str = "hi") -> tuple[str, str]:
    """An outbound message of ``account_sid`` with one stored PNG: (message sid, media sid)."""
    new = messages.NewMessage(to="+15551230001", from_="+15557650001", body=body, media_urls=[])
    msg = messages.create(rt, account_sid, new, actor="test")
    row = media.add(rt, account_sid, msg.sid, "image/png", [png_bytes(300)])
    return msg.sid, row.sid
