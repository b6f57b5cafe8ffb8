"""Chooses the storage backend from settings (the one place that knows them all)."""

from __future__ import annotations

from mediagate.settings import Settings
from mediagate.storage.base import MediaStore
from mediagate.storage.local import LocalStore


def make_store(settings: Settings) -> MediaStore:
    return LocalStore(settings.media_dir)
