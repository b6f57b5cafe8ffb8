"""Several processes and run modes with the real server: ``--workers N`` and a
second process on one database refuse to start without Redis (one line, exit
2); ``MEDIAGATE_ROLE=worker`` answers only the probes and metrics;
``MEDIAGATE_ROLE=api`` queues webhooks that only a worker process sends."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest
import requests

from tests.support.clients import assert_twilio_error
from tests.support.databases import fresh_database
from tests.support.receiver import Receiver
from tests.support.server import MEDIAGATE, free_port, running_server
from tests.support.shared_redis import REDIS_URL
from tests.support.webhooks import claim, inbound, settle

# A long system test: `make test-system` (README "Tests"), not `make test`.
pytestmark = pytest.mark.system

BACKENDS = ["sqlite", "postgresql"]


def serve(data_dir: Path, database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``mediagate serve`` expected to refuse: returns once it has exited."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAGATE_")}
    full = {
        **inherited,
        "MEDIAGATE_DATA_DIR": str(data_dir),
        "MEDIAGATE_DATABASE_URL": database_url,
        "MEDIAGATE_SECRET_KEY": secrets.token_hex(32),
        **env,
    }
    port = str(free_port())
    return subprocess.run(
        [str(MEDIAGATE), "serve", "--port", port, *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    # The migration's log lines may come first; the reason is one line, the last.
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:], done.stderr
    return lines[-1]


def test_several_workers_without_redis_refuse_to_start(tmp_path: Path) -> None:
    done = serve(tmp_path / "data", f"sqlite:///{tmp_path / 'm.db'}", "--workers", "3")
    line = one_line_error(done)
    assert "--workers 3 needs MEDIAGATE_REDIS_URL" in line
    assert not (tmp_path / "m.db").exists()  # refused before touching the database


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_second_process_on_the_database_without_redis_refuses_to_start(
    backend: str, tmp_path: Path
) -> None:
    with fresh_database(backend, tmp_path) as url:
        with running_server(tmp_path / "one", url) as one:
            same_secret = one.env["MEDIAGATE_SECRET_KEY"]
            line = one_line_error(serve(tmp_path / "two", url, MEDIAGATE_SECRET_KEY=same_secret))
            assert f"pid {one.process.pid}" in line and "MEDIAGATE_REDIS_URL is not set" in line
            assert (
                requests.get(one.base_url + "/healthz", timeout=10).status_code == 200
            )  # the first serves on
        # The first stopped cleanly (its row is gone): the next process starts on the same database.
        with running_server(tmp_path / "three", url, MEDIAGATE_SECRET_KEY=same_secret) as three:
            assert requests.get(three.base_url + "/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_worker_process_answers_probes_only_and_an_api_process_leaves_webhooks_to_it(
    backend: str, tmp_path: Path, receiver: Receiver, redis_prefix: str
) -> None:
    key = secrets.token_hex(32)
    env = {
        "MEDIAGATE_SECRET_KEY": key,
        "MEDIAGATE_REDIS_URL": REDIS_URL,
        "MEDIAGATE_REDIS_KEY_PREFIX": redis_prefix,
    }
    with (
        fresh_database(backend, tmp_path) as url,
        running_server(tmp_path / "api", url, ["--role", "api"], **env) as api,
    ):
        acct = api.new_account("run-modes")
        number = claim(api, acct, receiver.url("/modes"))
        queued = {inbound(api, acct, number, f"m{n}") for n in range(3)}
        (row, *_) = settle(api, acct, lambda rows: len(rows) == 3)
        assert row["status"] == "pending"
        with running_server(tmp_path / "worker", url, **env, MEDIAGATE_ROLE="worker") as worker:
            for path in ("/healthz", "/readyz"):
                r = requests.get(worker.base_url + path, timeout=10)
                assert r.status_code == 200 and r.json()["status"] == "ok", r.text
            assert requests.get(worker.base_url + "/metrics", timeout=10).status_code == 200
            refused = requests.get(f"{worker.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
                                   auth=(acct.sid, acct.token), timeout=10)  # fmt: skip
            body = assert_twilio_error(refused, 404, 20404)
            assert "runs only the background workers" in body["message"]
            rows = settle(api, acct, lambda rows: all(r["status"] == "delivered" for r in rows))
            assert len(rows) == 3 and all(r["attempts"] == 1 for r in rows)
            assert sorted(h.form["MessageSid"] for h in receiver.received("/modes")) == sorted(queued)
            assert " attempt 1 -> 200" in worker.log()
        assert " attempt 1 -> " not in api.log()  # the API process sent nothing
