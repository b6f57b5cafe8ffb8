"""The pytest plugin that ships with mediagate (entry point ``pytest11``).

Two fixtures, nothing else is registered (no hooks, no options that change a
run): importing this module imports neither mediagate's server code nor
anything with side effects, so a project that has mediagate installed but
does not use the fixtures is unaffected.

* ``mediagate_server`` (session): a real ``mediagate serve --test-mode`` on a
  free loopback port, with its own temporary data directory (SQLite, local
  files), started on first use and stopped at the end of the session. It has
  ``base_url``, ``reset()``, ``advance_clock(seconds)``, ``clock()``,
  ``fault(target, action, **params)``, ``clear_faults()``, ``journal(**filters)``.
* ``mediagate_account`` (function): a fresh account on that server, with
  ``sid``, ``auth_token``, ``test_sid``/``test_token`` (Twilio's test
  credentials, when the server has them), ``client`` (a ``twilio.rest.Client``
  pointed at the server, when twilio is installed) and ``settled(message_sid)``
  (the message once its ``MediaUrl`` fetch is over: the create answers
  ``queued`` at once and the media are fetched afterwards, as at Twilio).

The server's environment is the test process's without any ``MEDIAGATE_*``
variable (a developer's shell must not point it at a real database), except
``MEDIAGATE_SEED_FILE``; ``mediagate_env`` lines in the pytest ini file
(``NAME=VALUE``) add settings, e.g. ``MEDIAGATE_SIGNED_URL_TTL=60``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

_CLI = "from mediagate.cli.main import main; main()"
_KEPT = ("MEDIAGATE_SEED_FILE",)
_START_TIMEOUT = 60.0
_REQUEST_TIMEOUT = 30.0
_SETTLE_TIMEOUT = 60.0
_SETTLE_POLL = 0.05


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "mediagate_env", "NAME=VALUE settings for the mediagate_server fixture's server", type="linelist"
    )


def _twilio_name(name: str) -> str:
    """``delay_ms`` -> ``DelayMs``; a name already in Twilio's spelling stays as it is."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class MediagateServer:
    """A running ``mediagate serve --test-mode`` and its control API."""

    base_url: str
    data_dir: Path
    # Not in the repr a failing test prints: the environment may hold the developer's secrets.
    env: dict[str, str] = field(repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=_REQUEST_TIMEOUT, trust_env=False)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def reset(self) -> None:
        """Remove every account, message, media, number, fault and journal entry; clock offset 0."""
        self._call("POST", "/v1/Testing/Reset")

    def clock(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/v1/Testing/Clock")
        return result

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the server's time forward (signed URLs expire, due webhooks fire, ...)."""
        result: dict[str, Any] = self._call(
            "POST", "/v1/Testing/Clock", data={"AdvanceSeconds": str(seconds)}
        )
        return result

    def fault(self, target: str, action: str, **params: Any) -> dict[str, Any]:
        """Arm a fault: ``fault("content", "status", status=503, count=2, account_sid=...)``."""
        data = {"Target": target, "Action": action, **{_twilio_name(k): str(v) for k, v in params.items()}}
        result: dict[str, Any] = self._call("POST", "/v1/Testing/Faults", data=data)
        return result

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/Testing/Faults")["faults"]
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "/v1/Testing/Faults")

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        """Every journal entry (oldest first), following the pages; ``account_sid``, ``media_sid``."""
        params: dict[str, str] | None = {_twilio_name(k): str(v) for k, v in filters.items()}
        page = self._call("GET", "/v1/Testing/Journal", params=params)
        entries: list[dict[str, Any]] = list(page["journal"])
        while page["next_page_uri"]:
            page = self._call("GET", page["next_page_uri"])
            entries += page["journal"]
        return entries

    def create_account(self, friendly_name: str = "pytest") -> MediagateAccount:
        """A new account (``POST /v1/Testing/Accounts``: what ``mediagate accounts create --json`` prints)."""
        data = self._call("POST", "/v1/Testing/Accounts", data={"FriendlyName": friendly_name})
        return MediagateAccount(
            sid=data["sid"],
            auth_token=data["auth_token"],
            test_sid=data.get("test_account_sid"),
            test_token=data.get("test_auth_token"),
            base_url=self.base_url,
        )

    def stop(self) -> None:
        self.http.close()
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@dataclass
class MediagateAccount:
    sid: str
    auth_token: str = field(repr=False)
    test_sid: str | None
    test_token: str | None = field(repr=False)
    base_url: str = ""

    @property
    def client(self) -> Any:
        """A ``twilio.rest.Client`` for this account, talking to the server (twilio must be installed)."""
        try:
            from twilio.rest import Client
        except ImportError:  # pragma: no cover - depends on the user's environment
            pytest.skip("twilio is not installed")
        client = Client(self.sid, self.auth_token)
        client.api.base_url = self.base_url
        client.accounts.base_url = self.base_url
        return client

    def settled(self, message_sid: str, timeout: float = _SETTLE_TIMEOUT) -> dict[str, Any]:
        """The message (``GET .../Messages/{sid}.json``, as a dict) once its media
        fetch is over. ``POST Messages.json`` answers ``queued`` with ``num_media``
        ``"0"`` at once, as Twilio's does, and fetches each ``MediaUrl`` afterwards:
        the media appear in the message's media list, and ``num_media`` becomes
        their count, once they are stored; a failed fetch moves the message to
        ``failed`` with an ``error_code``. So this polls until ``num_media`` is set
        or the status leaves ``queued`` (what code written for Twilio waits for
        too), and fails the test after ``timeout`` seconds. A message made with
        the test credentials is never fetched: it stays ``queued``."""
        path = f"/2010-04-01/Accounts/{self.sid}/Messages/{message_sid}.json"
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=_REQUEST_TIMEOUT, trust_env=False) as http:
            while True:
                response = http.get(path, auth=(self.sid, self.auth_token))
                if response.status_code != 200:
                    raise AssertionError(f"GET {path}: {response.status_code} {response.text}")
                message: dict[str, Any] = response.json()
                if message["status"] != "queued" or message["num_media"] != "0":
                    return message
                if time.monotonic() > deadline:
                    raise AssertionError(f"message {message_sid} still queued after {timeout:g} s")
                time.sleep(_SETTLE_POLL)


