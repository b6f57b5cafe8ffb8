"""The scenarios added for issues 9 and 11, run after the five of ``bench/scenarios.py``:
``s3_shapes`` (bench/s3_shapes.py, with bench/s3_stream_app.py) and ``soak`` (bench/soak.py).

They live apart from scenarios.py (whose redirect and delivery scenarios are
changing on another branch) and share its Config, Site and nginx reference.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import running_nginx
from bench.scenarios import Config, nginx_root

EXTRA = ("s3_shapes", "soak")


def run_extra(work: Path, cfg: Config, log: Callable[[str], None], only: tuple[str, ...]) -> dict[str, Any]:
    wanted = [name for name in EXTRA if name in only]
    if not wanted:
        return {}
    from bench import s3_shapes, soak

    out: dict[str, Any] = {}
    with running_nginx(work, nginx_root(work, cfg), "http://127.0.0.1/unused") as nginx:
        if "s3_shapes" in wanted:
            out["s3_shapes"] = s3_shapes.run(work, nginx, cfg, log)
        if "soak" in wanted:
            out["soak"] = soak.run(work, nginx, cfg, log)
    return out
