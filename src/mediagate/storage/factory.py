"""Chooses the storage backend from settings (the one place that knows them all)."""

from __future__ import annotations

from urllib.parse import urlsplit

from mediagate.core.settings import Settings
from mediagate.storage.base import MediaStore
from mediagate.storage.local import LocalStore


def make_store(settings: Settings) -> MediaStore:
    """``MEDIAGATE_STORAGE_URL``: empty or ``file:///path`` = the local disk, ``s3://BUCKET/PREFIX`` = S3."""
    if settings.uses_s3:
        # Imported only when used: a local deployment never loads boto3.
        from mediagate.storage.s3 import S3Store

        parts = urlsplit(settings.storage_url)
        # Presign delivery hands out the store's own URLs, so there the store
        # encrypts (SSE-S3); edge delivery seals objects itself (storage/sealed.py).
        sse = settings.encryption == "on" and settings.delivery == "presign"
        return S3Store(
            parts.netloc,
            parts.path,
            endpoint_url=settings.s3_endpoint_url or None,
            sse=sse,
            connect_timeout=settings.store_connect_timeout,
            read_timeout=settings.store_read_timeout,
            attempts=settings.store_attempts,
        )
    return LocalStore(settings.media_dir)
