"""Where the running server is, for the CLI.

``mediagate serve`` records its API base URL in ``DATA_DIR/server.json``; CLI
commands that print or store URLs (``accounts create --json``, ``inbound``,
whose webhook carries ``MediaUrl0``) use it, so that a server started with
``--port 9000`` is not reported as the default ``http://127.0.0.1:8080``.
``MEDIAGATE_PUBLIC_URL``, when set, wins everywhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mediagate.core.settings import Settings

FILE = "server.json"


def record(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    target = settings.data_dir / FILE
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"public_url": settings.public_url, "pid": os.getpid()}) + "\n")
    tmp.replace(target)  # atomic: a CLI never reads half a file


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


def running_url(data_dir: Path) -> str | None:
    """The URL recorded by a server that is still running, else ``None``."""
    try:
        info = json.loads((data_dir / FILE).read_text())
        url, pid = info["public_url"], info["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(url, str) or not isinstance(pid, int) or not _alive(pid):
        return None
    return url
