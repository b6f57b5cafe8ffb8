"""A Redis that stops answering (SIGSTOP: connections stay open, nothing comes back)
fails the requests that need it within ``MEDIAGATE_REDIS_TIMEOUT``, each the way it
is documented, and does not hold anything else (issue 23, finding 4). On SQLite and
PostgreSQL.

The Redis here is the test's own (tests/support/own_redis.py), never the machine's.
The time bounds are correctness bounds (an answer within a few seconds instead of
never), far above what the work takes: twice the timeout for a new connection,
plus a generous margin for a loaded machine.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediagate import webhooks
from mediagate.accounts import accounts, quotas
from mediagate.cluster import invalidation as inv
from mediagate.cluster.shared_slots import SharedStateUnavailable
from mediagate.core.clock import Clock, ManualClock
from mediagate.core.errors import ServiceUnavailable
from mediagate.core.settings import Settings
from mediagate.http.app import create_app
from mediagate.media import media
from mediagate.messaging import messages
from mediagate.observability.health import Readiness
from mediagate.retention import rules as retention
from mediagate.runtime.context import Runtime, build_runtime
from tests.support.loops import run_fresh
from tests.support.own_redis import OwnRedis, running_redis

TIMEOUT = 1.0
BOUND = 2 * TIMEOUT + 3.0  # a new connection: connect, then the first reply; then slack
BASE = "http://mediagate.test"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    with running_redis(tmp_path) as server:
        yield server


@contextmanager
def _runtime(
    tmp_path: Path, db_url: str, redis: OwnRedis, clock: Clock | None = None, **extra: Any
) -> Iterator[Runtime]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key=secrets.token_hex(32),
        public_url=BASE,
        redis_url=redis.url,
        redis_key_prefix=f"frozen-{secrets.token_hex(4)}",
        redis_timeout=extra.pop("redis_timeout", TIMEOUT),
        quota_ingest_per_hour=100,
        gc_interval=0,
        **extra,
    )
    rt = build_runtime(settings, clock=clock)
    try:
        yield rt
    finally:
        rt.close()


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, timeout=60)


async def _login_form(client: httpx.AsyncClient) -> str:
    """The sign-in form's CSRF token (and, in the client's jar, its pre-login cookie)."""
    form = await client.get("/console/login")
    assert form.status_code == 200, form.text
    found = CSRF.search(form.text)
    assert found is not None
    return found.group(1)


def test_a_create_with_media_url_answers_503_with_retry_after_within_the_timeout(
    tmp_path: Path, db_url: str, own_redis: OwnRedis
) -> None:
    """The hourly ingest quota is what a create with MediaUrl asks Redis (the
    account's fetch share is asked by the background fetch worker, which leaves
    the fetch for a later pass while Redis is away: messaging/media_fetches.py)."""
    with _runtime(tmp_path, db_url, own_redis) as rt:
        made = accounts.create(rt, "frozen ingest")
        sid = made.account.sid
        assert rt.ingest_meter.used(sid, 100) == 0  # Redis answers; the pool now holds an open connection
        app = create_app(rt)

        async def main() -> tuple[httpx.Response, float]:
            async with app.router.lifespan_context(app), _client(app) as client:
                own_redis.freeze()
                try:
                    started = time.monotonic()
                    answer = await client.post(
                        f"/2010-04-01/Accounts/{sid}/Messages.json",
                        data={
                            "To": "+15551230001",
                            "From": "+15557650001",
                            "MediaUrl": "https://media.example.com/a.png",
                        },
                        auth=(sid, made.auth_token),
                    )
                    return answer, time.monotonic() - started
                finally:
                    own_redis.thaw()

        answer, took = run_fresh(main)
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert (
        body["code"] == 20503
        and body["status"] == 503
        and "ingest quota cannot be checked" in body["message"]
    )
    assert int(answer.headers["Retry-After"]) > 0
    assert took < BOUND, f"answered after {took:.1f} s"


def test_sign_in_fails_closed_within_seconds(tmp_path: Path, db_url: str, own_redis: OwnRedis) -> None:
    with _runtime(tmp_path, db_url, own_redis) as rt:
        made = accounts.create(rt, "frozen sign-in")
        app = create_app(rt)

        async def main() -> tuple[httpx.Response, float]:
            async with app.router.lifespan_context(app), _client(app) as client:
                token = await _login_form(client)
                own_redis.freeze()
                try:
                    started = time.monotonic()
                    answer = await client.post(
                        "/console/login",
                        data={"csrf_token": token, "username": made.account.sid, "password": made.auth_token},
                    )
                    return answer, time.monotonic() - started
                finally:
                    own_redis.thaw()

        answer, took = run_fresh(main)
    assert answer.status_code == 503, answer.text
    assert "Sign-in is unavailable right now" in answer.text
    assert int(answer.headers["Retry-After"]) > 0
    assert "mg_console=" not in answer.headers.get("set-cookie", "").replace("mg_console_login", "")
    assert took < BOUND, f"answered after {took:.1f} s"


def test_sign_ins_stuck_on_redis_do_not_starve_api_routes(
    tmp_path: Path, db_url: str, own_redis: OwnRedis
) -> None:
    """45 sign-ins in flight with Redis frozen (the finding's shape) used to hold all
    40 threads of Starlette's pool, so an authenticated API GET got no answer. The
    console now waits for threads of its own; the timeout here is long on purpose,
    so that the sign-ins are surely still stuck when the API is asked."""
    stuck = 45
    with _runtime(tmp_path, db_url, own_redis, redis_timeout=20.0) as rt:
        made = accounts.create(rt, "frozen flood")
        sid = made.account.sid
        app = create_app(rt)

        async def main() -> tuple[httpx.Response, float, int]:
            async with app.router.lifespan_context(app), _client(app) as api:
                signers = [_client(app) for _ in range(stuck)]
                try:
                    tokens = [await _login_form(c) for c in signers]
                    own_redis.freeze()
                    try:
                        posts = [
                            asyncio.ensure_future(
                                c.post(
                                    "/console/login", data={"csrf_token": t, "username": sid, "password": "x"}
                                )
                            )
                            for c, t in zip(signers, tokens, strict=True)
                        ]
                        await asyncio.sleep(
                            0.5
                        )  # every sign-in has reached its thread or the console's queue
                        started = time.monotonic()
                        listed = await api.get(
                            f"/2010-04-01/Accounts/{sid}/Messages.json", auth=(sid, made.auth_token)
                        )
                        took = time.monotonic() - started
                        still_stuck = sum(not p.done() for p in posts)
                    finally:
                        own_redis.thaw()
                    await asyncio.gather(*posts)
                    return listed, took, still_stuck
                finally:
                    for c in signers:
                        await c.aclose()

        listed, took, still_stuck = run_fresh(main)
    assert listed.status_code == 200, listed.text
    assert took < 5.0, f"the API answered after {took:.1f} s"
    assert still_stuck == stuck, "the sign-ins were not all in flight when the API was asked"


def test_shared_slots_and_readiness_fail_as_documented_within_the_timeout(
    tmp_path: Path, db_url: str, own_redis: OwnRedis
) -> None:
    with _runtime(tmp_path, db_url, own_redis, readiness_timeout=1.0) as rt:
        slots = rt.shared_slots
        assert slots is not None
        made = accounts.create(rt, "frozen slots")
        sid = made.account.sid
        token = slots.try_acquire(f"fetch:{sid}", 4)
        assert token is not None
        slots.release(token)
        readiness = Readiness(rt)
        try:
            own_redis.freeze()
            try:
                started = time.monotonic()
                with pytest.raises(SharedStateUnavailable):
                    slots.try_acquire(f"fetch:{sid}", 4)
                slot_took = time.monotonic() - started

                # The MediaUrl fetch share turns it into 503 / 20503, and so does the hourly ingest quota.
                started = time.monotonic()
                with pytest.raises(ServiceUnavailable) as refused:
                    rt.fetch_gate._in_shared_slot(sid, lambda: None)
                gate_took = time.monotonic() - started

                started = time.monotonic()
                with pytest.raises(ServiceUnavailable, match="ingest quota cannot be checked"):
                    quotas.admit(rt, made.account.sid, 1)
                admit_took = time.monotonic() - started

                started = time.monotonic()
                report = run_fresh(readiness.report)
                ready_took = time.monotonic() - started
            finally:
                own_redis.thaw()
        finally:
            readiness.close()
    assert refused.value.body()["code"] == 20503
    assert report["redis"] != "ok"
    for what, took in (
        ("slot", slot_took),
        ("gate", gate_took),
        ("admit", admit_took),
        ("readyz", ready_took),
    ):
        assert took < BOUND, f"{what} answered after {took:.1f} s"


def test_a_webhook_pass_ends_at_the_first_redis_failure(
    tmp_path: Path, db_url: str, own_redis: OwnRedis
) -> None:
    """Each due delivery asks Redis for its account's shared sender slot; with Redis
    frozen the first ask fails within the timeout and the pass ends there: the rows
    wait, and the other accounts' rows do not each wait out a timeout of their own."""
    rows = 6  # one per account: each would be asked for separately
    with _runtime(tmp_path, db_url, own_redis) as rt:
        owners = [accounts.create(rt, f"frozen webhooks {n}").account.sid for n in range(rows)]
        sids = []
        with rt.tx() as session:
            for account in owners:
                sids.append(
                    webhooks.enqueue(
                        session, rt, account_sid=account, message_sid=None, kind="incoming",
                        url="http://127.0.0.1:9/hook", method="POST", params=[("Body", "hi")],
                    ).sid
                )  # fmt: skip
        assert len(webhooks.due(rt)) == rows
        worker = webhooks.Worker(rt)
        try:
            own_redis.freeze()
            try:
                started = time.monotonic()
                sent = worker.run_once()
                took = time.monotonic() - started
            finally:
                own_redis.thaw()
        finally:
            worker.stop()
        assert sent == 0
        assert sorted(sid for sid, _ in webhooks.due(rt)) == sorted(sids)  # nothing claimed
    assert took < BOUND, f"the pass took {took:.1f} s"


def test_a_retention_batch_waits_out_one_redis_deadline_not_one_per_media(
    tmp_path: Path, db_url: str, own_redis: OwnRedis
) -> None:
    """Each deleted media is announced on the invalidation channel; with Redis frozen
    the batch's announcements share one deadline, so the pass (and the deletion of
    the batch's objects after it) is not held for a timeout per media."""
    clock = ManualClock(datetime(2031, 3, 1, 9, 0, tzinfo=UTC))
    with _runtime(tmp_path, db_url, own_redis, redis_health_timeout=TIMEOUT, clock=clock) as rt:
        account = accounts.create(rt, "frozen retention").account.sid
        message = messages.create(
            rt, account, messages.NewMessage("+15550001111", "+15550002222", "hi", []), actor="t"
        )
        sids = [
            media.add(rt, account, message.sid, "image/png", [b"\x89PNG" + bytes([i])]).sid for i in range(6)
        ]
        retention.set_rule(rt, account, retention.Change(days_after_creation=1), actor="t", via="test")
        clock.advance(2 * 86400)
        rt.invalidation.publish(inv.MEDIA, "ME-warm")  # Redis answers: the publisher's connection is open
        own_redis.freeze()
        try:
            started = time.monotonic()
            deleted = sorted(c.media_sid for step in retention.apply(rt) for c in step.media)
            took = time.monotonic() - started
        finally:
            own_redis.thaw()
    assert deleted == sorted(sids)
    assert took < BOUND, f"the retention pass took {took:.1f} s"
