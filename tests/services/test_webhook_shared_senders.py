"""The webhook worker's share of an account's senders across processes, in process:
two runtimes on one database and one Redis stand for two servers (the several-process
version is tests/e2e/test_scaleout_webhooks.py, a system test). On SQLite and
PostgreSQL, with the machine's Redis under a prefix of this test's own.

What is checked here is the worker's side of the shared slots (webhooks/worker.py):
an account whose senders are all held elsewhere waits (its rows stay pending, nothing
is claimed), a freed slot lets the send go, and an unreachable Redis makes the pass
wait rather than send without a bound."""

from __future__ import annotations

import logging

import pytest

from mediagate.accounts import accounts
from mediagate.db.models import WebhookDelivery
from mediagate.runtime.context import Runtime
from mediagate.webhooks import queue
from mediagate.webhooks.worker import Worker
from tests.conftest import MakeRuntime
from tests.support.receiver import Receiver
from tests.support.shared_redis import REDIS_URL


def _pending(rt: Runtime, account_sid: str, url: str, n: int) -> list[str]:
    with rt.tx() as session:
        made = [
            queue.enqueue(
                session,
                rt,
                account_sid=account_sid,
                message_sid=None,
                kind="status",
                url=url,
                method="POST",
                params=[("MessageStatus", "sent")],
            ).sid
            for _ in range(n)
        ]
    return made


def _statuses(rt: Runtime, sids: list[str]) -> list[str]:
    with rt.sessions() as session:
        return [session.get(WebhookDelivery, sid).status for sid in sids]  # type: ignore[union-attr]


def test_an_account_whose_senders_are_held_elsewhere_waits(
    make_runtime: MakeRuntime, redis_prefix: str, receiver: Receiver
) -> None:
    shared = {"redis_url": REDIS_URL, "redis_key_prefix": redis_prefix, "webhook_senders_per_account": 1}
    here, elsewhere = make_runtime(**shared), make_runtime(**shared)
    acct = accounts.create(here, "shared-senders").account.sid
    sids = _pending(here, acct, receiver.url("/status"), 2)
    # The other "process" is sending for this account: it holds the account's one slot.
    assert elsewhere.shared_slots is not None
    held = elsewhere.shared_slots.try_acquire(f"webhook:{acct}", 1)
    assert held is not None
    worker = Worker(here)
    try:
        assert worker.run_once() == 0
        assert _statuses(here, sids) == ["pending", "pending"]
        assert receiver.received("/status") == []
        elsewhere.shared_slots.release(held)
        # Freed: one send at a time for the account (its cap is 1), the next after it.
        assert worker.run_once() == 1
        receiver.wait_for("/status", 1)
    finally:
        worker.stop()


def test_an_unreachable_redis_makes_the_sends_wait(
    make_runtime: MakeRuntime, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    rt = make_runtime(redis_url="redis://127.0.0.1:1/0", redis_timeout=0.5)
    acct = accounts.create(rt, "no-redis").account.sid
    sids = _pending(rt, acct, receiver.url("/status"), 1)
    worker = Worker(rt)
    try:
        with caplog.at_level(logging.WARNING, logger="mediagate"):
            assert worker.run_once() == 0
    finally:
        worker.stop()
    assert _statuses(rt, sids) == ["pending"]
    assert receiver.received("/status") == []
    assert any("shared state store is unreachable" in r.getMessage() for r in caplog.records)
