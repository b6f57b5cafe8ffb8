"""Why the server refuses to start with S3 or delivery settings it cannot use: the
one-line reason from the settings (``settings.load`` and ``startup_problem``, what
``mediagate serve`` checks before it builds anything), for every case. The
executable's exit status 2, the single stderr line and the absence of a generated
key file are checked once over the real ``mediagate serve``
(tests/e2e/test_s3_delivery.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mediagate.core import settings as settings_mod
from tests.support.cli import run_cli

REFUSALS = [
    ({"MEDIAGATE_STORAGE_URL": "s3://media/prefix"}, "MEDIAGATE_SECRET_KEY is required with S3 storage"),
    (
        {"MEDIAGATE_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test"},
        "MEDIAGATE_SECRET_KEY is required with a database server (not SQLite)",
    ),
    ({"MEDIAGATE_DELIVERY": "presign"}, "MEDIAGATE_DELIVERY=presign needs MEDIAGATE_STORAGE_URL=s3://"),
    (
        {"MEDIAGATE_STORAGE_URL": "ftp://example/x"},
        "MEDIAGATE_STORAGE_URL='ftp://example/x' is not valid: must be s3://BUCKET",
    ),
]


@pytest.mark.parametrize(("env", "reason"), REFUSALS)
def test_media_settings_refusal_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], reason: str
) -> None:
    for name in [k for k in os.environ if k.startswith("MEDIAGATE_")]:
        monkeypatch.delenv(name)  # as the executable run with only these settings
    monkeypatch.setenv("MEDIAGATE_DATA_DIR", str(tmp_path / "data"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        problem = settings_mod.load().startup_problem()
    except settings_mod.SettingsError as exc:
        problem = str(exc)
    assert problem is not None and reason in problem, problem
    assert "\n" not in problem and "Traceback" not in problem
    assert not (tmp_path / "data" / "secret.key").exists()  # nothing generated on the way


@pytest.mark.parametrize(("env", "reason"), [case for case in REFUSALS if "SECRET_KEY" not in case[1]])
def test_a_command_says_a_bad_media_setting_in_one_line(
    tmp_path: Path, env: dict[str, str], reason: str
) -> None:
    """The CLI's own report of a setting it cannot load (``load_settings``: one line,
    status 2), for the cases the settings refuse; what the executable's ``serve``
    did for them before (tests/support/cli.py runs the command in this process)."""
    done = run_cli({"MEDIAGATE_DATA_DIR": str(tmp_path / "data"), **env}, "encryption", "status")
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], done.stderr
    assert "Traceback" not in done.stderr
