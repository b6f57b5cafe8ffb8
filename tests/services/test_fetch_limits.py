"""Admission to MediaUrl fetching: per-account and per-process shares, refused
at once with Twilio's 429 / 20429, and every slot given back however the work ends."""

from __future__ import annotations

import threading
from contextlib import ExitStack

import anyio
import pytest

from mediagate.media.fetch_limits import FetchGate, TooManyRequests

A, B, C = "AC" + "a" * 32, "AC" + "b" * 32, "AC" + "c" * 32


def test_an_account_beyond_its_share_is_refused_while_others_are_admitted() -> None:
    gate = FetchGate(total=10, per_account=2)
    with ExitStack() as held:
        held.enter_context(gate.slot(A))
        held.enter_context(gate.slot(A))
        with pytest.raises(TooManyRequests) as refused:
            held.enter_context(gate.slot(A))
        held.enter_context(gate.slot(B))  # another account still gets in
        assert gate.in_flight(A) == 2 and gate.in_flight(B) == 1 and gate.in_flight() == 3
    body = refused.value.body()
    assert refused.value.status == 429 and body["code"] == 20429 and body["status"] == 429
    assert "this account" in body["message"]
    assert gate.in_flight() == 0 and gate.in_flight(A) == 0


def test_the_process_total_bounds_all_accounts_together() -> None:
    gate = FetchGate(total=2, per_account=2)
    with gate.slot(A), gate.slot(B):
        with pytest.raises(TooManyRequests) as refused, gate.slot(C):
            pass
        assert "too many messages" in refused.value.message
    with gate.slot(C):  # freed again
        assert gate.in_flight(C) == 1


def test_the_share_is_never_larger_than_the_total() -> None:
    assert FetchGate(total=3, per_account=8).per_account == 3


def test_run_gives_the_slot_back_when_the_work_fails_and_runs_off_the_event_loop_thread() -> None:
    gate = FetchGate(total=4, per_account=1)
    loop_thread: list[int] = []
    seen: list[int] = []

    def work() -> None:
        seen.append(threading.get_ident())
        assert gate.in_flight(A) == 1
        raise OSError("remote host vanished")

    raised: list[BaseException] = []

    async def main() -> None:
        loop_thread.append(threading.get_ident())
        try:
            await gate.run(A, work)
        except OSError as exc:
            raised.append(exc)

    # A thread of its own: other tests in the same pytest worker may leave an event loop
    # running on the main thread (playwright), and anyio.run refuses to nest.
    runner = threading.Thread(target=anyio.run, args=(main,))
    runner.start()
    runner.join(30)
    assert [str(e) for e in raised] == ["remote host vanished"]
    assert loop_thread and seen and seen[0] != loop_thread[0]
    assert gate.in_flight() == 0
