"""The machine's real Redis for tests, and a key prefix of one's own (parallel runs share the server)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import redis

REDIS_URL = "redis://127.0.0.1:6379/0"


@contextmanager
def own_prefix() -> Iterator[str]:
    """A fresh ``MEDIAGATE_REDIS_KEY_PREFIX``; its keys are removed afterwards."""
    prefix = f"mgtest-{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()
