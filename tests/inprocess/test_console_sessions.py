"""Console sessions, sign-out and the sign-in limits over HTTP, with the app in process
(tests/support/console_inprocess.py): expiry moves the runtime's clock instead of waiting,
the limits count per (SID, address) and per address, the client address comes from proxy
headers only behind a trusted proxy (the in-process client is 127.0.0.1, as the tests'
client was for the real server), and with Redis the counts are shared by every app that
uses it. The browser flows stay in tests/console/test_sessions.py; the same limits across
real processes are tests/console/test_login_limits.py (a system test)."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from mediagate.core import sids
from mediagate.core.clock import OffsetClock
from tests.conftest import BACKENDS
from tests.support.console_http import attempt_login, csrf_token, form_token
from tests.support.console_inprocess import client, signed_in
from tests.support.inprocess import InProcessServer, in_process_server
from tests.support.shared_redis import REDIS_URL

WRONG = "wrong-" + "0" * 26
SETTINGS_PAGE = "/console/messaging/settings/general"


@pytest.fixture(scope="module", params=BACKENDS)
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessServer]:
    """One app per database for the tests that need no settings of their own (sign-out:
    sessions are rows)."""
    with in_process_server(request.param, tmp_path_factory.mktemp(f"console-{request.param}")) as srv:
        yield srv


def fail(srv: InProcessServer, user: str, headers: dict[str, str] | None = None) -> requests.Response:
    return attempt_login(client(srv), srv.base_url, user, WRONG, headers)


def clock_of(srv: InProcessServer) -> OffsetClock:
    clock = srv.runtime.clock
    assert isinstance(clock, OffsetClock), "test mode runs on the clock /v1/Testing/Clock moves"
    return clock


def sign_in_again_returns_to_the_page(
    srv: InProcessServer, http: requests.Session, r: requests.Response, user: str, secret: str
) -> None:
    """The expired session (``r``: the answer to its first request after expiry) is sent to
    the login page, which says why and, after a new sign-in, returns to the page it came from."""
    assert r.status_code == 303
    where = r.headers["location"]
    assert re.match(r"/console/login\?next=%2Fconsole%2Fmessaging%2Fsettings%2Fgeneral", where), where
    login_page = http.get(srv.base_url + where, timeout=10)
    assert "Your session expired. Please sign in again." in login_page.text
    assert 'role="status"' in login_page.text
    assert f'name="next" value="{SETTINGS_PAGE}"' in login_page.text
    again = http.post(
        srv.base_url + "/console/login",
        data={
            "csrf_token": csrf_token(login_page.text),
            "username": user,
            "password": secret,
            "next": SETTINGS_PAGE,
        },
        allow_redirects=False,
        timeout=10,
    )
    assert again.status_code == 303 and again.headers["location"] == SETTINGS_PAGE
    assert http.get(srv.base_url + SETTINGS_PAGE, allow_redirects=False, timeout=10).status_code == 200


# Sessions and their timestamps are rows (console_sessions): both databases.
@pytest.mark.parametrize("backend", BACKENDS)
def test_idle_session_expires(tmp_path: Path, backend: str) -> None:
    with in_process_server(backend, tmp_path, test_mode=True, console_idle_timeout=2) as srv:
        acct = srv.new_account("Idle")
        http = signed_in(srv, acct.sid, acct.token)
        assert http.get(srv.base_url + SETTINGS_PAGE, allow_redirects=False, timeout=10).status_code == 200
        clock_of(srv).advance(3.2)  # timestamps are whole seconds: past the 2 s limit plus one
        r = http.get(srv.base_url + SETTINGS_PAGE, allow_redirects=False, timeout=10)
        sign_in_again_returns_to_the_page(srv, http, r, acct.sid, acct.token)


@pytest.mark.parametrize("backend", BACKENDS)
def test_busy_session_still_expires_at_its_absolute_limit(tmp_path: Path, backend: str) -> None:
    # The idle limit stays 30 minutes; activity every half second keeps the session busy.
    with in_process_server(backend, tmp_path, test_mode=True, console_session_max_age=4) as srv:
        acct = srv.new_account("Absolute")
        http = signed_in(srv, acct.sid, acct.token)
        clock = clock_of(srv)
        elapsed = 0.0
        while True:
            r = http.get(srv.base_url + SETTINGS_PAGE, allow_redirects=False, timeout=10)
            if r.status_code == 303:  # the session has ended
                break
            assert elapsed < 5.2, "the session outlived its absolute limit"
            assert r.status_code == 200 and "General SMS Settings" in r.text
            clock.advance(0.5)
            elapsed += 0.5
        # Activity kept it open well inside the limit (only whole seconds are stored).
        assert elapsed >= 2.0, f"the session ended after {elapsed:.1f}s of activity"
        sign_in_again_returns_to_the_page(srv, http, r, acct.sid, acct.token)


# The sign-in limits count in memory or in Redis, never in the database: one database for them.
def test_login_attempts_are_rate_limited(tmp_path: Path) -> None:
    with in_process_server("sqlite", tmp_path) as srv:
        acct = srv.new_account("Rate Limit")
        http = client(srv)
        for _ in range(10):
            assert attempt_login(http, srv.base_url, acct.sid, WRONG).status_code == 400
        blocked = attempt_login(http, srv.base_url, acct.sid, acct.token)  # even the right token waits now
        assert blocked.status_code == 429
        assert int(blocked.headers["Retry-After"]) > 0
        assert "Too many failed sign-in attempts" in blocked.text
        assert "mg_console=" not in blocked.headers.get("set-cookie", "").replace("mg_console_login", "")
        # Another account from the same client is not locked out by this one's failures.
        other = srv.new_account("Other")
        ok = attempt_login(http, srv.base_url, other.sid, other.token)
        assert ok.status_code == 303 and ok.headers["location"] == "/console/dashboard"


def test_session_cookie_is_secure_behind_an_https_proxy(tmp_path: Path) -> None:
    """Behind a trusted proxy (MEDIAGATE_TRUSTED_PROXIES) X-Forwarded-Proto counts;
    the cookie then carries Secure. From anyone else the header is ignored."""
    with in_process_server("sqlite", tmp_path / "untrusted") as untrusted:
        form = client(untrusted).get(
            untrusted.base_url + "/console/login", headers={"X-Forwarded-Proto": "https"}, timeout=10
        )
        assert "Secure" not in form.headers["set-cookie"]
    with in_process_server("sqlite", tmp_path / "trusted", trusted_proxies="127.0.0.1/32") as server:
        acct = server.new_account("Behind TLS")
        http = client(server)
        proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1"}
        form = http.get(server.base_url + "/console/login", headers=proxied, timeout=10)
        assert "Secure" in form.headers["set-cookie"]
        token = csrf_token(form.text)
        # requests keeps Secure cookies for https only, so hand the pre-login cookie back explicitly.
        pre = re.search(r"mg_console_login=([^;]+)", form.headers["set-cookie"])
        assert pre is not None
        r = client(server).post(
            server.base_url + "/console/login",
            data={"csrf_token": token, "username": acct.sid, "password": acct.token},
            headers={**proxied, "Cookie": f"mg_console_login={pre.group(1)}"},
            allow_redirects=False,
            timeout=10,
        )
        assert r.status_code == 303, r.text
        session = next(c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("mg_console="))
        attrs = {a.strip().split("=")[0].lower() for a in session.split(";")}
        assert {"httponly", "secure", "samesite"} <= attrs
        assert "samesite=lax" in session.lower()


# ---------------------------------------- sign-out (was tests/console/test_logout_revocation.py)


def test_a_copied_cookie_is_dead_after_logout(app: InProcessServer) -> None:
    """Signing out ends the session on the server: a copy of the cookie taken before
    sign-out is refused afterwards (the cookie alone, though validly signed, is not enough)."""
    base = app.base_url
    acct = app.new_account("Copied Cookie")
    http = signed_in(app, acct.sid, acct.token)
    stolen = http.cookies.get("mg_console")
    assert stolen

    copy = client(app)
    copy.cookies.set("mg_console", stolen)
    before = copy.get(base + "/console/dashboard", allow_redirects=False, timeout=10)
    assert before.status_code == 200  # the copy works while the session is open

    out = http.post(
        base + "/console/logout",
        data={"csrf_token": form_token(http, base)},
        allow_redirects=False,
        timeout=10,
    )
    assert out.status_code == 303 and out.headers["location"] == "/console/login?done=signed-out"

    for path in ("/console/dashboard", SETTINGS_PAGE, "/console/keys"):
        after = client(app).get(
            base + path, cookies={"mg_console": stolen}, allow_redirects=False, timeout=10
        )
        assert after.status_code == 303, path
        assert after.headers["location"].startswith("/console/login"), path
    # Nor can the copy post a form with the token it had.
    post = client(app).post(
        base + SETTINGS_PAGE,
        data={"csrf_token": csrf_token(before.text), "enforce_media_http_auth": "disable"},
        cookies={"mg_console": stolen},
        allow_redirects=False,
        timeout=10,
    )
    assert post.status_code == 303 and post.headers["location"].startswith("/console/login")
    r = client(app).get(
        f"{base}/v1/Accounts/{acct.sid}/MessagingSettings", auth=(acct.sid, acct.token), timeout=10
    )
    assert r.json()["enforce_media_http_auth"] is True


def test_signing_out_one_session_leaves_the_others(app: InProcessServer) -> None:
    acct = app.new_account("Two Sessions")
    laptop = signed_in(app, acct.sid, acct.token)
    phone = signed_in(app, acct.sid, acct.token)
    out = laptop.post(
        app.base_url + "/console/logout",
        data={"csrf_token": form_token(laptop, app.base_url)},
        allow_redirects=False,
        timeout=10,
    )
    assert out.status_code == 303
    assert (
        laptop.get(app.base_url + "/console/dashboard", allow_redirects=False, timeout=10).status_code == 303
    )
    assert (
        phone.get(app.base_url + "/console/dashboard", allow_redirects=False, timeout=10).status_code == 200
    )


# ---------------------------------------- limits (were in tests/console/test_login_limits.py)


def test_failures_from_another_client_do_not_lock_the_victim_out(tmp_path: Path) -> None:
    # The test client (127.0.0.1) plays the proxy.
    with in_process_server("sqlite", tmp_path, trusted_proxies="127.0.0.1/32") as srv:
        victim = srv.new_account("Victim")
        attacker = {"X-Forwarded-For": "203.0.113.7"}
        for _ in range(10):
            assert fail(srv, victim.sid, attacker).status_code == 400
        # The attacker's own (SID, address) pair now waits, even with the right token...
        blocked = attempt_login(client(srv), srv.base_url, victim.sid, victim.token, attacker)
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
        # ...but the victim, from its own address, signs in (RFC 7239 Forwarded here).
        ok = attempt_login(
            client(srv), srv.base_url, victim.sid, victim.token, {"Forwarded": "for=198.51.100.9;proto=http"}
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/console/dashboard"


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(tmp_path: Path) -> None:
    with in_process_server("sqlite", tmp_path) as srv:  # trusted_proxies unset: believe nothing
        acct = srv.new_account("No Proxy")
        for _ in range(10):  # a new made-up address every time, to dodge the per-pair limit
            forged = {"X-Forwarded-For": f"198.51.100.{secrets.randbelow(250)}"}
            assert fail(srv, acct.sid, forged).status_code == 400
        r = attempt_login(client(srv), srv.base_url, acct.sid, acct.token, {"X-Forwarded-For": "192.0.2.1"})
        assert r.status_code == 429  # all ten counted against the real peer
        # Nor does a made-up address dodge the per-address limit while spraying SIDs.
        for n in range(40):
            assert (
                fail(srv, sids.new_sid(sids.ACCOUNT), {"X-Forwarded-For": f"192.0.2.{n + 10}"}).status_code
                == 400
            )
        other = srv.new_account("No Proxy 2")
        r = attempt_login(
            client(srv), srv.base_url, other.sid, other.token, {"X-Forwarded-For": "192.0.2.200"}
        )
        assert r.status_code == 429


def test_one_client_spraying_many_sids_is_stopped_by_its_address(tmp_path: Path) -> None:
    with in_process_server("sqlite", tmp_path, trusted_proxies="127.0.0.1") as srv:
        sprayer = {"X-Forwarded-For": "203.0.113.50"}
        for _ in range(50):
            assert fail(srv, sids.new_sid(sids.ACCOUNT), sprayer).status_code == 400
        acct = srv.new_account("Sprayed")
        assert attempt_login(client(srv), srv.base_url, acct.sid, acct.token, sprayer).status_code == 429
        elsewhere = {"X-Forwarded-For": "203.0.113.51"}
        assert attempt_login(client(srv), srv.base_url, acct.sid, acct.token, elsewhere).status_code == 303


def test_counts_are_shared_through_redis(tmp_path: Path, redis_prefix: str) -> None:
    """Two apps with their own runtimes and databases: only Redis is shared (the same
    across real processes: tests/console/test_login_limits.py, a system test)."""
    shared = {"redis_url": REDIS_URL, "redis_key_prefix": redis_prefix}
    with (
        in_process_server("sqlite", tmp_path / "one", **shared) as one,
        in_process_server("sqlite", tmp_path / "two", **shared) as two,
    ):
        user = sids.new_sid(sids.ACCOUNT)
        for n in range(10):
            assert fail(one if n % 2 else two, user).status_code == 400
        assert fail(one, user).status_code == 429
        assert fail(two, user).status_code == 429
        keys = [k.decode() for k in redis.Redis.from_url(REDIS_URL).scan_iter(f"{redis_prefix}*")]
        assert keys and all(k.startswith(f"{redis_prefix}:login") for k in keys)
        assert any(user.upper() in k for k in keys)
        # An app with its own prefix counts on its own.
        with in_process_server(
            "sqlite", tmp_path / "three", redis_url=REDIS_URL, redis_key_prefix=redis_prefix + "-other"
        ) as three:
            assert fail(three, user).status_code == 400


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_sign_in_fails_closed_when_redis_is_unreachable(tmp_path: Path) -> None:
    # Nothing listens on port 1.
    with in_process_server("sqlite", tmp_path, redis_url="redis://127.0.0.1:1/0") as srv:
        acct = srv.new_account("No Redis")
        records = _Records()
        logger = logging.getLogger("mediagate")
        logger.addHandler(records)
        try:
            r = attempt_login(client(srv), srv.base_url, acct.sid, acct.token)
        finally:
            logger.removeHandler(records)
        assert r.status_code == 503
        assert "Sign-in is unavailable right now" in r.text
        assert "mg_console=" not in r.headers.get("set-cookie", "").replace("mg_console_login", "")
        assert any("rate-limit storage (Redis) is unreachable" in m for m in records.messages)
