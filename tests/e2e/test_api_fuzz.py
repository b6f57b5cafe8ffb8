"""schemathesis against our own ``/openapi.json``, on both databases: no 5xx,
every status documented, every body and content type as documented.

The server and the fuzzer run together in a network namespace holding only
loopback (``tests/support/fuzz_netns.py``), because the fuzzer invents
MediaUrl/StatusCallback/SmsUrl hosts that the server really contacts. Bounded
here (a few hundred cases in all); ``make fuzz-api`` runs the long version
(``FUZZ_API_EXAMPLES``, ``FUZZ_API_PHASES``).

``make test`` runs the bounded fuzz on SQLite only; the PostgreSQL run (the same
fuzzer, 26 s of a 2-core machine) is a long fuzz run and belongs to ``make
test-system`` (issue 22), so both databases are still fuzzed on every CI run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.support.databases import fresh_database
from tests.support.server import ROOT

pytestmark = pytest.mark.e2e

PG_SOCKET_DIR = "/var/run/postgresql"


def _without_network(url: str) -> str:
    """The same database over PostgreSQL's unix socket: a namespace without a
    network still shares the filesystem."""
    if not url.startswith("postgresql://"):
        return url
    name = url.rsplit("/", 1)[1]
    return f"postgresql://postgres@/{name}?host={PG_SOCKET_DIR}"


def _runner(*args: str, isolated: bool, timeout: float) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tests.support.fuzz_netns", *args]
    if isolated:
        command = ["unshare", "--net", "--", *command]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.parametrize(
    "backend",
    [pytest.param(b, marks=[pytest.mark.system] if b == "postgresql" else []) for b in BACKENDS],
)
def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(backend: str, tmp_path: Path) -> None:
    examples = os.environ.get("FUZZ_API_EXAMPLES", "3")
    phases = os.environ.get("FUZZ_API_PHASES", "examples,fuzzing")
    with fresh_database(backend, tmp_path) as url:
        result = _runner(
            "--database-url",
            _without_network(url),
            "--data-dir",
            str(tmp_path / "data"),
            "--max-examples",
            examples,
            "--phases",
            phases,
            isolated=True,
            timeout=3600,
        )
    report = result.stdout[-40000:] + "\n" + result.stderr[-5000:]
    assert result.returncode == 0, report
    assert "passed" in result.stdout and " 0 passed" not in result.stdout, report


def test_the_runner_refuses_to_fuzz_with_a_network(tmp_path: Path) -> None:
    result = _runner(
        "--database-url",
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        "--data-dir",
        str(tmp_path),
        isolated=False,
        timeout=120,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "REFUSING TO FUZZ" in result.stderr
    assert not (tmp_path / "server.log").exists()  # no server was started
