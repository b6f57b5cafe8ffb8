"""Fair shares of MediaUrl fetching.

A fetch can take as long as its deadline when the remote host drips bytes.
Run on the thread pool every sync route shares (Starlette's
``run_in_threadpool``, anyio's default 40-token limiter), a few dozen such
fetches from one tenant held every thread and stalled all other tenants'
requests. So fetching work gets:

* its own anyio ``CapacityLimiter``: fetch threads never take the default
  limiter's tokens, whatever happens on the remote side;
* an admission bound per process (``fetch_concurrency``) and per account
  (``fetch_concurrency_per_account``). Admission does not wait: a request over
  its account's share (or over the process total) is refused at once with
  Twilio's 429 / 20429, before anything is fetched or stored, so a flood
  cannot queue up work either.

``fetch_concurrency`` is per process: it bounds this process's fetch threads.
The per-account share is per process too, unless ``MEDIAGATE_REDIS_URL`` is
set: then it also holds across every process of the deployment (a slot in
``mediagate.cluster.shared_slots``, taken on the fetch thread, never the event loop),
so N processes do not give one account N shares. Without Redis, N processes
allow N times the share (docs/deploy.md).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import ParamSpec, TypeVar

from anyio import CapacityLimiter, to_thread

from mediagate.cluster.shared_slots import SharedSlots, SharedStateUnavailable
from mediagate.core.errors import ApiError, ServiceUnavailable

P = ParamSpec("P")
R = TypeVar("R")


class TooManyRequests(ApiError):
    status = 429
    code = 20429


class FetchGate:
    def __init__(self, total: int, per_account: int, shared: SharedSlots | None = None) -> None:
        self.total = total
        self._shared = shared
        self.per_account = min(per_account, total)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._by_account: Counter[str] = Counter()
        # Admission keeps at most ``total`` holders, so this limiter never makes
        # anyone wait; it exists so that fetch threads are not counted against
        # (and cannot exhaust) the default limiter of the API's sync routes.
        self.limiter = CapacityLimiter(total)

    def in_flight(self, account_sid: str | None = None) -> int:
        with self._lock:
            return self._in_flight if account_sid is None else self._by_account[account_sid]

    @contextmanager
    def slot(self, account_sid: str) -> Iterator[None]:
        """Hold one of the account's fetch slots; ``TooManyRequests`` when none is free."""
        with self._lock:
            if self._by_account[account_sid] >= self.per_account:
                raise TooManyRequests(
                    f"Too Many Requests: this account already has {self.per_account} messages fetching "
                    "media, its limit; retry when they have finished."
                )
            if self._in_flight >= self.total:
                raise TooManyRequests(
                    "Too Many Requests: the server is fetching media for too many messages; retry later."
                )
            self._in_flight += 1
            self._by_account[account_sid] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._by_account[account_sid] -= 1
                if not self._by_account[account_sid]:
                    del self._by_account[account_sid]

    async def run(self, account_sid: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run blocking work that fetches media for ``account_sid`` in one of its
        slots, on the fetch limiter (never the API's default thread limiter)."""
        with self.slot(account_sid):
            call: Callable[[], R] = partial(fn, *args, **kwargs)
            if self._shared is not None:
                call = partial(self._in_shared_slot, account_sid, call)
            return await to_thread.run_sync(call, limiter=self.limiter)

    @contextmanager
    def hold(self, account_sid: str) -> Iterator[None]:
        """Blocking code's way in (the background fetch worker, which runs on its
        own threads): this process's slot and, with Redis, the deployment-wide
        one. ``TooManyRequests`` when either is taken, ``ServiceUnavailable``
        when the shared count cannot be read; the caller leaves the work for later."""
        with self.slot(account_sid):
            if self._shared is None:
                yield
                return
            token = self._shared_token(account_sid)
            try:
                yield
            finally:
                self._shared.release(token)

    def _shared_token(self, account_sid: str) -> str:
        assert self._shared is not None
        try:
            token = self._shared.try_acquire(f"fetch:{account_sid}", self.per_account)
        except SharedStateUnavailable:
            # Fail closed: without the shared count the account's share is unknown.
            raise ServiceUnavailable(
                "Service Unavailable: the shared state store (Redis) is unreachable; retry later."
            ) from None
        if token is None:
            raise TooManyRequests(
                f"Too Many Requests: this account already has {self.per_account} messages fetching "
                "media across the deployment, its limit; retry when they have finished."
            )
        return token

    def _in_shared_slot(self, account_sid: str, call: Callable[[], R]) -> R:
        assert self._shared is not None
        token = self._shared_token(account_sid)
        try:
            return call()
        finally:
            self._shared.release(token)
