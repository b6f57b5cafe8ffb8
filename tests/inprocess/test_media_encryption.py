"""Encryption-at-rest rotation on every database (``make_runtime``: SQLite and
PostgreSQL), without a server process: what ``mediagate encryption rewrap`` and
``status`` do to the database and the store, and the refusal of ``mediagate serve``
to start without the keys. Moved from tests/e2e/test_encryption.py, where the
sealed server answers over HTTP stay."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from mediagate.accounts import accounts
from mediagate.storage import media_key
from mediagate.storage.s3 import S3Store
from tests.conftest import BACKENDS, MakeRuntime
from tests.e2e.test_encryption import K1, at_rest
from tests.support.cli import run_cli
from tests.support.fileserver import png_bytes
from tests.support.inprocess import in_process_server
from tests.support.seaweed import ObjectStore
from tests.support.server import MEDIAGATE
from tests.support.stored import message_with_media


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAGATE_")}
    return subprocess.run(
        [str(MEDIAGATE), *args], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def test_rotation_rewrap_and_refusal_without_keys(make_runtime: MakeRuntime) -> None:
    """On every database (``make_runtime``). What the CLI does to the database and the
    store, so no server process is needed: the media are stored through a runtime
    sealed with k1, as the server stores what it fetched (ingest through a real
    server is test_ingested_media_is_ciphertext_at_rest's). The rewrap runs in this
    process (tests/support/cli.py) on PostgreSQL and as the real executable on SQLite,
    the group's one run of it; the refused ``serve`` is always the executable
    (``serve`` sets this process's environment as it starts)."""
    rt = make_runtime(encryption="on", master_keys=f"k1:{K1}")
    acct = accounts.create(rt, "sealed-rotation").account.sid
    media = [message_with_media(rt, acct, body=f"m{i}")[1] for i in range(3)]
    keys = [media_key(acct, sid) for sid in media]
    before = {key: at_rest(rt, key) for key in keys}
    assert all(png_bytes(300) not in raw for raw in before.values())  # sealed with k1
    env = {
        "MEDIAGATE_DATA_DIR": str(rt.settings.data_dir),
        "MEDIAGATE_DATABASE_URL": rt.settings.database_url,
        "MEDIAGATE_SECRET_KEY": rt.settings.secret_key,
        "MEDIAGATE_ENCRYPTION": "on",
        "MEDIAGATE_LOG_LEVEL": "warning",
    }
    on_sqlite = rt.settings.database_url.startswith("sqlite")
    # Rotation: k2 first (active), k1 kept until the rewrap is done.
    k2 = secrets.token_hex(32)
    env["MEDIAGATE_MASTER_KEYS"] = f"k2:{k2},k1:{K1}"
    rewrap = ("encryption", "rewrap", "--batch", "2")
    done = _cli(env, *rewrap) if on_sqlite else run_cli(env, *rewrap)
    assert done.returncode == 0, done.stderr
    assert "rewrapped 3 data keys under 'k2'; 0 remaining" in done.stdout
    assert {key: at_rest(rt, key) for key in keys} == before  # objects untouched
    # k1 can go: the CLI (like the server) opens everything with k2 alone.
    env["MEDIAGATE_MASTER_KEYS"] = f"k2:{k2}"
    status = run_cli(env, "encryption", "status", "--json")  # in this process (tests/support/cli.py)
    assert status.returncode == 0, status.stderr
    assert '"k2": 3' in status.stdout
    # Encryption off and the keys gone: refused at start with one clear line, no key material.
    env.pop("MEDIAGATE_MASTER_KEYS")
    env["MEDIAGATE_ENCRYPTION"] = "off"
    refused = _cli(env, "serve", "--host", "127.0.0.1", "--port", "9")
    assert refused.returncode == 2
    assert "'k2' (3 objects)" in refused.stderr and "MEDIAGATE_MASTER_KEYS" in refused.stderr
    assert k2 not in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_presign_delivery_stores_with_sse_s3(tmp_path: Path, object_store: ObjectStore, backend: str) -> None:
    """Presign delivery: the store encrypts (SSE-S3) and the client downloads
    plaintext straight from it, through the presigned redirect (the session follows
    it out of the process, to SeaweedFS). Moved from tests/e2e/test_encryption.py,
    where it started a server per database for this alone."""
    s3 = object_store.env()
    with in_process_server(
        backend,
        tmp_path,
        storage_url=s3["MEDIAGATE_STORAGE_URL"],
        s3_endpoint_url=s3["MEDIAGATE_S3_ENDPOINT_URL"],
        delivery="presign",
        encryption="on",
    ) as app:
        store = app.runtime.store
        assert isinstance(store, S3Store)  # nothing sealed by us: no key-table lookups
        acct = app.new_account("sse")
        message_sid, media_sid = message_with_media(app.runtime, acct.sid)
        head = store.client.head_object(Bucket=store.bucket, Key=store._name(media_key(acct.sid, media_sid)))
        assert head.get("ServerSideEncryption") == "AES256"
        content = f"{app.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{message_sid}/Media/{media_sid}"
        r = app.http.get(content, auth=(acct.sid, acct.token), timeout=30)
        assert r.history and r.history[0].status_code == 307
        assert r.url.startswith(s3["MEDIAGATE_S3_ENDPOINT_URL"])
        assert r.status_code == 200 and r.content == png_bytes(300)
