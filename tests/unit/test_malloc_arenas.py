"""The serve command caps glibc's malloc arenas for itself and its workers."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from mediagate.serving import malloc_arenas


def _run(env: dict[str, str]) -> str:
    # A fresh interpreter: the cap and the variable are process-wide.
    child = "import os; print(os.environ.get('MALLOC_ARENA_MAX'))"
    code = (
        "import subprocess, sys; from mediagate.serving import malloc_arenas as m; "
        "print(m.limit()); "
        f"print(subprocess.run([sys.executable, '-c', {child!r}], "
        "capture_output=True, text=True, check=True).stdout.strip())"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the cap is glibc's")
def test_the_cap_applies_here_and_reaches_spawned_workers() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert _run(env).split() == ["True", str(malloc_arenas.ARENAS)]


def test_an_operators_own_value_wins() -> None:
    env = {**os.environ, "MALLOC_ARENA_MAX": "4"}
    applied, seen_by_worker = _run(env).split()
    assert seen_by_worker == "4"
    assert applied == ("True" if platform.libc_ver()[0] == "glibc" else "False")


def test_a_malformed_operator_value_is_left_alone() -> None:
    env = {**os.environ, "MALLOC_ARENA_MAX": "lots"}
    assert _run(env).split() == ["False", "lots"]