def _server_env(data_dir: Path, extra: list[str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAGATE_") or k in _KEPT}
    env["MEDIAGATE_DATA_DIR"] = str(data_dir)
    env["MEDIAGATE_TEST_MODE"] = "true"
    # A test double fetches MediaUrls from the test's own loopback servers.
    env["MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS"] = "true"
    for line in extra:
        name, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"MEDIAGATE_[A-Z0-9_]+", name.strip()):
            raise pytest.UsageError(f"mediagate_env: expected MEDIAGATE_NAME=VALUE, got {line!r}")
        env[name.strip()] = value.strip()
    return env


def start_server(data_dir: Path, extra_env: list[str] | None = None) -> MediagateServer:
    """Start a test-mode server on a free loopback port and wait until it answers."""
    port = _free_port()
    env = _server_env(data_dir, extra_env or [])
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", _CLI, "serve", "--test-mode", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = MediagateServer(f"http://127.0.0.1:{port}", data_dir, env, process)
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            raise RuntimeError(
                f"mediagate serve exited with {process.returncode}:\n{(data_dir / 'server.log').read_text()}"
            )
        try:
            if server.http.get("/healthz", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"mediagate serve did not answer within {_START_TIMEOUT:g} s")


@pytest.fixture(scope="session")
def mediagate_server(pytestconfig: pytest.Config) -> Iterator[MediagateServer]:
    """A real mediagate in test mode for this session (see the module's docstring)."""
    with tempfile.TemporaryDirectory(prefix="mediagate-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        server = start_server(data_dir, pytestconfig.getini("mediagate_env"))
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def mediagate_account(mediagate_server: MediagateServer) -> MediagateAccount:
    """A fresh account on ``mediagate_server``."""
    return mediagate_server.create_account()
