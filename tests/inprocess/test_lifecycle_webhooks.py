"""Webhook delivery rules with the app in process (tests/support/api_inprocess.py), on
SQLite and PostgreSQL: giving up after the maximum attempts (and the CLI's view of
the log), the private-URL refusal, and retries signed with the rotated token.

These were end-to-end tests on a server of their own each (tests/e2e/test_webhooks.py,
which keeps the retry, status-callback and several-process tests): the rules live in
the app and its worker, not in the process boundary. The receiver is still a real
HTTP server on loopback, so each attempt is a real POST; the retry schedule is moved
with the runtime's clock (test mode's ``OffsetClock``) instead of waited for."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from mediagate.core.clock import OffsetClock
from tests.conftest import BACKENDS
from tests.support.api_inprocess import ApiServer, api_server
from tests.support.cli import run_cli
from tests.support.receiver import Receiver
from tests.support.webhooks import claim, inbound, random_number, settle


@pytest.fixture(scope="module", params=BACKENDS)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One app per database for the module (each test makes its own accounts). Three
    attempts at most; a first retry a minute after the failure (test mode's clock moves
    it; the worker is woken by the move), later ones at most 2 minutes apart."""
    with api_server(
        request.param,
        "local",
        tmp_path_factory.mktemp(f"hooks-{request.param}"),
        test_mode=True,
        webhook_max_attempts=3,
        webhook_retry_base=60,
        webhook_max_backoff=120,
        webhook_poll_interval=0.05,
    ) as srv:
        yield srv


def _advance(srv: ApiServer, seconds: float) -> None:
    clock = srv.runtime.clock
    assert isinstance(clock, OffsetClock), clock
    clock.advance(seconds)


def test_gives_up_after_max_attempts_and_cli_shows_the_log(app: ApiServer, receiver: Receiver) -> None:
    acct = app.new_account("give-up")
    receiver.answer("/down", 503, 503, 503, 503)
    number = claim(app, acct, receiver.url("/down"))
    message_sid = inbound(app, acct, number)

    receiver.wait_for("/down", 1)
    settle(app, acct, lambda rows: bool(rows) and rows[0]["attempts"] == 1)
    _advance(app, 61)  # past the first backoff (60 s)
    receiver.wait_for("/down", 2)
    settle(app, acct, lambda rows: bool(rows) and rows[0]["attempts"] == 2)
    _advance(app, 121)  # past the second (120 s, the maximum)
    (row,) = settle(app, acct, lambda rows: bool(rows) and rows[0]["status"] != "pending")
    assert row["status"] == "failed" and row["attempts"] == 3
    assert [a["status_code"] for a in row["attempt_log"]] == [503, 503, 503]
    assert row["next_attempt_at"] is None
    _advance(app, 3600)  # given up: no fourth attempt however long one waits
    settle(app, acct, lambda rows: rows[0]["attempts"] == 3)
    assert len(receiver.received("/down")) == 3

    done = run_cli(app.env, "webhooks", "list", "--account", acct.sid, "--json")
    assert done.returncode == 0, done.stderr
    (listed,) = json.loads(done.stdout)
    assert listed["sid"] == row["sid"] and listed["message_sid"] == message_sid
    assert listed["status"] == "failed" and len(listed["attempt_log"]) == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_private_webhook_urls_refused_without_the_dev_setting(backend: str, tmp_path: Path) -> None:
    # api_server: while it is open, the module's app does not answer BASE_URL (the routing nests).
    with api_server(backend, "local", tmp_path, None, allow_private_media_urls=False) as srv:
        acct = srv.new_account("ssrf")
        for hook in ("http://127.0.0.1:9/x", "http://169.254.169.254/latest", "http://localhost/x"):
            number = random_number()
            srv.assign_number(acct.sid, number)  # so only the URL can be what is refused
            r = srv.http.post(
                f"{srv.base_url}/2010-04-01/Accounts/{acct.sid}/IncomingPhoneNumbers.json",
                data={"PhoneNumber": number, "SmsUrl": hook},
                auth=(acct.sid, acct.token),
                timeout=10,
            )
            assert r.status_code == 400, (hook, r.text)


def test_retries_are_signed_with_the_current_auth_token(app: ApiServer, receiver: Receiver) -> None:
    acct = app.new_account("rotation")
    hook_url = receiver.url("/rotate")
    receiver.answer("/rotate", 500)
    number = claim(app, acct, hook_url)
    inbound(app, acct, number)
    (first,) = receiver.wait_for("/rotate")
    settle(app, acct, lambda rows: bool(rows) and rows[0]["attempts"] == 1)

    # Rotate the auth token between the failed attempt and its retry (a minute away on the clock).
    base = app.base_url
    r = app.http.post(f"{base}/v1/AuthTokens/Secondary", auth=(acct.sid, acct.token), timeout=10)
    assert r.status_code == 201, r.text
    r = app.http.post(f"{base}/v1/AuthTokens/Promote", auth=(acct.sid, acct.token), timeout=10)
    assert r.status_code == 200, r.text
    new_token = r.json()["auth_token"]
    assert new_token != acct.token
    assert len(receiver.received("/rotate")) == 1  # the retry has not gone yet
    _advance(app, 61)

    first, second = receiver.wait_for("/rotate", 2)
    assert (first.status, second.status) == (500, 200)
    assert RequestValidator(acct.token).validate(hook_url, first.form, first.headers["X-Twilio-Signature"])
    assert RequestValidator(new_token).validate(hook_url, second.form, second.headers["X-Twilio-Signature"])
    assert not RequestValidator(acct.token).validate(
        hook_url, second.form, second.headers["X-Twilio-Signature"]
    )
