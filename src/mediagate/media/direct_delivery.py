"""The *deliver media directly* account setting: the content URL answers the
bytes itself (auth still required) instead of a 307 to a media host.

For clients whose egress allowlist admits only the API's host: the redirect
to the secured media host (or to S3 in ``presign`` mode) is refused by their
proxy, and inbound attachments silently fail. Twilio has no such switch.

The content URL is the hot path, so the setting is not read per request:
``DirectAccounts`` keeps the (small) set of accounts that turned it on and
re-reads it at most every ``MEDIAGATE_DIRECT_DELIVERY_REFRESH`` seconds, and
at once when a change is published (``cluster/invalidation.py``): in the
process that made it, and in every other within the coherence bound.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from mediagate.cluster import invalidation as inv
from mediagate.core.errors import NotFound
from mediagate.db.models import Account, AccountDelivery

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime


@dataclass(frozen=True)
class DeliverySetting:
    account_sid: str
    direct: bool
    date_updated: datetime


def _path(account_sid: str) -> str:
    return f"/v1/Accounts/{account_sid}/MediaDelivery"


def get(rt: Runtime, account_sid: str) -> DeliverySetting:
    with rt.sessions() as session:
        account = session.get(Account, account_sid)
        if account is None:
            raise NotFound(_path(account_sid))
        row = session.get(AccountDelivery, account_sid)
    if row is None:
        return DeliverySetting(account_sid, False, account.date_created)
    return DeliverySetting(account_sid, row.direct, row.date_updated)


def set_direct(rt: Runtime, account_sid: str, direct: bool) -> DeliverySetting:
    with rt.tx() as session:
        if session.get(Account, account_sid) is None:
            raise NotFound(_path(account_sid))
        row = session.get(AccountDelivery, account_sid, with_for_update=True)
        if row is None:
            session.add(AccountDelivery(account_sid=account_sid, direct=direct))
        elif row.direct != direct:
            row.direct = direct
    # Re-read here at once, and in every other process within the coherence bound.
    rt.invalidation.publish(inv.DELIVERY, account_sid)
    return get(rt, account_sid)


class DirectAccounts:
    """The accounts with direct delivery on, as of at most ``refresh`` seconds ago."""

    def __init__(self, refresh: float) -> None:
        self.refresh = refresh
        self._lock = threading.Lock()
        self._accounts: frozenset[str] = frozenset()
        self._read_at = float("-inf")

    def fresh(self) -> bool:
        """True when ``cached`` can answer without the database (never blocks)."""
        return time.monotonic() - self._read_at < self.refresh

    def cached(self, account_sid: str) -> bool:
        return account_sid in self._accounts

    def load(self, rt: Runtime) -> None:
        """Re-read the set (blocking: run it off the event loop)."""
        with self._lock:
            if self.fresh():
                return  # another thread just did
            with rt.sessions() as session:
                found = session.scalars(select(AccountDelivery.account_sid).where(AccountDelivery.direct))
                self._accounts = frozenset(found)
            self._read_at = time.monotonic()

    def invalidate(self) -> None:
        self._read_at = float("-inf")
