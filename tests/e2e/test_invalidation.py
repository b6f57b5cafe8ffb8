"""Two real server processes on one database, one Redis: a change made
through process 1 is refused by process 2 (which had it in memory) within the
consistency bound, and by process 1 on its very next request.

Each case first makes process 2 remember the credential / media (two
successful redirects: the second one is answered from memory), then makes
the change through process 1's HTTP API (or the CLI, for signing keys) and
polls process 2. The remembered answers live up to ``SHARED_MAX_AGE`` (60 s)
with Redis, so only the invalidation channel can make process 2 refuse
within the (generous) deadline below; no timing is asserted beyond it.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from mediagate.accounts import keys
from mediagate.media import hotcache
from tests.conftest import BACKENDS
from tests.e2e.test_token_rotation import Seeded
from tests.support.databases import fresh_database
from tests.support.fileserver import FileServer, png_bytes
from tests.support.media_steps import send_media
from tests.support.own_redis import OwnRedis, running_redis
from tests.support.server import MEDIAGATE, Account, RunningServer, running_server

DEADLINE = 15.0  # far above the documented 1 s, far below SHARED_MAX_AGE
TIMEOUT = 10
# With Redis frozen: the documented 1.5 s, plus scheduling slack on a loaded machine.
FROZEN_DEADLINE = 3.0
Creds = tuple[str, str]

assert DEADLINE < hotcache.SHARED_MAX_AGE


@dataclass
class Pair:
    one: RunningServer
    two: RunningServer


@pytest.fixture(scope="module", params=BACKENDS)
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp(f"invalidation-{request.param}")
    shared = {
        "MEDIAGATE_REDIS_URL": "redis://127.0.0.1:6379/0",
        # A prefix of our own: other tests (and other checkouts) share this Redis.
        "MEDIAGATE_REDIS_KEY_PREFIX": f"mg-inv-{secrets.token_hex(6)}",
        "MEDIAGATE_SECRET_KEY": secrets.token_hex(32),
        # One object store for both, so either serves what the other stored.
        "MEDIAGATE_STORAGE_URL": f"file://{tmp / 'objects'}",
        # Refresh slower than the deadline: only the channel can be that quick.
        "MEDIAGATE_SIGNING_KEY_REFRESH": "60",
    }
    with (
        fresh_database(request.param, tmp) as url,
        running_server(tmp / "one", url, **shared) as one,
        running_server(tmp / "two", url, **shared) as two,
    ):
        yield Pair(one, two)


def _path(seeded: Seeded) -> str:
    return "/2010-04-01" + seeded.content_url.split("/2010-04-01", 1)[1]


def redirect(server: RunningServer, seeded: Seeded, creds: Creds | None) -> requests.Response:
    return requests.get(server.base_url + _path(seeded), auth=creds, allow_redirects=False, timeout=TIMEOUT)


def remembered(server: RunningServer, seeded: Seeded, creds: Creds | None) -> str:
    """Two good redirects: the first fills the server's memory, the second comes from it."""
    first = redirect(server, seeded, creds)
    second = redirect(server, seeded, creds)
    assert first.status_code == second.status_code == 307, (first.text, second.text)
    return second.headers["location"]


def refused_within(check: Callable[[], int], refused: int) -> None:
    deadline = time.monotonic() + DEADLINE
    status = check()
    while status != refused and time.monotonic() < deadline:
        time.sleep(0.05)
        status = check()
    assert status == refused


def setup(pair: Pair, name: str) -> tuple[Account, Seeded]:
    acct = pair.one.new_account(name)
    return acct, Seeded(pair.one, acct)


def test_deleted_key(pair: Pair) -> None:
    acct, seeded = setup(pair, "inv-key")
    key = keys.create(pair.one.runtime, acct.sid, "doomed", actor="test")
    creds = (key.key.sid, key.secret)
    for server in (pair.one, pair.two):
        remembered(server, seeded, creds)
    url = f"{pair.one.base_url}/2010-04-01/Accounts/{acct.sid}/Keys/{key.key.sid}.json"
    assert requests.delete(url, auth=(acct.sid, acct.token), timeout=TIMEOUT).status_code == 204
    assert redirect(pair.one, seeded, creds).status_code == 401  # the very next request
    refused_within(lambda: redirect(pair.two, seeded, creds).status_code, 401)
    assert redirect(pair.two, seeded, (acct.sid, acct.token)).status_code == 307


