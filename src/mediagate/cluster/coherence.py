"""The coherence bound: every server process reads the ``invalidations`` table
(``cluster/journal.py``) every ``MEDIAGATE_COHERENCE_POLL_INTERVAL`` seconds and
applies what it finds through the same handlers a Redis message runs. Redis
stays the fast path (milliseconds); this is the guarantee.

The rule that makes it a bound: a read that *started* at ``t`` saw every
change committed before ``t``. So until ``t + MEDIAGATE_COHERENCE_BOUND`` this
process may answer from memory; after that, unless a later read succeeded,
``Invalidation.caching_allowed`` is False and every memo (``media/hotcache.py``,
the edge's lookups) treats its entries as unknown: requests take the database
path, or get 503 + Retry-After when the database is away too. A change made at
``c`` is therefore refused or reflected everywhere by ``c + bound``, whatever
Redis does (up, killed, frozen, partitioned from the publisher or from this
process) and whoever made it (a server, or the CLI with or without Redis).

The check runs on every memo lookup: one clock read and a comparison.
Measured on the runtime's clock (tests move a ManualClock); on the system
clock it is ``time.monotonic``, which a wall-clock step cannot stretch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from mediagate.cluster.invalidation import Invalidation
from mediagate.cluster.journal import Journal
from mediagate.core.clock import Clock, SystemClock
from mediagate.db.failures import is_database_unavailable
from mediagate.db.polling import PollingWorker

log = logging.getLogger("mediagate.coherence")

# Rows applied per read. More pending than this (a long pause, a retention pass
# that deleted many media): forget everything instead of replaying them.
BATCH = 500


def elapsed_time(clock: Clock) -> Callable[[], float]:
    """Seconds on ``clock`` for measuring the bound: the monotonic clock under the
    system clock; the movable clocks (tests, test mode) only move forward."""
    return time.monotonic if isinstance(clock, SystemClock) else clock.time


class Coherence(PollingWorker):
    name = "coherence"

    def __init__(
        self,
        bus: Invalidation,
        journal: Journal,
        clock: Clock,
        *,
        interval: float,
        bound: float,
        retention: float,
    ) -> None:
        super().__init__(interval)
        self._bus = bus
        self._journal = journal
        self._now = elapsed_time(clock)
        self.bound = bound
        self._retention = retention
        self._last: int | None = None  # the highest id applied (None: not read yet)
        self._next_prune = 0.0
        self._failing = False
        self.polls = 0  # successful reads (tests, metrics)

    def arm(self) -> None:
        """From now on memory answers need this poller's word; none is given until
        the first read succeeds."""
        self._bus.vouch_by(self._now)
        self._last = None

    def start(self) -> None:
        self.arm()
        super().start()

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        # A process that stops polling must not keep answering from memory.
        self._bus.confirm_until(0.0)

    def run_once(self) -> int:
        try:
            return self.poll()
        except Exception as exc:
            # One line per outage, not one per poll; memory answers end on their own
            # once the bound has passed since the last good read.
            if not self._failing:
                self._failing = True
                if is_database_unavailable(exc):
                    log.warning(
                        "invalidations unreadable (%s): memory answers stop within %g s",
                        type(exc).__name__,
                        self.bound,
                    )
                else:
                    log.exception("invalidations unreadable: memory answers stop within %g s", self.bound)
            return 0

    def poll(self) -> int:
        """Read and apply the records written since the last read; then vouch for
        memory answers until ``bound`` after this read started. Raises when the
        database cannot be read."""
        started = self._now()
        lapsed = not self._bus.caching_allowed
        applied = 0
        if self._last is None:
            # Nothing remembered can predate this: start from the newest record.
            self._last = self._journal.head()
            lapsed = True
        else:
            entries = self._journal.since(self._last, BATCH)
            if len(entries) == BATCH:
                # Too far behind to replay: forget everything (below) from the newest on.
                self._last = self._journal.head()
                lapsed = True
            else:
                for entry in entries:
                    self._bus.apply(entry.topic, entry.key)
                    self._last = entry.id
                applied = len(entries)
        if lapsed:
            # Memory went unvouched (or was never vouched for): records may have been
            # pruned or skipped meanwhile, so drop it all before vouching again.
            self._bus.reset()
        self._bus.confirm_until(started + self.bound)
        self.polls += 1
        if self._failing:
            self._failing = False
            log.info("invalidations readable again: memory answers resume")
        if started >= self._next_prune:
            self._next_prune = started + self._retention / 10
            try:
                self._journal.prune(self._retention)
            except Exception as exc:  # the next turn tries again; reading matters, pruning can wait
                log.warning("old invalidations not pruned (%s)", type(exc).__name__)
        return applied
