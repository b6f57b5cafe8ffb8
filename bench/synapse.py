"""Synapse, the Matrix reference homeserver, as the bench's peer for authenticated downloads.

It runs from its own virtualenv (``bench/.synapse-venv``, git-ignored, built by
``make bench-synapse`` from ``bench/synapse-requirements.txt``): never imported
here, only started as a child process. One process, SQLite, the local media
store, a user registered through the shared-secret admin API, the bench's
files uploaded to it; the measured request is the authenticated download
``GET /_matrix/client/v1/media/download/{server}/{mediaId}`` with a bearer token.

The configuration is the peer's best plain shape on this machine, not a
handicap: request logging below WARNING is off (the bench's mediagate runs
without an access log too), presence, metrics, URL previews and federation
key look-ups are off, and the rate limits the bench would trip (login,
registration, media creation) are raised. Downloads of local media have no
rate limit in Synapse.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.harness import ROOT, BenchError, _stop, _wait_http, free_port

VENV = ROOT / "bench" / ".synapse-venv"
PYTHON = VENV / "bin" / "python"
SERVER_NAME = "bench.localhost"


def missing() -> str | None:
    """Why Synapse cannot run here, or None."""
    if not PYTHON.exists():
        return f"{VENV} is missing (make bench-synapse)"
    return None


def version() -> str:
    if missing() is not None:
        return "(not installed)"
    done = subprocess.run(
        [str(PYTHON), "-c", "from importlib.metadata import version; print(version('matrix-synapse'))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout.strip() or "(unknown)"


def homeserver_yaml(home: Path, port: int, shared_secret: str) -> str:
    """The whole configuration (YAML is a superset of JSON's quoting: paths are quoted)."""
    lenient = "{per_second: 100000, burst_count: 100000}"
    return f"""\
server_name: "{SERVER_NAME}"
pid_file: "{home / "homeserver.pid"}"
listeners:
  - port: {port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client, media]
        compress: false
database:
  name: sqlite3
  args:
    database: "{home / "homeserver.db"}"
log_config: "{home / "log.yaml"}"
media_store_path: "{home / "media_store"}"
signing_key_path: "{home / "signing.key"}"
registration_shared_secret: "{shared_secret}"
enable_registration: false
enable_authenticated_media: true
max_upload_size: 50M
url_preview_enabled: false
enable_metrics: false
report_stats: false
trusted_key_servers: []
suppress_key_server_warning: true
presence:
  enabled: false
rc_login:
  address: {lenient}
  account: {lenient}
  failed_attempts: {lenient}
rc_registration: {lenient}
rc_media_create: {lenient}
"""


LOG_YAML = """\
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s'
handlers:
  console:
    class: logging.StreamHandler
    formatter: precise
root:
  level: WARNING
  handlers: [console]
disable_existing_loggers: false
"""


@dataclass
class Synapse:
    base_url: str
    process: subprocess.Popen[bytes]
    shared_secret: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def register(self, user: str) -> str:
        """A new user, through the shared-secret admin API; returns its access token."""
        url = f"{self.base_url}/_synapse/admin/v1/register"
        nonce = httpx.get(url, timeout=30).raise_for_status().json()["nonce"]
        password = secrets.token_urlsafe(16)
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), user.encode(), password.encode(), b"notadmin"]))
        body = {"nonce": nonce, "username": user, "password": password, "mac": mac.hexdigest()}
        r = httpx.post(url, json={**body, "admin": False}, timeout=30)
        if r.status_code != 200:
            raise BenchError(f"synapse register: {r.status_code} {r.text[:300]}")
        token: str = r.json()["access_token"]
        return token

    def upload(self, token: str, data: bytes, filename: str, content_type: str) -> str:
        """Upload through the client API; returns the authenticated download URL."""
        r = httpx.post(
            f"{self.base_url}/_matrix/media/v3/upload",
            params={"filename": filename},
            content=data,
            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
            timeout=60,
        )
        if r.status_code != 200:
            raise BenchError(f"synapse upload: {r.status_code} {r.text[:300]}")
        server, _, media_id = r.json()["content_uri"].removeprefix("mxc://").partition("/")
        return f"{self.base_url}/_matrix/client/v1/media/download/{server}/{media_id}"


@contextmanager
def running_synapse(work: Path) -> Iterator[Synapse]:
    """One Synapse process on a free loopback port, in a fresh folder under ``work``."""
    why = missing()
    if why is not None:
        raise BenchError(f"Synapse is not installed: {why}")
    port = free_port()
    home = work / f"synapse-{port}"
    home.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(16)
    config = home / "homeserver.yaml"
    config.write_text(homeserver_yaml(home, port, secret))
    (home / "log.yaml").write_text(LOG_YAML)
    log = home / "synapse.log"
    base = ["-m", "synapse.app.homeserver", "--config-path", str(config)]
    keys = subprocess.run(
        [str(PYTHON), *base, "--generate-keys"], capture_output=True, text=True, timeout=120, check=False
    )
    if keys.returncode != 0:
        raise BenchError(f"synapse --generate-keys failed:\n{keys.stdout}\n{keys.stderr}")
    with log.open("wb") as out:
        proc = subprocess.Popen([str(PYTHON), *base], cwd=home, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/_matrix/client/versions", proc, log, timeout=120)
        yield Synapse(url, proc, secret)
    except BaseException:
        raise  # keep the folder (config, log) of a failed run
    else:
        _stop(proc)
        shutil.rmtree(home, ignore_errors=True)
    finally:
        _stop(proc)
