"""Media signing keys: created, listed and retired; sealed at rest."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import select

from mediagate.cluster import invalidation as inv
from mediagate.core.timefmt import aware
from mediagate.db.models import AuditEvent, SigningKey
from mediagate.media import signing_key_store as store

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime


def create(rt: Runtime, actor: str = "system") -> SigningKey:
    return store.create(rt.sessions, rt.keyring, rt.signer, rt.invalidation, actor)


def ensure_active(rt: Runtime) -> None:
    store.ensure_active(rt.sessions, rt.keyring, rt.signer, rt.invalidation)


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
        row.date_retired = rt.clock.now()
        session.add(AuditEvent(actor=actor, action="signing_key.retire", target=kid))
        # The replacement commits with the retirement: a process reloading in
        # between must never see no active key at all (its signing would fail).
        others = session.scalar(
            select(SigningKey.kid).where(SigningKey.status == "active", SigningKey.kid != kid).limit(1)
        )
        if others is None:
            fresh = store.new_row(rt.keyring)
            session.add(fresh)
            session.add(AuditEvent(actor=actor, action="signing_key.create", target=fresh.kid))
    # Here at once (forget drops it, then reloads), everywhere else within the bound.
    rt.invalidation.publish(inv.SIGNING_KEY, kid)
    ensure_active(rt)
    return True


def rotate(
    rt: Runtime,
    *,
    retire_old: bool,
    actor: str = "system",
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[float], None] | None = None,
) -> tuple[SigningKey, list[str]]:
    """Publish a new signing key; with ``retire_old``, retire the previous ones
    only once every process signs with the new key.

    Staged, because other processes learn about keys only when they refresh:
    the new key is published first (verifiable everywhere after one refresh
    interval), every process switches to signing with it at the same moment
    (``Signer.adopt_after`` after its publication), and only then are the old
    keys retired. Retiring at once let other processes keep issuing new
    URLs signed with the retired key, which failed seconds later."""
    old = [k.kid for k in list_keys(rt) if k.status == "active"]
    new = create(rt, actor=actor)
    if not retire_old:
        return new, []
    # One second of margin for clock differences between processes and for a
    # request that picked its key just before the switch. The switch moment is
    # on the runtime's clock (the signer adopts by it); the wait itself is real:
    # other processes must have had their refresh intervals to learn the key.
    wait = aware(new.date_created).timestamp() + rt.signer.adopt_after + 1.0 - rt.clock.time()
    if wait > 0:
        if on_wait is not None:
            on_wait(wait)
        sleep(wait)
    retired = [kid for kid in old if retire(rt, kid, actor=actor)]
    return new, retired
