"""Test mode's hooks outside the media hosts, on SQLite and PostgreSQL: webhook attempts and
MediaUrl fetches are journaled, their faults apply, and a clock step wakes the webhook worker."""

from __future__ import annotations

import time

import pytest
from twilio.request_validator import RequestValidator

from mediagate import webhooks
from mediagate.accounts import accounts
from mediagate.media import ingest
from mediagate.media.fetch import RetrievalFailed
from mediagate.messaging.channels import SMS
from mediagate.runtime.context import Runtime
from mediagate.testmode import faults
from tests.support.fileserver import FileServer, png_bytes
from tests.support.receiver import Receiver


def _arm(rt: Runtime, **form: str) -> faults.Fault:
    assert rt.testing is not None
    fault = faults.parse(form, rt.clock)
    rt.testing.faults.add(fault)
    return fault


def test_a_webhook_fault_fails_one_attempt_and_the_clock_brings_the_retry(
    test_rt: Runtime, receiver: Receiver
) -> None:
    rt = test_rt
    assert rt.testing is not None
    made = accounts.create(rt, "hooks")
    account = made.account.sid
    hook = receiver.url("/hook")
    fault = _arm(rt, Target="webhook", Action="status", Status="503", AccountSid=account)
    with rt.tx() as session:
        sid = webhooks.enqueue(
            session, rt, account_sid=account, message_sid=None, kind="incoming",
            url=hook + "?token=secret-query", method="POST", params=[("Body", "hi")],
        ).sid  # fmt: skip
    worker = webhooks.Worker(rt, poll_interval=3600)  # only the clock step can wake it in time
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while len(rt.testing.journal.entries(account)) < 1:
            assert time.monotonic() < deadline, "the first attempt never happened"
            time.sleep(0.02)
        assert receiver.received("/hook") == []  # the fault answered for the receiver
        rt.testing.clock.advance(webhooks.backoff(rt, 1))
        (hit,) = receiver.wait_for("/hook", 1, timeout=30)
        while len(rt.testing.journal.entries(account)) < 2:
            assert time.monotonic() < deadline, "the retry was never journaled"
            time.sleep(0.02)
    finally:
        worker.stop()
    assert RequestValidator(made.auth_token).validate(
        hook + "?token=secret-query", hit.form, hit.headers["X-Twilio-Signature"]
    )
    first, second = (e.as_json() for e in rt.testing.journal.entries(account))
    assert (first["kind"], first["status"], first["fault"]) == ("webhook", 503, fault.sid)
    assert (second["status"], second["fault"], second["signature_valid"]) == (200, None, True)
    assert first["delivery_sid"] == second["delivery_sid"] == sid
    assert second["url"] == hook and "secret-query" not in str(second)


def test_media_fetch_faults_fail_the_fetch_and_are_journaled(test_rt: Runtime, files: FileServer) -> None:
    rt = test_rt
    assert rt.testing is not None
    account = accounts.create(rt, "fetches").account.sid
    path = f"/testmode/{account}.png"  # the file server is the session's: a path of this test's own
    url = files.add(path, png_bytes(4000))
    status = _arm(rt, Target="media-fetch", Action="status", Status="404", AccountSid=account)
    with pytest.raises(RetrievalFailed, match="HTTP 404"):
        ingest.ingest(rt, account, [url], SMS)
    assert files.hits(path) == 0  # failed as the media server would have, without asking it
    cut = _arm(rt, Target="media-fetch", Action="truncate")
    with pytest.raises(RetrievalFailed, match="reading"):
        ingest.ingest(rt, account, [url], SMS)
    (item,) = ingest.ingest(rt, account, [url], SMS)
    assert item.size == 4000
    entries = [e.as_json() for e in rt.testing.journal.entries(account)]
    assert [(e["kind"], e["ok"], e["fault"]) for e in entries] == [
        ("media-fetch", False, status.sid),
        ("media-fetch", False, cut.sid),
        ("media-fetch", True, None),
    ]
    assert entries[2]["media_sid"] == item.sid and entries[2]["size"] == 4000
    assert [key for key, _ in rt.store.iter_keys() if key.startswith(account)] == [item.key]
