"""A sealed store over any backend, with its key table in a real (migrated) database."""

from __future__ import annotations

import os

from mediagate.db.engine import make_engine, make_sessionmaker, upgrade
from mediagate.media.encryption import DbKeyTable
from mediagate.storage import MediaStore
from mediagate.storage.sealed import CHUNK_SIZE, MasterKeys, SealedStore


def make_keys(*ids: str, active: str | None = None) -> MasterKeys:
    ids = ids or ("k1",)
    return MasterKeys({key_id: os.urandom(32) for key_id in ids}, active or ids[0])


def sealed(
    inner: MediaStore, db_url: str, *, keys: MasterKeys | None = None, chunk_size: int = CHUNK_SIZE
) -> SealedStore:
    engine = make_engine(db_url)
    upgrade(engine)
    return SealedStore(
        inner, keys or make_keys(), DbKeyTable(make_sessionmaker(engine)), chunk_size=chunk_size
    )
