"""Sign-in rate limits across real processes: with MEDIAGATE_REDIS_URL the counts are
shared by every server process (real Redis). Three server processes make this a system
test (`make test-system`); the same sharing between two apps with their own runtimes and
databases, the per-(SID, address) and per-address limits, trusted proxies and Redis being
unreachable run in process in `make test` (tests/inprocess/test_console_sessions.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
import requests

from mediagate.core import sids
from tests.support.console_http import attempt_login
from tests.support.server import RunningServer
from tests.support.shared_redis import REDIS_URL

pytestmark = pytest.mark.system
WRONG = "wrong-" + "0" * 26


def fail(srv: RunningServer, user: str, headers: dict[str, str] | None = None) -> requests.Response:
    r = attempt_login(requests.Session(), srv.base_url, user, WRONG, headers)
    return r


def test_counts_are_shared_across_processes_through_redis(
    server_factory: Callable[..., RunningServer], redis_prefix: str
) -> None:
    env = {"MEDIAGATE_REDIS_URL": REDIS_URL, "MEDIAGATE_REDIS_KEY_PREFIX": redis_prefix}
    one = server_factory(**env)
    two = server_factory(**env)  # another process (and database): only Redis is shared
    user = sids.new_sid(sids.ACCOUNT)
    for n in range(10):
        assert fail(one if n % 2 else two, user).status_code == 400
    assert fail(one, user).status_code == 429
    assert fail(two, user).status_code == 429
    keys = [k.decode() for k in redis.Redis.from_url(REDIS_URL).scan_iter(f"{redis_prefix}*")]
    assert keys and all(k.startswith(f"{redis_prefix}:login") for k in keys)
    assert any(user.upper() in k for k in keys)
    # A process with its own prefix counts on its own.
    three = server_factory(MEDIAGATE_REDIS_URL=REDIS_URL, MEDIAGATE_REDIS_KEY_PREFIX=redis_prefix + "-other")
    assert fail(three, user).status_code == 400
