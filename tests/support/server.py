"""Start the real ``mediagate serve`` process for end-to-end tests."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from mediagate.accounts import accounts
from mediagate.core.settings import Settings
from mediagate.messaging import number_pool
from mediagate.observability import lines
from mediagate.runtime.context import Runtime, build_runtime

ROOT = Path(__file__).resolve().parents[2]
MEDIAGATE = Path(sys.executable).parent / "mediagate"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Account:
    sid: str
    token: str


@dataclass
class RunningServer:
    base_url: str
    env: dict[str, str]
    runtime: Runtime  # same database and master secret, for arranging state directly
    process: subprocess.Popen[bytes]
    log_path: Path

    def new_account(self, name: str = "e2e") -> Account:
        created = accounts.create(self.runtime, name)
        return Account(created.account.sid, created.auth_token)

    def assign_number(self, account_sid: str, number: str) -> None:
        """The operator's step (``mediagate numbers assign``) before an account may claim a number."""
        number_pool.assign(self.runtime, number, account_sid)

    def log(self) -> str:
        # Per-request access and audit lines are written in batches, at most
        # lines.INTERVAL after their request (mediagate/observability/lines.py).
        time.sleep(lines.INTERVAL + lines.GATHER)
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_server(
    data_dir: Path, database_url: str, serve_args: Sequence[str] = (), **extra_env: str
) -> Iterator[RunningServer]:
    """``serve_args``: extra ``mediagate serve`` options (``--workers``, ``--threads``)."""
    port = free_port()
    env = {
        **os.environ,
        "MEDIAGATE_DATA_DIR": str(data_dir),
        "MEDIAGATE_DATABASE_URL": database_url,
        "MEDIAGATE_SECRET_KEY": secrets.token_hex(32),
        "MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS": "true",
        "MEDIAGATE_LOG_LEVEL": "info",
        "MEDIAGATE_SIGNING_KEY_REFRESH": "0.5",
        # Webhook retries after 0.2 s, 0.4 s, ... so retry tests stay quick.
        "MEDIAGATE_WEBHOOK_RETRY_BASE": "0.2",
        # "{port}" in a value is this server's port (e.g. a media host on another hostname).
        **{k: v.replace("{port}", str(port)) for k, v in extra_env.items()},
    }
    log_path = data_dir / "server.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(MEDIAGATE), "serve", "--host", "127.0.0.1", "--port", str(port), *serve_args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # generous: imports alone take 30 s on a loaded machine
        while True:
            if proc.poll() is not None:
                raise RuntimeError("mediagate exited early:\n" + log_path.read_text())
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mediagate did not start:\n" + log_path.read_text())
            time.sleep(0.1)
        settings = Settings(
            data_dir=data_dir,
            database_url=database_url,
            secret_key=env["MEDIAGATE_SECRET_KEY"],
            public_url=base,
            allow_private_media_urls=env["MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS"] == "true",
            signed_url_ttl=int(env.get("MEDIAGATE_SIGNED_URL_TTL", "14400")),
            signing_key_refresh=0.5,
            storage_url=env.get("MEDIAGATE_STORAGE_URL", ""),
            s3_endpoint_url=env.get("MEDIAGATE_S3_ENDPOINT_URL", ""),
            delivery=env.get("MEDIAGATE_DELIVERY", "edge"),
            # A change the test makes through this runtime reaches the server as an operator's CLI would.
            redis_url=env.get("MEDIAGATE_REDIS_URL", ""),
            redis_key_prefix=env.get("MEDIAGATE_REDIS_KEY_PREFIX", "mediagate"),
            encryption=env.get("MEDIAGATE_ENCRYPTION", "off"),
            master_keys=env.get("MEDIAGATE_MASTER_KEYS", ""),
            master_key_id=env.get("MEDIAGATE_MASTER_KEY_ID", ""),
        )
        rt = build_runtime(settings, migrate=False)
        try:
            yield RunningServer(base, env, rt, proc, log_path)
        finally:
            rt.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
