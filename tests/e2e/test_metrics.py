"""``GET /metrics`` on the real server: counters move with the right labels, the
access rule (loopback or bearer token), and aggregation over several workers."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.support.clients import assert_twilio_error, settled_message
from tests.support.fileserver import PNG, FileServer
from tests.support.scrape import delta, parse, scrape, value
from tests.support.server import RunningServer
from tests.support.shared_redis import REDIS_URL

pytestmark = pytest.mark.e2e
Factory = Callable[..., RunningServer]

TIMEOUT = 30
CONTENT = "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"
SECURE = "/_media/secure/{account_sid}/{media_sid}"
MESSAGES = "/2010-04-01/Accounts/{account_sid}/Messages.json"
REQUESTS = "mediagate_http_requests_total"


def test_requests_media_and_auth_failures_are_counted(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("metrics")
    good = files.add(f"/metrics-{secrets.token_hex(4)}.png", PNG)
    missing = f"{files.base}/metrics-missing-{secrets.token_hex(4)}.png"
    messages_url = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json"
    before = scrape(server)

    sent = requests.post(
        messages_url,
        data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": good},
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )
    assert sent.status_code == 201, sent.text
    failed = requests.post(
        messages_url,
        data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": missing},
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )
    assert failed.status_code == 201, failed.text
    assert settled_message(server, acct, failed.json()["sid"])["error_code"] == 11200
    message_sid = sent.json()["sid"]
    settled_message(server, acct, message_sid)
    listed = requests.get(
        f"{messages_url[: -len('.json')]}/{message_sid}/Media.json",
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )
    media_sid = listed.json()["media_list"][0]["sid"]
    content = f"{messages_url[: -len('.json')]}/{message_sid}/Media/{media_sid}"

    redirect = requests.get(content, auth=(acct.sid, acct.token), allow_redirects=False, timeout=TIMEOUT)
    assert redirect.status_code == 307
    signed = redirect.headers["location"]
    assert requests.get(signed, timeout=TIMEOUT).content == PNG
    assert requests.get(content, timeout=TIMEOUT).status_code == 401  # no credentials
    assert requests.get(content, auth=(acct.sid, "0" * 32), timeout=TIMEOUT).status_code == 401

    after_text = requests.get(server.base_url + "/metrics", timeout=TIMEOUT).text
    after = parse(after_text)
    assert delta(before, after, REQUESTS, route=MESSAGES, method="POST", status="201") == 2
    assert delta(before, after, REQUESTS, route=CONTENT, method="GET", status="307") == 1
    assert delta(before, after, REQUESTS, route=CONTENT, method="GET", status="401") == 2
    assert delta(before, after, REQUESTS, route=SECURE, method="GET", status="200") == 1
    assert delta(before, after, "mediagate_http_response_bytes_total", route=SECURE) == len(PNG)
    duration = "mediagate_http_request_duration_seconds_count"
    assert delta(before, after, duration, route=CONTENT) == 3
    assert delta(before, after, duration, route=SECURE) == 1
    assert delta(before, after, "mediagate_auth_failures_total", reason="missing") == 1
    assert delta(before, after, "mediagate_auth_failures_total", reason="bad_secret") == 1
    assert delta(before, after, "mediagate_ingest_media_total", channel="sms") == 1
    assert delta(before, after, "mediagate_ingest_bytes_total", channel="sms") == len(PNG)
    assert delta(before, after, "mediagate_ingest_failures_total", channel="sms", code="11200") == 1
    assert value(after, "mediagate_worker_starts_total") == 1
    assert value(after, "mediagate_webhook_queue_depth", state="due") >= 0
    # Labels are templates and classes, never request data or secrets.
    for needle in (acct.sid, message_sid, media_sid, acct.token, "Signature", "Expires"):
        assert needle not in after_text


def test_scrape_time_webhook_queue_depth(server: RunningServer) -> None:
    """The queue gauge reads the database at scrape time: a delivery that
    cannot be sent yet (in backoff) shows as waiting, in any process."""
    from datetime import timedelta

    from mediagate import webhooks
    from mediagate.core.timefmt import utcnow

    acct = server.new_account("queue")
    before = scrape(server)
    with server.runtime.tx() as session:
        row = webhooks.enqueue(
            session,
            server.runtime,
            account_sid=acct.sid,
            message_sid=None,
            kind="status",
            url="http://127.0.0.1:9/never",
            method="POST",
            params=[],
        )
        row.next_attempt_at = utcnow() + timedelta(hours=1)
    after = scrape(server)
    assert delta(before, after, "mediagate_webhook_queue_depth", state="waiting") == 1


def test_webhook_deliveries_and_failed_attempts_are_counted(server: RunningServer) -> None:
    from tests.support.server import free_port

    acct = server.new_account("webhooks")
    before = scrape(server)
    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={
            "To": "+15551230001",
            "From": "+15557650001",
            "Body": "hi",
            "StatusCallback": f"http://127.0.0.1:{free_port()}/closed",  # nothing listens there
        },
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )
    assert r.status_code == 201, r.text
    for _ in range(600):  # the worker polls every 0.5 s; retries follow at 0.2 s, 0.4 s, ...
        after = scrape(server)
        if delta(before, after, "mediagate_webhook_attempts_total", kind="status", result="failure") >= 2:
            break
        time.sleep(0.1)
    assert delta(before, after, "mediagate_webhook_deliveries_total", kind="status") >= 1
    assert delta(before, after, "mediagate_webhook_attempts_total", kind="status", result="failure") >= 2


def test_metrics_need_the_bearer_token_when_one_is_set(
    server_factory: Factory, server: RunningServer
) -> None:
    token = secrets.token_urlsafe(24)
    guarded = server_factory(MEDIAGATE_METRICS_TOKEN=token)
    url = guarded.base_url + "/metrics"
    r = requests.get(url, timeout=TIMEOUT)
    assert_twilio_error(r, 401, 20003)
    assert r.headers["www-authenticate"].startswith("Bearer")
    wrong = "Bearer " + token[:-1] + ("x" if token[-1] != "x" else "y")
    assert_twilio_error(requests.get(url, headers={"Authorization": wrong}, timeout=TIMEOUT), 401)
    acct = guarded.new_account()
    assert_twilio_error(requests.get(url, auth=(acct.sid, acct.token), timeout=TIMEOUT), 401)
    samples = scrape(guarded, headers={"Authorization": f"Bearer {token}"})
    assert value(samples, "mediagate_auth_failures_total", reason="metrics_token") == 3
    assert token not in guarded.log()

    # Without a token: loopback bind and loopback client only. X-Forwarded-For
    # from a peer that is not a trusted proxy is ignored (the client is the peer);
    # behind a trusted proxy a non-local client is refused: that rule is the app's, checked
    # in process (tests/inprocess/test_api_metrics.py) without starting a third server.
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    assert requests.get(server.base_url + "/metrics", timeout=TIMEOUT).status_code == 200
    assert requests.get(server.base_url + "/metrics", headers=forwarded, timeout=TIMEOUT).status_code == 200


@pytest.mark.parametrize("explicit_dir", [False, True], ids=["temporary-dir", "PROMETHEUS_MULTIPROC_DIR"])
def test_several_workers_report_one_sum(
    server_factory: Factory, tmp_path: Path, explicit_dir: bool, redis_prefix: str
) -> None:
    """Each of two workers counts its own start; every scrape, whichever worker
    answers it, reports both (and every request), so the values are summed over
    processes: in the temporary directory `mediagate serve` makes, and in an
    explicit PROMETHEUS_MULTIPROC_DIR (which then holds each worker's files)."""
    # Several workers need Redis (they refuse to start without it).
    env = {"MEDIAGATE_REDIS_URL": REDIS_URL, "MEDIAGATE_REDIS_KEY_PREFIX": redis_prefix}
    prom_dir = tmp_path / "prom"
    if explicit_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)
    srv = server_factory(serve_args=["--workers", "2"], **env)
    for _ in range(600):  # the second worker may still be importing
        if value(scrape(srv), "mediagate_worker_starts_total") == 2:
            break
        time.sleep(0.2)
    assert value(scrape(srv), "mediagate_worker_starts_total") == 2
    before = scrape(srv)
    for _ in range(30):
        assert (
            requests.get(srv.base_url + "/healthz", timeout=TIMEOUT).status_code == 200
        )  # new connection each
    for _ in range(8):
        after = scrape(srv)
        assert delta(before, after, REQUESTS, route="/healthz", method="GET", status="200") == 30
        assert value(after, "mediagate_worker_starts_total") == 2
    if explicit_dir:
        pids = {p.stem.rsplit("_", 1)[-1] for p in prom_dir.glob("counter_*.db")}
        assert len(pids) >= 2, pids
