"""Choosing prometheus-client's multiprocess mode before anything imports it.

prometheus-client decides at import time whether values live in process
memory or in mmap'ed files under ``PROMETHEUS_MULTIPROC_DIR`` (which a scrape
of any worker then sums). ``mediagate serve`` therefore calls ``prepare``
before it builds anything; this module must not import prometheus_client.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(workers: int) -> Path | None:
    """Set up the metrics directory when several processes serve.

    Uses ``PROMETHEUS_MULTIPROC_DIR`` when set (its stale ``*.db`` files from a
    previous run are removed, as prometheus-client requires), else a fresh
    temporary directory when ``workers > 1``. Returns the directory the caller
    created (to remove at exit), or None.
    """
    configured = os.environ.get(ENV) or os.environ.get(ENV.lower())
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink(missing_ok=True)
        _check_not_imported()
        os.environ[ENV] = str(directory)
        return None
    if workers <= 1:
        return None
    _check_not_imported()
    created = Path(tempfile.mkdtemp(prefix="mediagate-metrics-"))
    os.environ[ENV] = str(created)
    return created


def cleanup(directory: Path | None) -> None:
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


def _check_not_imported() -> None:
    # granian forks its workers: a prometheus_client imported here before the
    # variable was set would leave every worker counting in private memory,
    # and each scrape would see one worker's share. Fail loudly instead.
    values = sys.modules.get("prometheus_client.values")
    if values is not None and getattr(getattr(values, "ValueClass", None), "__name__", "") == "MutexValue":
        raise RuntimeError(
            "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set; "
            "mediagate serve must call observability.multiproc.prepare() first"
        )
