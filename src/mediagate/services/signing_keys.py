"""Media signing keys: created, listed and retired; sealed at rest."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mediagate import sids
from mediagate.crypto import Keyring
from mediagate.db.models import AuditEvent, SigningKey
from mediagate.signing import KeyLoader, SigningKeyMaterial
from mediagate.timefmt import utcnow

if TYPE_CHECKING:
    from mediagate.context import Runtime

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
                )
                for row in rows
            ]

    return load


def create(rt: Runtime, actor: str = "system") -> SigningKey:
    kid = sids.new_sid(sids.SIGNING_KEY)
    row = SigningKey(
        kid=kid,
        secret_sealed=rt.keyring.seal(secrets.token_hex(32), context=_CONTEXT + kid),
        status="active",
    )
    with rt.tx() as session:
        session.add(row)
        session.add(AuditEvent(actor=actor, action="signing_key.create", target=kid))
    rt.signer.reload()
    return row


def ensure_active(rt: Runtime) -> None:
    with rt.sessions() as session:
        has_active = session.scalar(select(SigningKey.kid).where(SigningKey.status == "active").limit(1))
    if has_active is None:
        create(rt)
    else:
        rt.signer.reload()


def list_keys(rt: Runtime) -> list[SigningKey]:
    with rt.sessions() as session:
        return list(session.scalars(select(SigningKey).order_by(SigningKey.date_created)))


def retire(rt: Runtime, kid: str, actor: str = "system") -> bool:
    """Retire ``kid`` (every URL it signed stops working) and make sure another
    key is active for new URLs."""
    with rt.tx() as session:
        row = session.get(SigningKey, kid)
        if row is None or row.status != "active":
            return False
        row.status = "retired"
        row.date_retired = utcnow()
        session.add(AuditEvent(actor=actor, action="signing_key.retire", target=kid))
    rt.signer.forget(kid)
    ensure_active(rt)
    return True
