"""examples/node-testing: its Vitest suite (twilio-node and mediagate's test-mode control API)
runs as a user would run it, against a ``mediagate serve --test-mode`` that its own global
set-up starts with this checkout's executable. Its packages come from its package-lock.json
(``make node-deps``)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess

import pytest

from tests.support.server import MEDIAGATE, ROOT

pytestmark = pytest.mark.e2e

EXAMPLE = ROOT / "examples" / "node-testing"


@pytest.mark.skipif(
    importlib.util.find_spec("mediagate.testmode") is None,
    reason="test mode (/v1/Testing/*, src/mediagate/testmode) is not part of this build yet",
)
def test_the_node_testing_example_passes() -> None:
    node = shutil.which("node")
    assert node, "node is not installed (apt-get install nodejs npm)"
    vitest = EXAMPLE / "node_modules" / "vitest" / "vitest.mjs"
    assert vitest.is_file(), "the example's packages are missing: run `make node-deps`"
    # As on a developer's machine: no TWILIO_* (edge/region rewriting) and no MEDIAGATE_* of
    # this process (the example's server gets its own data folder).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "MEDIAGATE_"))}
    env.update(MEDIAGATE_BIN=str(MEDIAGATE), CI="true", NO_COLOR="1")
    done = subprocess.run(
        [node, str(vitest), "run", "--reporter=verbose"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-4000:]
    # Every test of the suite ran and passed (a skipped or filtered one would show here).
    assert re.search(r"Tests\s+6 passed \(6\)", done.stdout), done.stdout[-3000:]
