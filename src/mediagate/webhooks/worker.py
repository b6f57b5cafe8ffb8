"""The worker every server process runs: polls, claims and sends on its sender threads, fairly per account."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from mediagate.cluster.shared_slots import SharedStateUnavailable
from mediagate.core import clock as clocks
from mediagate.webhooks.queue import BATCH, claim, due, extend_leases, heartbeat
from mediagate.webhooks.sender import Sender, attempt_claimed

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime


log = logging.getLogger("mediagate.webhooks")  # one logger for the whole webhook machinery


class Worker:
    """Polls for due deliveries and sends them on ``webhook_senders`` threads.

    There is no batch barrier: whenever a sender is free the worker claims the
    next due row, so one slow send holds one sender, not the whole batch. At
    most ``webhook_senders_per_account`` sends of one account are in flight."""

    def __init__(self, rt: Runtime, poll_interval: float | None = None) -> None:
        self._rt = rt
        self._poll = rt.settings.webhook_poll_interval if poll_interval is None else poll_interval
        self._heartbeat = heartbeat(rt)
        # Set when the runtime's clock jumps: the claims in flight were computed
        # from the old time, so they are renewed before anything else is claimed.
        self._clock_moved = threading.Event()
        self._senders = rt.settings.webhook_senders
        self._per_account = min(rt.settings.webhook_senders_per_account, self._senders)
        self._stop = threading.Event()
        self._wake = threading.Event()  # a send finished: a sender is free
        self._lock = threading.Lock()
        self._in_flight: dict[str, str] = {}  # delivery sid -> account sid
        self._thread: threading.Thread | None = None
        self._forget_clock: Callable[[], None] = lambda: None
        self._pool = ThreadPoolExecutor(max_workers=self._senders, thread_name_prefix="webhook-send")
        self._sender = Sender(rt)

    def start(self) -> None:
        self._forget_clock = clocks.on_advance(self._rt.clock, self._on_clock_advance)
        self._thread = threading.Thread(target=self._run, name="webhook-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._forget_clock()
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._sender.close()

    def in_flight(self) -> list[str]:
        with self._lock:
            return list(self._in_flight)

    def run_once(self) -> int:
        """Claim due deliveries into the free senders; returns how many sends started."""
        with self._lock:
            free = self._senders - len(self._in_flight)
            busy = Counter(self._in_flight.values())
        if free <= 0:
            return 0
        full = [account for account, n in busy.items() if n >= self._per_account]
        started = 0
        for sid, account_sid in due(self._rt, BATCH, exclude_accounts=full):
            if started >= free:
                break
            if busy[account_sid] >= self._per_account:
                continue
            try:
                slot = self._shared_slot(account_sid)
            except SharedStateUnavailable as exc:
                # Fail closed: the rows wait. The pass ends here, since every other
                # row would wait out the same Redis timeout (and log the same line).
                log.warning("webhook sends wait: the shared state store is unreachable (%s)", exc)
                break
            if slot is False:
                continue  # the account's senders are busy in other processes
            if not claim(self._rt, sid):
                self._release(slot)
                continue
            busy[account_sid] += 1
            with self._lock:
                self._in_flight[sid] = account_sid
            self._pool.submit(self._send, sid, slot)
            started += 1
        return started

    def _shared_slot(self, account_sid: str) -> str | bool | None:
        """With Redis: one of the account's ``webhook_senders_per_account``
        slots counted across every process (its token), or ``False`` when all
        are held; raises ``SharedStateUnavailable`` when Redis is down. Without
        Redis ``None``: the per-process count above is the only bound."""
        shared = self._rt.shared_slots
        if shared is None:
            return None
        return shared.try_acquire(f"webhook:{account_sid}", self._per_account) or False

    def _release(self, slot: str | bool | None) -> None:
        if isinstance(slot, str) and self._rt.shared_slots is not None:
            self._rt.shared_slots.release(slot)

    def _send(self, sid: str, slot: str | bool | None = None) -> None:
        try:
            attempt_claimed(self._rt, self._sender, sid)
        except Exception:
            # The claim stays until its lease ends; then the row is retried.
            log.exception("webhook %s attempt failed", sid)
        finally:
            self._release(slot)
            with self._lock:
                self._in_flight.pop(sid, None)
            self._wake.set()

    def _on_clock_advance(self) -> None:
        # Retries that became due with the step are sent now, not at the next poll.
        self._clock_moved.set()
        self._wake.set()

    def _run(self) -> None:
        # The renewal schedule is elapsed process time (monotonic): a live
        # worker renews in real time however the clock is moved; the claims it
        # writes are the clock's time plus the lease (queue.extend_leases).
        next_heartbeat = time.monotonic() + self._heartbeat
        while not self._stop.is_set():
            started = 0
            # Cleared before looking, so a send that ends while we look wakes the wait below.
            self._wake.clear()
            try:
                if self._clock_moved.is_set():
                    self._clock_moved.clear()
                    extend_leases(self._rt, self.in_flight())
                started = self.run_once()
                if time.monotonic() >= next_heartbeat:
                    next_heartbeat = time.monotonic() + self._heartbeat
                    extend_leases(self._rt, self.in_flight())
            except Exception:
                log.exception("webhook worker iteration failed")
            if started:
                continue  # there may be more due rows for the senders still free
            self._wake.wait(min(self._poll, max(next_heartbeat - time.monotonic(), 0.0)))
