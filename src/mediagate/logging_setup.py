"""Log format. Secrets never reach a log line: the only request data logged
are methods, paths (sids, no query strings) and decisions."""

from __future__ import annotations

import logging


def configure(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
