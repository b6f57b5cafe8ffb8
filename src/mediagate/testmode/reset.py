"""``POST /v1/Testing/Reset``: back to an empty server (then the seed file, if any).

Every account and everything under it (messages, media rows *and bytes*,
numbers, keys, webhooks, audit, quotas, retention rules, console sessions),
every fault and journal entry, the clock's offset, and every in-memory cache
that remembers a credential, an account or a media. Kept: what belongs to the
deployment rather than to a tenant (the signing keys, the carrier ingress
credentials, the process registry of the server that is running).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from sqlalchemy import delete, select

from mediagate.cluster import invalidation as inv
from mediagate.db.models import Account, ApiKey, Base
from mediagate.testmode import seed

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

log = logging.getLogger("mediagate")

KEPT: Final = frozenset({"signing_keys", "carrier_credentials", "processes", "alembic_version"})


def reset(rt: Runtime) -> None:
    testing = rt.testing
    if testing is None:
        raise RuntimeError("reset is test mode's alone")
    testing.faults.clear()  # first: nothing in flight from now on is faulted
    with rt.sessions() as session:
        account_sids = list(session.scalars(select(Account.sid)))
        key_sids = list(session.scalars(select(ApiKey.sid)))
    # Queued writes about what is going away would fail (or resurrect it) later.
    rt.access_audit.take(len(rt.access_audit))
    rt.access.take()
    with rt.tx() as session:
        for table in reversed(Base.metadata.sorted_tables):  # children before parents
            if table.name not in KEPT:
                session.execute(delete(table))
    for key, _ in list(rt.store.iter_keys()):
        rt.store.delete(key)
    # Seeded accounts come back with the same sids: nothing remembered of the old ones may answer for them.
    rt.invalidation.publish_many(inv.CREDENTIAL, [*account_sids, *key_sids])
    rt.invalidation.publish_many(inv.ACCOUNT, account_sids)
    rt.hot.clear()
    rt.direct_accounts.invalidate()
    rt.ingest_meter.forget_all()
    testing.clock.reset()
    testing.journal.clear()
    log.warning("test mode: reset (%d accounts removed)", len(account_sids))
    if rt.settings.seed_file is not None:
        seed.apply(rt, seed.load(rt.settings.seed_file))
