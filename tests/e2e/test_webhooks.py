"""Webhook delivery through the real server: a retry after a 500 and its attempt log,
an unreachable receiver, status callbacks (twilio-python), and (system tier) several
server processes sharing the queue and a restart. Giving up after the maximum attempts
with the CLI's view of the log, the private-URL refusal and retries signed with a
rotated token are rules of the app: tests/inprocess/test_lifecycle_webhooks.py."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import requests
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.support.clients import settled_message
from tests.support.databases import fresh_database
from tests.support.fileserver import FileServer
from tests.support.receiver import Receiver, running_receiver
from tests.support.server import RunningServer, free_port, running_server
from tests.support.shared_redis import REDIS_URL
from tests.support.webhooks import claim, deliveries, inbound, settle


def test_retry_after_a_500(server: RunningServer, receiver: Receiver) -> None:
    acct = server.new_account("retry")
    hook_url = receiver.url("/flaky")
    receiver.answer("/flaky", 500)
    number = claim(server, acct, hook_url)
    message_sid = inbound(server, acct, number)

    first, second = receiver.wait_for("/flaky", 2)
    assert (first.status, second.status) == (500, 200)
    # The same webhook, signed the same way, with the same idempotency token.
    assert first.form == second.form and first.form["MessageSid"] == message_sid
    assert first.headers["I-Twilio-Idempotency-Token"] == second.headers["I-Twilio-Idempotency-Token"]
    for hit in (first, second):
        assert RequestValidator(acct.token).validate(hook_url, hit.form, hit.headers["X-Twilio-Signature"])

    (row,) = settle(server, acct, lambda rows: bool(rows) and rows[0]["status"] == "delivered")
    assert row["kind"] == "incoming" and row["message_sid"] == message_sid
    assert row["url"] == hook_url and row["method"] == "POST"
    assert row["attempts"] == 2 and row["last_status_code"] == 200
    assert row["params"]["MessageSid"] == message_sid
    assert [a["status_code"] for a in row["attempt_log"]] == [500, 200]
    assert row["attempt_log"][0]["error"] == "HTTP 500"
    assert deliveries(server, acct, MessageSid=message_sid)[0]["sid"] == row["sid"]
    # Another account sees none of it.
    other = server.new_account("retry-other")
    assert deliveries(server, other) == []
    r = requests.get(
        f"{server.base_url}/v1/Accounts/{acct.sid}/WebhookDeliveries",
        auth=(other.sid, other.token),
        timeout=10,
    )
    assert r.status_code == 401


def test_unreachable_receiver_is_recorded_as_an_error(server: RunningServer) -> None:
    acct = server.new_account("unreachable")
    number = claim(server, acct, f"http://127.0.0.1:{free_port()}/nobody")
    inbound(server, acct, number)
    (row,) = settle(server, acct, lambda rows: bool(rows) and rows[0]["attempts"] >= 1)
    attempt = row["attempt_log"][0]
    assert attempt["status_code"] is None and attempt["error"]
    assert row["status"] in ("pending", "failed")


def test_status_callbacks_for_sent_and_failed(
    server: RunningServer, files: FileServer, receiver: Receiver
) -> None:
    acct = server.new_account("status")
    client = Client(acct.sid, acct.token)
    client.api.base_url = server.base_url
    callback = receiver.url("/status")

    # Off-net: handed off, so one "sent" callback.
    ok = client.messages.create(to="+14155550150", from_="+14155550151", body="hi", status_callback=callback)
    (sent,) = receiver.wait_for("/status")
    assert sent.form["MessageSid"] == ok.sid and sent.form["MessageStatus"] == "sent"
    assert sent.form["SmsStatus"] == "sent" and "ErrorCode" not in sent.form
    assert RequestValidator(acct.token).validate(callback, sent.form, sent.headers["X-Twilio-Signature"])

    # A MediaUrl that cannot be fetched: the message fails, and the callback says why.
    missing = files.base + "/status/missing.png"
    bad = client.messages.create(
        to="+14155550150", from_="+14155550151", media_url=[missing], status_callback=callback
    )
    # Queued at once, as on Twilio; the fetch fails afterwards.
    assert bad.status == "queued"
    assert settled_message(server, acct, bad.sid)["status"] == "failed"
    hits = receiver.wait_for("/status", 2)
    failed = next(h for h in hits if h.form["MessageSid"] == bad.sid)
    assert failed.form["MessageStatus"] == "failed" and failed.form["ErrorCode"] == "11200"
    assert failed.form["AccountSid"] == acct.sid and failed.form["ApiVersion"] == "2010-04-01"
    assert RequestValidator(acct.token).validate(callback, failed.form, failed.headers["X-Twilio-Signature"])

    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": "+14155550150", "From": "+14155550151", "Body": "x", "StatusCallback": "gopher://x"},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 400


# Several server processes sharing one queue: a system test (`make test-system`).
@pytest.mark.system
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_deliver_each_webhook_once(
    backend: str, tmp_path: Path, receiver: Receiver, redis_prefix: str
) -> None:
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
        acct = one.new_account("shared-queue")
        number = claim(one, acct, receiver.url("/shared"))
        sids = {inbound(one if n % 2 else two, acct, number, f"n{n}") for n in range(12)}
        rows = settle(
            one, acct, lambda rows: len(rows) == 12 and all(r["status"] == "delivered" for r in rows)
        )
        assert all(r["attempts"] == 1 for r in rows)
        got = [h.form["MessageSid"] for h in receiver.received("/shared")]
        assert sorted(got) == sorted(sids)


# A server stopped and another started on its database: a system test (`make test-system`).
@pytest.mark.system
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_pending_delivery_survives_a_restart(backend: str, tmp_path: Path) -> None:
    key = secrets.token_hex(32)  # the same master secret, so the second server can read tokens
    port = free_port()  # nothing listens here until the first server is gone
    hook_url = f"http://127.0.0.1:{port}/after-restart"
    env = {"MEDIAGATE_SECRET_KEY": key, "MEDIAGATE_WEBHOOK_RETRY_BASE": "2"}
    with fresh_database(backend, tmp_path) as url:
        with running_server(tmp_path / "data", url, **env) as first:
            acct = first.new_account("restart")
            number = claim(first, acct, hook_url)
            message_sid = inbound(first, acct, number, "before the restart")
            settle(first, acct, lambda rows: bool(rows) and rows[0]["attempts"] >= 1)
        # The first server is stopped with the delivery still pending in the database.
        with running_receiver(port) as receiver, running_server(tmp_path / "data", url, **env) as second:
            (hit,) = receiver.wait_for("/after-restart")
            assert hit.form["MessageSid"] == message_sid and hit.form["Body"] == "before the restart"
            assert RequestValidator(acct.token).validate(
                hook_url, hit.form, hit.headers["X-Twilio-Signature"]
            )
            (row,) = settle(second, acct, lambda rows: rows[0]["status"] == "delivered")
            assert row["attempt_log"][0]["status_code"] is None
            assert row["attempt_log"][-1]["status_code"] == 200