def test_promoted_token(pair: Pair) -> None:
    acct, seeded = setup(pair, "inv-token")
    old = (acct.sid, acct.token)
    for server in (pair.one, pair.two):
        remembered(server, seeded, old)
    base = pair.one.base_url + "/v1/AuthTokens"
    made = requests.post(base + "/Secondary", auth=old, timeout=TIMEOUT)
    assert made.status_code == 201, made.text
    new = (acct.sid, made.json()["secondary_auth_token"])
    assert requests.post(base + "/Promote", auth=old, timeout=TIMEOUT).status_code == 200
    assert redirect(pair.one, seeded, old).status_code == 401
    refused_within(lambda: redirect(pair.two, seeded, old).status_code, 401)
    assert redirect(pair.two, seeded, new).status_code == 307


def test_replaced_and_deleted_secondary_token(pair: Pair) -> None:
    acct, seeded = setup(pair, "inv-secondary")
    base = pair.one.base_url + "/v1/AuthTokens/Secondary"
    owner = (acct.sid, acct.token)
    first = (acct.sid, requests.post(base, auth=owner, timeout=TIMEOUT).json()["secondary_auth_token"])
    remembered(pair.two, seeded, first)
    # A new secondary token replaces the previous one.
    second = (acct.sid, requests.post(base, auth=owner, timeout=TIMEOUT).json()["secondary_auth_token"])
    refused_within(lambda: redirect(pair.two, seeded, first).status_code, 401)
    remembered(pair.two, seeded, second)
    assert requests.delete(base, auth=owner, timeout=TIMEOUT).status_code == 204
    assert redirect(pair.one, seeded, second).status_code == 401
    refused_within(lambda: redirect(pair.two, seeded, second).status_code, 401)


def test_suspended_and_reactivated_subaccount(pair: Pair) -> None:
    parent = pair.one.new_account("inv-parent")
    made = requests.post(
        f"{pair.one.base_url}/2010-04-01/Accounts.json",
        data={"FriendlyName": "inv-sub"},
        auth=(parent.sid, parent.token),
        timeout=TIMEOUT,
    )
    assert made.status_code == 201, made.text
    sub = Account(made.json()["sid"], made.json()["auth_token"])
    seeded = Seeded(pair.one, sub)
    own, parents = (sub.sid, sub.token), (parent.sid, parent.token)
    for creds in (own, parents):
        remembered(pair.two, seeded, creds)

    def set_status(status: str) -> None:
        r = requests.post(
            f"{pair.one.base_url}/2010-04-01/Accounts/{sub.sid}.json",
            data={"Status": status},
            auth=parents,
            timeout=TIMEOUT,
        )
        assert r.status_code == 200, r.text

    set_status("suspended")
    for creds in (own, parents):
        assert redirect(pair.one, seeded, creds).status_code == 401
        refused_within(lambda c=creds: redirect(pair.two, seeded, c).status_code, 401)  # type: ignore[misc]
    set_status("active")
    for creds in (own, parents):
        refused_within(lambda c=creds: redirect(pair.two, seeded, c).status_code, 307)  # type: ignore[misc]
    set_status("closed")  # final: nobody reaches it (and its media is deleted)
    for creds in (own, parents):
        refused_within(lambda c=creds: redirect(pair.two, seeded, c).status_code, 401)  # type: ignore[misc]


def test_deleted_media_and_message(pair: Pair) -> None:
    acct, seeded = setup(pair, "inv-media")
    creds = (acct.sid, acct.token)
    signed = remembered(pair.two, seeded, creds)
    assert requests.get(signed, timeout=TIMEOUT).status_code == 200  # p2's secured host remembers it too
    assert (
        requests.delete(pair.one.base_url + _path(seeded) + ".json", auth=creds, timeout=TIMEOUT).status_code
        == 204
    )
    assert redirect(pair.one, seeded, creds).status_code == 404
    refused_within(lambda: redirect(pair.two, seeded, creds).status_code, 404)
    assert requests.get(signed, timeout=TIMEOUT).status_code == 404

    other = Seeded(pair.one, acct)
    remembered(pair.two, other, creds)
    message_url = f"{pair.one.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{other.message_sid}.json"
    assert requests.delete(message_url, auth=creds, timeout=TIMEOUT).status_code == 204
    refused_within(lambda: redirect(pair.two, other, creds).status_code, 404)


