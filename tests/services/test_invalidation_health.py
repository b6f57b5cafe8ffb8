"""The invalidation channel on a Redis that stops answering without closing its
connections (a ``SIGSTOP``ped server, a stalled proxy): the listener must notice
within its documented bound (health interval + health timeout, 1.5 s by
default), stop every memo answering from memory, and reset before caching again.

Each test runs its own ``redis-server`` (``tests/support/own_redis.py``) and
freezes it with ``SIGSTOP`` or through a ``TcpProxy`` it controls.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mediagate.accounts.auth import Principal
from mediagate.cluster import invalidation as inv
from mediagate.cluster.invalidation import Invalidation
from mediagate.media.hotcache import HotCaches
from tests.support.own_redis import OwnRedis, running_redis
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")

INTERVAL = 0.5
TIMEOUT = 1.0
BOUND = INTERVAL + TIMEOUT  # what docs/deploy.md promises
# Polls give up here: above the bound by scheduling slack on a loaded machine,
# far below the memos' 60 s maximum age, which would otherwise be what ends it.
DEADLINE = 3.0
HEADER = "Basic U0sxOnNlY3JldA=="
PRINCIPAL = Principal(account_sid="AC1", credential_sid="SK1", kind="api_key")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[OwnRedis]:
    with running_redis(tmp_path) as server:
        yield server


def _bus(url: str) -> Invalidation:
    return Invalidation(url, "mg-health", health_interval=INTERVAL, health_timeout=TIMEOUT)


@pytest.fixture
def pair(redis_server: OwnRedis) -> Iterator[tuple[Invalidation, Invalidation]]:
    """The publishing process and the listening one."""
    a, b = _bus(redis_server.url), _bus(redis_server.url)
    for bus in (a, b):
        bus.start()
    try:
        assert a.wait_subscribed(10) and b.wait_subscribed(10)
        yield a, b
    finally:
        for bus in (a, b):
            bus.stop()


def _within(seconds: float, condition: Callable[[], bool]) -> float | None:
    """Seconds until ``condition`` held, or None if it did not within ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if condition():
            return time.monotonic() - start
        time.sleep(0.01)
    return None


def _remembered(caches: HotCaches) -> None:
    caches.remember(caches.begin(), HEADER, PRINCIPAL, "AC1", None)
    assert caches.recall(HEADER) == PRINCIPAL


def _losses(caplog: pytest.LogCaptureFixture) -> int:
    return sum("invalidation channel lost" in r.getMessage() for r in caplog.records)


def test_a_frozen_redis_is_noticed_within_the_bound_and_caching_resumes_after_a_reset(
    redis_server: OwnRedis,
    pair: tuple[Invalidation, Invalidation],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, b = pair
    assert b.bound == BOUND
    caches = HotCaches(b, max_age=60)
    _remembered(caches)
    caplog.set_level(logging.INFO, logger="mediagate.invalidation")

    redis_server.freeze()
    noticed = _within(DEADLINE, lambda: not b.caching_allowed)
    assert noticed is not None, "the listener did not notice a frozen Redis"
    assert caches.recall(HEADER) is None  # the remembered credential is no longer an answer
    # Let the listeners fail a reconnection or two while frozen: still one warning
    # each (a and b both listen).
    time.sleep(2 * TIMEOUT)
    assert not b.caching_allowed
    assert _losses(caplog) == 2

    redis_server.thaw()
    assert _within(10, lambda: b.caching_allowed) is not None, "caching did not come back"
    # It came back only after the reset: what was remembered before is gone.
    assert caches.recall(HEADER) is None and len(caches.credentials) == 0
    _remembered(caches)


def test_a_revocation_while_redis_is_frozen_is_not_answered_from_memory_elsewhere(
    redis_server: OwnRedis,
    pair: tuple[Invalidation, Invalidation],
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = pair
    here, there = HotCaches(a, max_age=60), HotCaches(b, max_age=60)
    for caches in (here, there):
        _remembered(caches)

    redis_server.freeze()
    started = time.monotonic()
    a.publish(inv.CREDENTIAL, "SK1")  # the key was deleted through process a
    took = time.monotonic() - started
    # The publisher gives up after its deadline instead of holding the request.
    assert took < 2 * TIMEOUT + 0.5, took
    assert any("could not be published" in r.getMessage() for r in caplog.records)
    assert here.recall(HEADER) is None  # refused at once where the change was made

    # The message never reaches b; b must stop answering from memory anyway.
    assert _within(DEADLINE, lambda: there.recall(HEADER) is None) is not None
    redis_server.thaw()
    assert _within(10, lambda: b.caching_allowed) is not None
    assert there.recall(HEADER) is None  # the reset dropped what the lost message would have


def test_a_stalled_link_to_redis_is_noticed_and_recovered(redis_server: OwnRedis) -> None:
    """A partition rather than a frozen server: the proxy keeps the connection open
    and forwards nothing (a black-holed route); then it is healed."""
    proxy = TcpProxy("127.0.0.1", redis_server.port)
    proxy.start()
    bus = _bus(f"redis://127.0.0.1:{proxy.port}/0")
    bus.start()
    try:
        assert bus.wait_subscribed(10)
        caches = HotCaches(bus, max_age=60)
        _remembered(caches)
        proxy.freeze()
        assert _within(DEADLINE, lambda: caches.recall(HEADER) is None) is not None
        assert not bus.caching_allowed
        # Healed: old connections dropped, new ones forwarded again.
        proxy.stop()
        proxy.start()
        assert _within(10, lambda: bus.caching_allowed) is not None
        assert len(caches.credentials) == 0
        _remembered(caches)
    finally:
        bus.stop()
        proxy.stop()


def test_a_healthy_channel_keeps_caching_and_delivers(pair: tuple[Invalidation, Invalidation]) -> None:
    """The health check itself must not cost caching: over several intervals on a
    live Redis caching stays on, and messages still arrive."""
    a, b = pair
    caches = HotCaches(b, max_age=60)
    _remembered(caches)
    end = time.monotonic() + 4 * INTERVAL + TIMEOUT
    while time.monotonic() < end:
        assert b.caching_allowed
        time.sleep(0.05)
    assert caches.recall(HEADER) == PRINCIPAL
    a.publish(inv.CREDENTIAL, "SK1")
    assert _within(DEADLINE, lambda: caches.recall(HEADER) is None) is not None
    assert b.received == 1
