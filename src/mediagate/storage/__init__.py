"""Object storage for media bytes. Nothing outside this package knows which backend runs."""

from mediagate.storage.base import (
    DISK_FULL,
    Blob,
    MediaStore,
    ObjectNotFound,
    StorageError,
    StoredObject,
    media_key,
)
from mediagate.storage.factory import make_store

__all__ = [
    "DISK_FULL",
    "Blob",
    "MediaStore",
    "ObjectNotFound",
    "StorageError",
    "StoredObject",
    "make_store",
    "media_key",
]
