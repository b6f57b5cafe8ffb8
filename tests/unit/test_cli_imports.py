"""Importing the CLI must not import prometheus_client.

`mediagate serve --workers N` switches prometheus_client to multiprocess mode
(observability/multiproc.py), which only works before anything has imported
it; a command module that imported a metric at import time made every
multi-worker start fail ("prometheus_client was imported before ...")."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_cli_leaves_prometheus_client_unimported() -> None:
    probe = "import sys, mediagate.cli.main; print('prometheus_client' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
