"""What the content redirect remembers, so that a repeat request needs no database.

Three bounded maps, each dropped through the invalidation channel
(``mediagate.cluster.invalidation``) by the service function behind a change:

* verified credentials: a keyed BLAKE2b digest of the whole ``Authorization``
  header -> the ``Principal`` it proved. Never the header or the secret; only
  credentials that *passed* are stored, so a flood of wrong secrets adds
  nothing (each still costs one database read, as before);
* accounts reached on behalf of a parent: sid -> (owner, status);
* media rows the 307 needs (sid -> ``Target`` plus its message sid).

Nothing is answered while ``Invalidation.caching_allowed`` is False: in a
server, when its last successful read of the invalidation records
(``cluster/coherence.py``) started more than ``MEDIAGATE_COHERENCE_BOUND`` ago;
that read is how changes made by other processes (another server, a
``mediagate keys delete`` CLI command, with or without Redis) reach this one
within the bound. Each entry also has a maximum age: ``LOCAL_MAX_AGE`` without
Redis, ``SHARED_MAX_AGE`` with Redis (a safety net only: for a process that
reads no records, or a change whose record could not be written). A lookup that started before an
invalidation never stores its (possibly stale) answer: ``begin`` hands out a
generation, ``put`` refuses an answer from an older one.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from mediagate.accounts.auth import AccountFacts, Principal
from mediagate.cluster import invalidation as inv
from mediagate.media.delivery import Target

K = TypeVar("K")
V = TypeVar("V")

LOCAL_MAX_AGE = 1.0  # seconds; no Redis: the bound for changes made by other processes
SHARED_MAX_AGE = 60.0  # seconds; with Redis: only matters if a message was lost
MAX_ENTRIES = 20_000


class Memo(Generic[K, V]):
    """A bounded LRU map with a maximum age, switched off while the channel
    could miss messages. Thread-safe: the event loop reads it, the hot-path
    threads fill it, the listener thread drops from it."""

    def __init__(
        self,
        bus: inv.Invalidation,
        max_entries: int,
        max_age: float,
        *,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        # Elapsed time, not the runtime's clock: the age bounds how long a change made
        # by another process may go unseen, a real-time promise that neither a test
        # clock nor a wall-clock step may stretch.
        self._now = now
        self._bus = bus
        self._max_entries = max_entries
        self._max_age = max_age
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0

    def __len__(self) -> int:
        return len(self._items)

    def begin(self) -> int:
        """Call before reading the database for an answer you will ``put``."""
        return self._generation

    def get(self, key: K) -> V | None:
        if not self._bus.caching_allowed:
            return None
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            if self._now() - hit[0] > self._max_age:
                return None  # kept (LRU-bounded) for ``stale``, until dropped or replaced
            self._items.move_to_end(key)
            return hit[1]

    def stale(self, key: K) -> V | None:
        """The remembered answer whatever its age, unless a change dropped it:
        for when the database cannot be asked (an outage), never instead of asking."""
        if not self._bus.caching_allowed:
            return None
        with self._lock:
            hit = self._items.get(key)
            return None if hit is None else hit[1]

    def put(self, key: K, value: V, generation: int) -> None:
        if not self._bus.caching_allowed:
            return
        with self._lock:
            if generation != self._generation:
                return  # something was invalidated while this answer was being read
            self._items[key] = (self._now(), value)
            self._items.move_to_end(key)
            while len(self._items) > self._max_entries:
                self._items.popitem(last=False)

    def drop(self, key: K) -> None:
        with self._lock:
            self._generation += 1
            self._items.pop(key, None)

    def drop_where(self, doomed: Callable[[K, V], bool]) -> None:
        with self._lock:
            self._generation += 1
            for key in [k for k, (_, v) in self._items.items() if doomed(k, v)]:
                del self._items[key]

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._items.clear()


@dataclass(frozen=True)
class MediaRow:
    message_sid: str
    target: Target


class HotCaches:
    def __init__(
        self, bus: inv.Invalidation, max_entries: int = MAX_ENTRIES, max_age: float | None = None
    ) -> None:
        # ``max_age`` given: tests that must not depend on how fast a loaded machine runs.
        age = max_age if max_age is not None else SHARED_MAX_AGE if bus.shared else LOCAL_MAX_AGE
        # A random key per process: the digests mean nothing outside it.
        self._pepper = secrets.token_bytes(32)
        self.credentials: Memo[bytes, Principal] = Memo(bus, max_entries, age)
        self.accounts: Memo[str, AccountFacts] = Memo(bus, max_entries, age)
        self.media: Memo[str, MediaRow] = Memo(bus, max_entries, age)
        bus.subscribe(inv.CREDENTIAL, self._credential_changed)
        bus.subscribe(inv.ACCOUNT, self._account_changed)
        bus.subscribe(inv.SETTING, self.accounts.drop)
        bus.subscribe(inv.MEDIA, self.media.drop)
        bus.on_reset(self.clear)

    # The authenticator's memory (``auth.Memory``): ``auth.require`` fills it with
    # what it allowed, ``auth.recall`` reads it back through the same rule.

    def begin(self) -> tuple[int, int]:
        return self.credentials.begin(), self.accounts.begin()

    def recall(self, header: str) -> Principal | None:
        return self.credentials.get(self.digest(header))

    def recall_account(self, account_sid: str) -> AccountFacts | None:
        return self.accounts.get(account_sid)

    def remember(
        self,
        mark: tuple[int, int],
        header: str,
        principal: Principal,
        account_sid: str,
        target: AccountFacts | None,
    ) -> None:
        self.credentials.put(self.digest(header), principal, mark[0])
        if target is not None:
            # The parent's own subaccount, as the rule just saw it.
            self.accounts.put(account_sid, target, mark[1])

    def digest(self, header: str) -> bytes:
        return hashlib.blake2b(
            header.encode("utf-8", "surrogatepass"), key=self._pepper, digest_size=20
        ).digest()

    def clear(self) -> None:
        for memo in (self.credentials, self.accounts, self.media):
            memo.clear()

    def _credential_changed(self, credential_sid: str) -> None:
        self.credentials.drop_where(lambda _, p: p.credential_sid == credential_sid)

    def _account_changed(self, account_sid: str) -> None:
        # Its token and keys, what its parent reaches through it, and its media
        # (closing deletes them all; re-securing legacy media flips auth_required).
        self.credentials.drop_where(lambda _, p: p.account_sid == account_sid)
        self.accounts.drop(account_sid)
        self.media.drop_where(lambda _, row: row.target.account_sid == account_sid)
