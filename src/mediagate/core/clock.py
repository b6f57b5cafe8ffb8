"""The one clock every time-dependent rule reads.

Signed-URL issue and expiry, retention ages, webhook retry schedules and
claims, the carrier outbox's claims, quota windows, console sessions, audit
and resource timestamps, revocation cut-offs and the process registry all ask
``Runtime.clock`` what time it is instead of reading the wall clock
themselves. In production that is ``SystemClock``; tests hold a
``ManualClock`` and move it instead of sleeping, and the test mode (issue 26)
runs the server on an ``OffsetClock`` that ``POST /v1/Testing/Clock`` moves
forward.

What this clock is *not* for: measuring how long something took or how long
to wait (request durations, fetch deadlines, the database watchdog, cache
ages, polling intervals). Those are elapsed process time and keep using
``time.monotonic``/``time.perf_counter``: moving the test clock must not make
a running fetch time out or a cache entry look older than it is.

Every clock here only moves forward: ``advance`` refuses zero and negative
steps, so a rule never sees time go backwards (a signed URL that expired stays
expired, a retention pass never un-ages a media).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# The execution option that carries the clock to the database column defaults
# (``db/models.py``): ``build_runtime`` binds the sessions to an engine with
# this option, so rows stamped by a default get the runtime's time too.
EXECUTION_OPTION: Final = "mediagate_clock"


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def time(self) -> float:
        """The current time as seconds since the epoch (what ``time.time()`` answers)."""
        ...


class SystemClock:
    """The wall clock: what every rule read before the clock was injected."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class _Forward:
    """The forward-only step shared by the movable clocks, with listeners told
    after each step (workers that wait for due work wake up instead of sleeping
    out their poll interval)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def time(self) -> float:
        raise NotImplementedError

    def on_advance(self, listener: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def forget() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return forget

    @staticmethod
    def _checked(seconds: float) -> float:
        # NaN compares false with everything, so "not >" also refuses it.
        if not seconds > 0 or seconds == float("inf"):
            raise ValueError(f"a clock only moves forward by a finite positive step, got {seconds!r}")
        return float(seconds)

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()


class ManualClock(_Forward):
    """A clock that stands still until ``advance`` moves it: for tests that need
    to land exactly on an expiry, a due time or a lease end."""

    def __init__(self, start: datetime | float | None = None) -> None:
        super().__init__()
        if start is None:
            self._t = time.time()
        elif isinstance(start, datetime):
            if start.tzinfo is None:
                raise ValueError("ManualClock needs an aware datetime (UTC)")
            self._t = start.timestamp()
        else:
            self._t = float(start)

    def time(self) -> float:
        with self._lock:
            return self._t

    def advance(self, seconds: float) -> None:
        step = self._checked(seconds)
        with self._lock:
            self._t += step
        self._notify()

    def __repr__(self) -> str:
        return f"ManualClock({self.now().isoformat()})"


class OffsetClock(_Forward):
    """Another clock (the system's, normally) plus an offset that only grows.

    Time keeps flowing as on ``base``; ``advance`` jumps it forward. This is the
    clock the test mode exposes over HTTP (``offset_seconds``), and what ``reset``
    would set back to 0 — which is why ``reset`` exists here although nothing
    else may move time backwards: it is only for a full reset of the server's
    state, when nothing that read the moved time is kept."""

    def __init__(self, base: Clock | None = None, offset: float = 0.0) -> None:
        super().__init__()
        if offset < 0:
            raise ValueError(f"the offset starts at 0 or later, got {offset!r}")
        self._base: Clock = base if base is not None else SystemClock()
        self._offset = float(offset)

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset

    def time(self) -> float:
        with self._lock:
            offset = self._offset
        return self._base.time() + offset

    def advance(self, seconds: float) -> None:
        step = self._checked(seconds)
        with self._lock:
            self._offset += step
        self._notify()

    def reset(self) -> None:
        """Back to the base clock's time (offset 0). Only for a reset that also
        removes everything stamped with the moved time."""
        with self._lock:
            self._offset = 0.0

    def __repr__(self) -> str:
        return f"OffsetClock({self._base!r}, offset={self.offset})"


def on_advance(clock: Clock, listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener`` after each step of a movable clock (a no-op for the system
    clock); returns what stops it, for the listener's owner to call when it stops."""
    if isinstance(clock, _Forward):
        return clock.on_advance(listener)
    return _nothing


def _nothing() -> None:
    return None


def of_session(session: Session) -> Clock:
    """The clock of the runtime whose sessions made ``session``: for code that is
    handed a session rather than the runtime (the system clock when the session
    was made without one, e.g. by a migration)."""
    clock: Clock | None = session.get_bind().get_execution_options().get(EXECUTION_OPTION)
    return clock if clock is not None else SystemClock()
