"""examples/pytest-plugin, a test project of its own, run by pytest in a new process: the
plugin (entry point ``pytest11``) gives it ``mediagate_server`` and ``mediagate_account`` and
nothing else is set up. Plus: loading the plugin brings no side effects into a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.server import ROOT

EXAMPLE = ROOT / "examples" / "pytest-plugin"

pytestmark = pytest.mark.e2e


def _clean_env() -> dict[str, str]:
    # As a developer's shell would be: no settings of this suite, no xdist options.
    return {k: v for k, v in os.environ.items() if not k.startswith(("MEDIAGATE_", "PYTEST_"))}


def test_the_example_project_passes_with_only_the_fixtures() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist"],
        cwd=EXAMPLE,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "5 passed" in done.stdout, done.stdout[-2000:]


def test_the_plugin_is_registered_and_imports_nothing_of_the_server() -> None:
    probe = (
        "import json, sys, pytest\n"
        "from importlib.metadata import entry_points\n"
        "(ep,) = [e for e in entry_points(group='pytest11') if e.name == 'mediagate']\n"
        "module = ep.load()\n"
        "print(json.dumps({\n"
        "    'loaded': sorted(m for m in sys.modules if m.startswith('mediagate')),\n"
        "    'hooks': sorted(n for n in vars(module) if n.startswith('pytest_')),\n"
        "    'heavy': [m for m in ('sqlalchemy', 'starlette', 'prometheus_client') if m in sys.modules],\n"
        "}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["loaded"] == ["mediagate", "mediagate.testmode", "mediagate.testmode.pytest_plugin"]
    assert seen["hooks"] == ["pytest_addoption"]  # one ini option (mediagate_env), no hook that changes a run
    assert seen["heavy"] == []
