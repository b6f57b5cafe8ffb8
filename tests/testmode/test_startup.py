"""What test mode asks before a server starts: a token off loopback, a valid seed file, one process.
Each refusal is one line and a non-zero exit, before anything listens."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from mediagate.core.settings import Settings
from tests.support.cli import run_cli

FLAGS_ENV = {"MEDIAGATE_TEST_MODE": "true", "MEDIAGATE_HOST": "127.0.0.1"}


@pytest.fixture(autouse=True)
def _environment_kept() -> Iterator[None]:
    """``serve --test-mode``/``--host`` write MEDIAGATE_TEST_MODE/MEDIAGATE_HOST into the
    environment for the server's workers: undone here, as a separate process would."""
    with mock.patch.dict(os.environ):
        yield


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])  # noqa: S104
def test_a_non_loopback_bind_needs_the_token(tmp_path: Path, host: str) -> None:
    base: dict[str, Any] = {"data_dir": tmp_path, "host": host, "test_mode": True}
    problem = Settings(**base).startup_problem()
    assert problem is not None and "MEDIAGATE_TEST_MODE_TOKEN" in problem
    assert Settings(**base, test_mode_token="k" * 20).startup_problem() is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_needs_no_token(tmp_path: Path, host: str) -> None:
    assert Settings(data_dir=tmp_path, host=host, test_mode=True).startup_problem() is None


def test_the_token_is_never_echoed(tmp_path: Path) -> None:
    done = run_cli(
        {"MEDIAGATE_DATA_DIR": str(tmp_path), "MEDIAGATE_TEST_MODE_TOKEN": "short secret"},
        "serve",
        "--test-mode",
    )
    assert done.returncode != 0
    assert "MEDIAGATE_TEST_MODE_TOKEN" in done.stderr and "short secret" not in done.stderr


def test_serve_refuses_a_non_loopback_bind_without_the_token(tmp_path: Path) -> None:
    env = {**FLAGS_ENV, "MEDIAGATE_DATA_DIR": str(tmp_path)}
    done = run_cli(env, "serve", "--test-mode", "--host", "0.0.0.0")  # noqa: S104
    assert done.returncode == 2
    assert "MEDIAGATE_TEST_MODE_TOKEN" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_serve_refuses_a_bad_seed_file_in_one_line(tmp_path: Path) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text('[[accounts]]\nsid = "AC1"\nauth_token = "0123456789abcdef"\n')
    env = {**FLAGS_ENV, "MEDIAGATE_DATA_DIR": str(tmp_path / "data"), "MEDIAGATE_SEED_FILE": str(seed)}
    done = run_cli(env, "serve", "--test-mode")
    assert done.returncode == 2
    assert "accounts.0.sid" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_seed_file_without_test_mode_is_refused(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text('{"accounts": []}')
    done = run_cli({"MEDIAGATE_DATA_DIR": str(tmp_path), "MEDIAGATE_SEED_FILE": str(seed)}, "serve")
    assert done.returncode == 2 and "test mode only" in done.stderr


def test_test_mode_runs_one_process(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, test_mode=True, redis_url="redis://127.0.0.1:6379/0")
    problem = settings.multi_process_problem(2)
    assert problem is not None and "one process" in problem
    assert settings.multi_process_problem(1) is None
