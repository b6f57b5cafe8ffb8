"""Encryption at rest, wired: the keyring from settings, the database's key
table, the startup check, and master-key rotation (``rewrap``).

The format and the store live in ``storage/sealed.py``; this module is the
part that knows the database and the settings.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from mediagate.core import clock as clocks
from mediagate.core.crypto import Keyring, parse_master_keys
from mediagate.core.settings import Settings
from mediagate.db.dml import rowcount
from mediagate.db.models import SealedObject
from mediagate.storage.base import MediaStore
from mediagate.storage.sealed import KeyRecord, MasterKeys, SealedStore

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

DERIVED = "derived"


class EncryptionConfigError(RuntimeError):
    """Settings that cannot open what the store holds: refused at startup."""


def master_keys(settings: Settings, keyring: Keyring) -> MasterKeys:
    """The configured keys, plus "derived" (from the server's master secret)
    unless an explicit key has that id."""
    explicit = parse_master_keys(settings.master_keys)
    keys = {DERIVED: keyring.derived_key("media-encryption"), **explicit}
    active = settings.master_key_id or next(iter(explicit), DERIVED)
    if active not in keys:
        raise EncryptionConfigError(f"MEDIAGATE_MASTER_KEY_ID={active!r} is not in MEDIAGATE_MASTER_KEYS")
    return MasterKeys(keys, active)


class DbKeyTable:
    """``KeyTable`` over ``sealed_objects``: one short transaction per call
    (stores are used outside any request transaction)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def get(self, key: str) -> KeyRecord | None:
        with self.sessions() as session:
            row = session.get(SealedObject, key)
            if row is None:
                return None
            return KeyRecord(row.key_id, _decode(row.wrapped_key), row.chunk_size, row.size)

    def save(self, key: str, record: KeyRecord) -> None:
        values = {
            "storage_key": key,
            "key_id": record.key_id,
            "wrapped_key": _encode(record.wrapped_key),
            "chunk_size": record.chunk_size,
            "size": record.size,
        }
        with self.sessions.begin() as session:
            values["date_updated"] = clocks.of_session(session).now()
            # An upsert, not a read then an insert: a put over an existing key
            # (the readiness probe, from several processes at once) replaces
            # the record without racing on the primary key.
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            stmt = insert(SealedObject).values(**values)
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[SealedObject.storage_key],
                    set_={name: stmt.excluded[name] for name in values if name != "storage_key"},
                )
            )

    def delete(self, key: str) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(SealedObject).where(SealedObject.storage_key == key))


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode())


def key_ids_in_use(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        rows = session.execute(
            select(SealedObject.key_id, func.count())
            .group_by(SealedObject.key_id)
            .order_by(SealedObject.key_id)
        )
        return {key_id: int(count) for key_id, count in rows}


def wrap_store(
    settings: Settings, sessions: sessionmaker[Session], keyring: Keyring, inner: MediaStore
) -> MediaStore:
    """The store the runtime uses. Encryption off and nothing sealed: the
    backend itself, untouched (no key-table lookup on any path). Otherwise a
    ``SealedStore``; it seals new objects only with encryption on and edge
    delivery (presign hands out the store's own URLs, so there the store's
    SSE-S3 encrypts instead, see ``make_store``).

    Raises ``EncryptionConfigError`` when sealed objects need a master key
    that is not configured: better no start than a 500 on every such object."""
    in_use = key_ids_in_use(sessions)
    seal_new = settings.encryption == "on" and settings.delivery == "edge"
    if not seal_new and not in_use:
        return inner
    keys = master_keys(settings, keyring)
    missing = sorted(set(in_use) - keys.ids)
    if missing:
        counts = ", ".join(f"{key_id!r} ({in_use[key_id]} objects)" for key_id in missing)
        raise EncryptionConfigError(
            f"sealed media objects need master keys that are not configured: {counts}. "
            "Add them to MEDIAGATE_MASTER_KEYS (or restore MEDIAGATE_SECRET_KEY for 'derived')."
        )
    return SealedStore(inner, keys, DbKeyTable(sessions), seal_new=seal_new)


@dataclass(frozen=True)
class RewrapResult:
    rewrapped: int
    remaining: int  # rows still under another key than the active one (another process wrote them meanwhile)


def rewrap(
    sessions: sessionmaker[Session],
    keys: MasterKeys,
    *,
    batch: int = 500,
    progress: Callable[[int], None] | None = None,
) -> RewrapResult:
    """Re-wrap every data key not under the active master key; objects are
    not touched. Each batch commits on its own and every update is
    conditional on the old key id, so an interrupted run simply continues
    where it stopped, and runs in parallel with serving (and with each
    other) are safe."""
    done = 0
    after = ""
    while True:
        with sessions.begin() as session:
            rows = session.execute(
                select(SealedObject.storage_key, SealedObject.key_id, SealedObject.wrapped_key)
                .where(SealedObject.key_id != keys.active, SealedObject.storage_key > after)
                .order_by(SealedObject.storage_key)
                .limit(batch)
            ).all()
            if not rows:
                break
            now = clocks.of_session(session).now()
            for storage_key, key_id, wrapped in rows:
                data_key = keys.unwrap(key_id, _decode(wrapped), storage_key)
                new_id, new_wrapped = keys.wrap(data_key, storage_key)
                done += rowcount(
                    session,
                    update(SealedObject)
                    .where(SealedObject.storage_key == storage_key, SealedObject.key_id == key_id)
                    .values(key_id=new_id, wrapped_key=_encode(new_wrapped), date_updated=now),
                )
            after = rows[-1][0]
        if progress is not None:
            progress(done)
    remaining = sum(n for key_id, n in key_ids_in_use(sessions).items() if key_id != keys.active)
    return RewrapResult(done, remaining)


# The CLI's entry points take the runtime; the functions above take a sessionmaker
# because ``wrap_store`` runs while the runtime is being built.
def usage(rt: Runtime) -> tuple[MasterKeys, dict[str, int]]:
    """The master keys from settings, and how many sealed objects each key id wraps."""
    return master_keys(rt.settings, rt.keyring), key_ids_in_use(rt.sessions)


def rewrap_all(rt: Runtime, *, batch: int = 500) -> tuple[MasterKeys, RewrapResult]:
    keys = master_keys(rt.settings, rt.keyring)
    return keys, rewrap(rt.sessions, keys, batch=batch)
