"""Signing key rows as the runtime needs them at start: load them for the
``Signer`` and make sure one is active.

Apart from ``media/signing_keys.py`` because ``context.build_runtime`` needs
these before a ``Runtime`` exists, and ``signing_keys`` works on a ``Runtime``:
with both in one module, ``context`` and that module imported each other.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mediagate.cluster import invalidation as inv
from mediagate.cluster.invalidation import Invalidation
from mediagate.core import sids
from mediagate.core.crypto import Keyring
from mediagate.core.timefmt import aware
from mediagate.db.models import AuditEvent, SigningKey
from mediagate.media.signing import KeyLoader, Signer, SigningKeyMaterial

_CONTEXT = "signing-key"


def loader(sessions: sessionmaker[Session], keyring: Keyring) -> KeyLoader:
    def load() -> list[SigningKeyMaterial]:
        with sessions() as session:
            rows = session.scalars(select(SigningKey).order_by(SigningKey.date_created, SigningKey.kid))
            return [
                SigningKeyMaterial(
                    kid=row.kid,
                    secret=bytes.fromhex(keyring.unseal(row.secret_sealed, context=_CONTEXT + row.kid)),
                    active=row.status == "active",
                    created=aware(row.date_created).timestamp(),
                )
                for row in rows
            ]

    return load


def new_row(keyring: Keyring) -> SigningKey:
    kid = sids.new_sid(sids.SIGNING_KEY)
    return SigningKey(
        kid=kid,
        secret_sealed=keyring.seal(secrets.token_hex(32), context=_CONTEXT + kid),
        status="active",
    )


def create(
    sessions: sessionmaker[Session], keyring: Keyring, signer: Signer, bus: Invalidation, actor: str
) -> SigningKey:
    row = new_row(keyring)
    with sessions.begin() as session:
        session.add(row)
        session.add(AuditEvent(actor=actor, action="signing_key.create", target=row.kid))
    signer.reload()
    # Other processes verify it from now on, not from their next refresh.
    bus.publish(inv.SIGNING_KEY, row.kid)
    return row


def ensure_active(
    sessions: sessionmaker[Session], keyring: Keyring, signer: Signer, bus: Invalidation
) -> None:
    with sessions() as session:
        has_active = session.scalar(select(SigningKey.kid).where(SigningKey.status == "active").limit(1))
    if has_active is None:
        create(sessions, keyring, signer, bus, "system")
    else:
        signer.reload()
