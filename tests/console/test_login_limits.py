"""Sign-in rate limits: nobody can lock a victim out by naming its SID, the
client address comes from proxy headers only behind a trusted proxy, and with
MEDIAGATE_REDIS_URL the counts are shared by every process (real Redis)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import redis
import requests

from mediagate.core import sids
from tests.support.console_http import attempt_login
from tests.support.server import RunningServer
from tests.support.shared_redis import REDIS_URL

WRONG = "wrong-" + "0" * 26


def fail(srv: RunningServer, user: str, headers: dict[str, str] | None = None) -> requests.Response:
    r = attempt_login(requests.Session(), srv.base_url, user, WRONG, headers)
    return r


def test_failures_from_another_client_do_not_lock_the_victim_out(
    server_factory: Callable[..., RunningServer],
) -> None:
    srv = server_factory(MEDIAGATE_TRUSTED_PROXIES="127.0.0.1/32")  # the test client plays the proxy
    victim = srv.new_account("Victim")
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(10):
        assert fail(srv, victim.sid, attacker).status_code == 400
    # The attacker's own (SID, address) pair now waits, even with the right token...
    blocked = attempt_login(requests.Session(), srv.base_url, victim.sid, victim.token, attacker)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    # ...but the victim, from its own address, signs in (RFC 7239 Forwarded here).
    ok = attempt_login(
        requests.Session(),
        srv.base_url,
        victim.sid,
        victim.token,
        {"Forwarded": "for=198.51.100.9;proto=http"},
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/console/dashboard"


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(
    server_factory: Callable[..., RunningServer],
) -> None:
    srv = server_factory()  # MEDIAGATE_TRUSTED_PROXIES unset: believe nothing
    acct = srv.new_account("No Proxy")
    for _ in range(10):  # a new made-up address every time, to dodge the per-pair limit
        assert (
            fail(srv, acct.sid, {"X-Forwarded-For": f"198.51.100.{secrets.randbelow(250)}"}).status_code
            == 400
        )
    r = attempt_login(
        requests.Session(), srv.base_url, acct.sid, acct.token, {"X-Forwarded-For": "192.0.2.1"}
    )
    assert r.status_code == 429  # all ten counted against the real peer
    # Nor does a made-up address dodge the per-address limit while spraying SIDs.
    for n in range(40):
        assert (
            fail(srv, sids.new_sid(sids.ACCOUNT), {"X-Forwarded-For": f"192.0.2.{n + 10}"}).status_code == 400
        )
    other = srv.new_account("No Proxy 2")
    r = attempt_login(
        requests.Session(), srv.base_url, other.sid, other.token, {"X-Forwarded-For": "192.0.2.200"}
    )
    assert r.status_code == 429


def test_one_client_spraying_many_sids_is_stopped_by_its_address(
    server_factory: Callable[..., RunningServer],
) -> None:
    srv = server_factory(MEDIAGATE_TRUSTED_PROXIES="127.0.0.1")
    sprayer = {"X-Forwarded-For": "203.0.113.50"}
    for _ in range(50):
        assert fail(srv, sids.new_sid(sids.ACCOUNT), sprayer).status_code == 400
    acct = srv.new_account("Sprayed")
    assert attempt_login(requests.Session(), srv.base_url, acct.sid, acct.token, sprayer).status_code == 429
    elsewhere = {"X-Forwarded-For": "203.0.113.51"}
    assert attempt_login(requests.Session(), srv.base_url, acct.sid, acct.token, elsewhere).status_code == 303


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


def test_sign_in_fails_closed_when_redis_is_unreachable(server_factory: Callable[..., RunningServer]) -> None:
    srv = server_factory(MEDIAGATE_REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    acct = srv.new_account("No Redis")
    r = attempt_login(requests.Session(), srv.base_url, acct.sid, acct.token)
    assert r.status_code == 503
    assert "Sign-in is unavailable right now" in r.text
    assert "mg_console=" not in r.headers.get("set-cookie", "").replace("mg_console_login", "")
    assert "rate-limit storage (Redis) is unreachable" in srv.log()
