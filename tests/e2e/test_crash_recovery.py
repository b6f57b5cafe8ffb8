"""Background work survives kill -9 (issues 9.5 and 9.7).

* The carrier hand-off: a message committed right before the process dies is
  dispatched by the next process (the outbox), reaches its final status and its
  StatusCallback is delivered.
* Webhooks in flight at the crash: delivered after the restart once the dead
  process's short lease has run out; the duplicates this at-least-once delivery
  makes carry the same ``I-Twilio-Idempotency-Token`` as the first send.
"""

from __future__ import annotations

import secrets
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from mediagate.db.models import Message
from mediagate.messaging import outbox
from tests.support.databases import fresh_database
from tests.support.receiver import Receiver
from tests.support.server import running_server
from tests.support.shared_redis import REDIS_URL
from tests.support.slow import SlowServer, running_slow_server
from tests.support.webhooks import claim, inbound, settle

# A long system test: `make test-system` (README "Tests"), not `make test`.
pytestmark = pytest.mark.system


@pytest.fixture
def slow() -> Iterator[SlowServer]:
    with running_slow_server() as server:
        yield server


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_message_committed_before_a_crash_is_handed_off_after_the_restart(
    backend: str, tmp_path: Path, receiver: Receiver
) -> None:
    key = secrets.token_hex(32)  # one master secret for both processes
    crash = {"MEDIAGATE_TEST_CRASH_AT": "after-row"}  # mediagate.core.crashpoints
    with fresh_database(backend, tmp_path) as url:
        with running_server(tmp_path / "data", url, MEDIAGATE_SECRET_KEY=key, **crash) as first:
            sender, recipient = first.new_account("sender"), first.new_account("recipient")
            number = claim(first, recipient, receiver.url("/inbound"))
            with pytest.raises(requests.ConnectionError):  # the process dies before it answers
                requests.post(
                    f"{first.base_url}/2010-04-01/Accounts/{sender.sid}/Messages.json",
                    data={
                        "To": number,
                        "From": "+15557650001",
                        "Body": "across a crash",
                        "StatusCallback": receiver.url("/status"),
                    },
                    auth=(sender.sid, sender.token),
                    timeout=30,
                )
            assert first.process.wait(30) == 137
            with first.runtime.sessions() as session:
                (message,) = session.scalars(select(Message).where(Message.account_sid == sender.sid))
            assert message.status == "queued"
            assert outbox.pending(first.runtime) == 1
        with running_server(tmp_path / "data", url, MEDIAGATE_SECRET_KEY=key) as second:
            statuses = receiver.wait_for("/status", 2, timeout=60)
            assert [h.form["MessageStatus"] for h in statuses] == ["sent", "delivered"]
            assert all(h.form["MessageSid"] == message.sid for h in statuses)
            (arrival,) = receiver.wait_for("/inbound", timeout=60)
            assert arrival.form["Body"] == "across a crash"
            r = requests.get(
                f"{second.base_url}/2010-04-01/Accounts/{sender.sid}/Messages/{message.sid}.json",
                auth=(sender.sid, sender.token),
                timeout=10,
            )
            assert r.json()["status"] == "delivered", r.text
            settle(
                second, sender, lambda rows: len(rows) == 2 and all(r["status"] == "delivered" for r in rows)
            )
            assert outbox.pending(second.runtime) == 0
            # Exactly one arrival and one callback per change, however many dispatchers looked.
            assert len(receiver.received("/inbound")) == 1 and len(receiver.received("/status")) == 2


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_send_longer_than_the_lease_keeps_its_claim(
    backend: str, tmp_path: Path, slow: SlowServer, redis_prefix: str
) -> None:
    """The lease is short (15 s) so that a crash costs little; the worker renews it
    while a send is in flight, so a slow but live send is never taken over by
    another process and sent twice."""
    key = secrets.token_hex(32)
    # Two processes on one database need Redis (they refuse to start without it).
    env = {
        "MEDIAGATE_SECRET_KEY": key,
        "MEDIAGATE_REDIS_URL": REDIS_URL,
        "MEDIAGATE_REDIS_KEY_PREFIX": redis_prefix,
    }
    with (
        fresh_database(backend, tmp_path) as url,
        running_server(tmp_path / "data", url, **env) as one,
        running_server(tmp_path / "data", url, **env) as two,
    ):
        acct = one.new_account("slow-answer")
        number = claim(one, acct, slow.url("/slow-answer"))
        inbound(one, acct, number, "takes 20 s to be answered")
        (row,) = settle(two, acct, lambda rows: bool(rows) and rows[0]["status"] == "delivered", timeout=120)
        assert row["attempts"] == 1 and row["attempt_log"][0]["status_code"] == 200
        assert len(slow.received("/slow-answer")) == 1


IN_FLIGHT = 5


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_webhooks_in_flight_at_a_crash_are_delivered_after_the_restart_with_their_token(
    backend: str, tmp_path: Path, slow: SlowServer
) -> None:
    key = secrets.token_hex(32)
    env = {"MEDIAGATE_SECRET_KEY": key, "MEDIAGATE_WEBHOOK_SENDERS_PER_ACCOUNT": str(IN_FLIGHT)}
    with fresh_database(backend, tmp_path) as url:
        with running_server(tmp_path / "data", url, **env) as first:
            acct = first.new_account("crash")
            number = claim(first, acct, slow.url("/held"))
            sids = {inbound(first, acct, number, f"n{n}") for n in range(IN_FLIGHT)}
            slow.wait_for(IN_FLIGHT, "/held")  # every delivery is in flight, held by the receiver
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(30)
            killed_at = time.monotonic()
        slow.release()  # from now on the endpoint answers 200 at once
        with running_server(tmp_path / "data", url, **env) as second:
            rows = settle(
                second,
                acct,
                lambda rows: len(rows) == IN_FLIGHT and all(r["status"] == "delivered" for r in rows),
                timeout=120,
            )
            recovered_after = time.monotonic() - killed_at
    hits = slow.received("/held")
    by_message = Counter(h.form["MessageSid"] for h in hits)
    assert set(by_message) == sids
    tokens: dict[str, set[str]] = {}
    for h in hits:
        tokens.setdefault(h.form["MessageSid"], set()).add(h.headers["I-Twilio-Idempotency-Token"])
    # Every send of one delivery, before and after the crash, carries the same token.
    assert all(len(t) == 1 for t in tokens.values()), tokens
    assert len({next(iter(t)) for t in tokens.values()}) == IN_FLIGHT
    # The dead process recorded nothing, so each in-flight delivery was sent exactly once more.
    assert all(n == 2 for n in by_message.values()), by_message
    assert all(len(r["attempt_log"]) == 1 and r["attempt_log"][0]["status_code"] == 200 for r in rows)
    duplicates = len(hits) - IN_FLIGHT
    print(f"\n{backend}: {duplicates} duplicates of {IN_FLIGHT} in flight, recovered {recovered_after:.1f} s")