def test_retired_signing_key(pair: Pair, tmp_path: Path) -> None:
    acct, seeded = setup(pair, "inv-signing")
    creds = (acct.sid, acct.token)
    signed = remembered(pair.two, seeded, creds)
    assert requests.get(signed, timeout=TIMEOUT).status_code == 200
    kid = requests.utils.urlparse(signed).query.rsplit("Key-Pair-Id=", 1)[1]
    # The operator's command: a third process, which publishes through Redis.
    env = {**pair.one.env, "MEDIAGATE_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [str(MEDIAGATE), "signing-keys", "retire", kid],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    refused_within(lambda: requests.get(signed, timeout=TIMEOUT).status_code, 403)
    # p2 signs with the replacement at once (it learnt about it from the same channel).
    fresh = remembered(pair.two, seeded, creds)
    assert f"Key-Pair-Id={kid}" not in fresh
    assert requests.get(fresh, timeout=TIMEOUT).status_code == 200


def test_enforce_http_auth_setting(pair: Pair, files: FileServer) -> None:
    acct, seeded = setup(pair, "inv-setting")
    pair.one.assign_number(acct.sid, "+15557650001")
    creds = (acct.sid, acct.token)
    url = f"{pair.one.base_url}/v1/Accounts/{acct.sid}/MessagingSettings"
    r = requests.post(url, data={"EnforceMediaHttpAuth": "false"}, auth=creds, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    # Media created from now on through process 2 is legacy (public) media ...
    path = f"/inv/{acct.sid}/legacy.png"
    [legacy] = send_media(pair.two, acct, [files.add(path, png_bytes(700))], [png_bytes(700)])
    anonymous = requests.get(legacy.content_url, allow_redirects=False, timeout=TIMEOUT)
    assert anonymous.status_code == 307, anonymous.text
    assert "Signature=" not in anonymous.headers["location"]  # the public host's unsigned URL
    # ... while existing media keeps the protection it was created with.
    assert redirect(pair.two, seeded, None).status_code == 401


@pytest.fixture(scope="module", params=BACKENDS)
def frozen_pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Pair, OwnRedis]]:
    """Two servers on a Redis of the test's own, which it freezes."""
    tmp = tmp_path_factory.mktemp(f"invalidation-frozen-{request.param}")
    with running_redis(tmp) as redis:
        shared = {
            "MEDIAGATE_REDIS_URL": redis.url,
            "MEDIAGATE_SECRET_KEY": secrets.token_hex(32),
            "MEDIAGATE_STORAGE_URL": f"file://{tmp / 'objects'}",
            "MEDIAGATE_SIGNING_KEY_REFRESH": "60",
        }
        with (
            fresh_database(request.param, tmp) as url,
            running_server(tmp / "one", url, **shared) as one,
            running_server(tmp / "two", url, **shared) as two,
        ):
            yield Pair(one, two), redis


@pytest.mark.system
def test_deleted_key_while_redis_is_frozen(frozen_pair: tuple[Pair, OwnRedis]) -> None:
    """The delete's message cannot be published; process 2 must stop answering
    from memory anyway, because it notices the silent Redis (about 1.5 s).

    A stall test over two more server processes and a Redis of its own (12 s of
    set-up per database): ``make test-system``. ``make test`` checks the same fact in
    process (tests/services/test_invalidation_health.py: a frozen Redis is noticed
    and a revocation is not answered from memory elsewhere)."""
    pair, redis = frozen_pair
    acct, seeded = setup(pair, "inv-frozen")
    key = keys.create(pair.one.runtime, acct.sid, "doomed", actor="test")
    creds = (key.key.sid, key.secret)
    remembered(pair.two, seeded, creds)
    redis.freeze()
    try:
        url = f"{pair.one.base_url}/2010-04-01/Accounts/{acct.sid}/Keys/{key.key.sid}.json"
        assert requests.delete(url, auth=(acct.sid, acct.token), timeout=TIMEOUT).status_code == 204
        started = time.monotonic()
        status = redirect(pair.two, seeded, creds).status_code
        while status != 401 and time.monotonic() - started < FROZEN_DEADLINE:
            time.sleep(0.02)
            status = redirect(pair.two, seeded, creds).status_code
        assert status == 401, "process 2 kept answering a deleted key from memory"
    finally:
        redis.thaw()
    # Back on the channel (after a reset), the key stays refused.
    refused_within(lambda: redirect(pair.two, seeded, creds).status_code, 401)
    assert redirect(pair.two, seeded, (acct.sid, acct.token)).status_code == 307
