"""Deployment-level credentials for carrier ingress (``POST /v1/Carrier/Inbound``).

An inbound message is the carrier speaking, not a tenant: whoever may inject one
chooses ``From`` and gets a validly signed webhook delivered to the number's
owner. So ingress takes its own credential, created by the operator
(``mediagate carrier credentials create``) for the carrier gateway, and no
tenant credential (auth token or API key of any kind) is accepted there.
Secrets are shown once and stored as keyed hashes, like API key secrets.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from mediagate.core import sids
from mediagate.core.errors import BadRequest, NotFound, Unauthorized
from mediagate.db.models import CarrierCredential

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime


@dataclass(frozen=True)
class NewCarrierCredential:
    credential: CarrierCredential
    secret: str  # shown once


def create(rt: Runtime, friendly_name: str) -> NewCarrierCredential:
    name = friendly_name.strip()
    if len(name) > 64:
        raise BadRequest("FriendlyName must be at most 64 characters.", code=20001)
    secret = secrets.token_urlsafe(24)
    row = CarrierCredential(
        sid=sids.new_sid(sids.CARRIER_CREDENTIAL),
        friendly_name=name or "carrier",
        secret_hash=rt.keyring.hash_secret(secret),
    )
    with rt.tx() as session:
        session.add(row)
    return NewCarrierCredential(row, secret)


def list_all(rt: Runtime) -> list[CarrierCredential]:
    with rt.sessions() as session:
        return list(session.scalars(select(CarrierCredential).order_by(CarrierCredential.date_created)))


def delete_one(rt: Runtime, sid: str) -> None:
    with rt.tx() as session:
        row = session.get(CarrierCredential, sid)
        if row is None:
            raise NotFound(f"/v1/Carrier/Credentials/{sid}")
        session.delete(row)


def verify(rt: Runtime, user: str, secret: str) -> str:
    """The carrier credential's SID, or ``Unauthorized`` (the same for every failure)."""
    if not sids.is_sid(user, sids.CARRIER_CREDENTIAL):
        raise Unauthorized()
    with rt.sessions() as session:
        stored = session.scalar(select(CarrierCredential.secret_hash).where(CarrierCredential.sid == user))
    if not rt.keyring.verify_secret(secret, stored):
        raise Unauthorized()
    return user
