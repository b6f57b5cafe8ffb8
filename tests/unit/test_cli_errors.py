"""A service's refusal (``ApiError``) from any command is one line and exit status 2.

The root command group says it (``cli/common.CommandGroup``), so a command does
not catch it itself, and a command added later cannot forget to."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli

UNKNOWN_ACCOUNT = "AC" + "0" * 32
UNKNOWN_KEY = "SK" + "0" * 32


@pytest.mark.parametrize(
    "args",
    [
        ("accounts", "token", UNKNOWN_ACCOUNT),
        ("settings", "get", UNKNOWN_ACCOUNT),
        ("keys", "delete", UNKNOWN_ACCOUNT, UNKNOWN_KEY),
        ("retention", "show", UNKNOWN_ACCOUNT),
        ("accounts", "quota", UNKNOWN_ACCOUNT),
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_a_refusal_is_one_line_and_status_2(db_url: str, tmp_path: Path, args: tuple[str, ...]) -> None:
    env = {"MEDIAGATE_DATA_DIR": str(tmp_path / "data"), "MEDIAGATE_DATABASE_URL": db_url}
    done = run_cli(env, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
