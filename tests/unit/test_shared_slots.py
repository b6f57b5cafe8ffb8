"""Concurrency slots counted across processes in the real Redis (cluster/shared_slots.py),
and the MediaUrl fetch share built on them: each ``SharedSlots`` here plays one
process (its own connection and renewer thread)."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from mediagate.cluster.shared_slots import SharedSlots, SharedStateUnavailable
from mediagate.media.fetch_limits import FetchGate, TooManyRequests
from tests.support.loops import run_fresh
from tests.support.shared_redis import REDIS_URL

A, B = "AC" + "a" * 32, "AC" + "b" * 32


def test_a_limit_holds_across_processes_and_a_release_frees_a_slot(redis_prefix: str) -> None:
    one, two = SharedSlots(REDIS_URL, redis_prefix), SharedSlots(REDIS_URL, redis_prefix)
    try:
        first = one.try_acquire("webhook:" + A, 2)
        second = two.try_acquire("webhook:" + A, 2)
        assert first and second
        assert one.try_acquire("webhook:" + A, 2) is None
        assert two.try_acquire("webhook:" + A, 2) is None
        assert two.try_acquire("webhook:" + B, 2)  # another bucket counts on its own
        assert one.count("webhook:" + A) == 2
        one.release(first)
        assert two.try_acquire("webhook:" + A, 2)
    finally:
        one.close()
        two.close()


def test_a_killed_holders_slot_frees_when_its_lease_ends_and_a_live_one_is_renewed(redis_prefix: str) -> None:
    killed = SharedSlots(REDIS_URL, redis_prefix, lease=0.6)
    alive = SharedSlots(REDIS_URL, redis_prefix, lease=0.6)
    try:
        assert killed.try_acquire("fetch:" + A, 1)
        assert alive.try_acquire("fetch:" + B, 1)
        killed._stop.set()  # the process dies: nobody renews or releases its slot
        deadline = time.monotonic() + 30
        while (token := alive.try_acquire("fetch:" + A, 1)) is None:
            assert time.monotonic() < deadline, "the dead holder's slot never expired"
            time.sleep(0.1)
        alive.release(token)
        # Several lease lengths later B is still held: the renewer kept it.
        time.sleep(2.0)
        assert alive.try_acquire("fetch:" + B, 1) is None
        assert alive.count("fetch:" + B) == 1
    finally:
        killed.close()
        alive.close()


def test_an_unreachable_redis_is_an_error_not_a_free_slot() -> None:
    slots = SharedSlots("redis://127.0.0.1:1/0", "unused", timeout=0.5)  # nothing listens on port 1
    with pytest.raises(SharedStateUnavailable):
        slots.try_acquire("fetch:" + A, 4)
    slots.close()


def test_the_fetch_share_of_an_account_counts_across_processes(redis_prefix: str) -> None:
    """Two gates (two processes), one share of 1: while one process fetches for A
    the other refuses A with 429 / 20429 and still admits B."""
    shared = [SharedSlots(REDIS_URL, redis_prefix), SharedSlots(REDIS_URL, redis_prefix)]
    one, two = (FetchGate(total=8, per_account=1, shared=s) for s in shared)
    started, finish = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def slow() -> str:
        started.set()
        finish.wait(30)
        return "fetched"

    async def main() -> None:
        async with anyio.create_task_group() as tg:

            async def hold() -> None:
                outcomes["one"] = await one.run(A, slow)

            tg.start_soon(hold)
            await anyio.to_thread.run_sync(started.wait, 30)
            try:
                await two.run(A, lambda: "never")
            except TooManyRequests as exc:
                outcomes["two-A"] = exc
            outcomes["two-B"] = await two.run(B, lambda: "other account")
            finish.set()

    try:
        # Its own thread: Playwright's sync API (the console tests) leaves a loop in the main thread.
        run_fresh(main)
        refused = outcomes["two-A"]
        assert isinstance(refused, TooManyRequests)
        assert refused.status == 429 and refused.code == 20429 and "across the deployment" in refused.message
        assert outcomes["one"] == "fetched" and outcomes["two-B"] == "other account"
        assert shared[0].held() == 0 and shared[1].held() == 0  # every slot given back
        assert shared[0].count("fetch:" + A) == 0
    finally:
        for s in shared:
            s.close()
