"""Every Redis client of mediagate is built here, with a deadline.

redis-py's default socket timeout is ``None``: a Redis that stops answering
without closing its connections (a frozen process, a paused VM, a black-holed
route, a stalled proxy) holds every caller until the kernel gives up on the
socket, which for an idle-but-open connection is never. A console sign-in then
waited for ever and held a thread of the pool that API routes use.

So every client made here has a connect timeout and a socket (reply) timeout of
``MEDIAGATE_REDIS_TIMEOUT`` seconds, and no retries: one command on a pooled
connection fails within the timeout, one on a new connection within twice it
(the connect, then the first reply). Callers turn the failure into their
documented fail-closed answer (503 + ``Retry-After``, "sign-in unavailable", a
webhook send that waits). ``tests/unit/test_redis_clients.py`` checks that no
module builds a Redis client any other way.

It lives in ``core`` because both ``observability`` (the readiness ping) and the
features use it, and ``observability`` may import nothing above the
infrastructure.
"""

from __future__ import annotations

from typing import Any

import redis
from limits.storage import RedisStorage
from redis.backoff import NoBackoff
from redis.retry import Retry

# The default of MEDIAGATE_REDIS_TIMEOUT (core/settings.py). A Redis next to the
# servers answers in well under a millisecond; a second leaves room for a fork
# (BGSAVE) or a slow command without turning a stall into a long wait.
DEFAULT_TIMEOUT = 1.0

# The URL schemes the settings accept, and what redis-py calls them.
SCHEMES = {"redis": "redis", "rediss": "rediss", "redis+unix": "unix"}


def redis_py_url(url: str) -> str:
    """``url`` as redis-py reads it: the ``redis+unix://`` of ``limits`` is its ``unix://``."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ValueError(f"not a Redis URL mediagate can use: scheme {scheme!r}")
    return f"{SCHEMES[scheme]}://{rest}"


def connection_options(timeout: float) -> dict[str, Any]:
    """What every connection gets: both timeouts, and no retry.

    A retry would multiply the bound (redis-py retries timeouts too when asked,
    with backoff); a connection that went stale (a restarted Redis) is already
    replaced when the pool hands it out, so a retry buys nothing here."""
    if not timeout > 0:
        raise ValueError(f"a Redis timeout must be positive, got {timeout!r}")
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }


def pool(url: str, timeout: float, **options: Any) -> redis.ConnectionPool:
    """A pool with the deadline; ``options`` are further connection options
    (the invalidation listener's keepalive), never a timeout or retry of their own."""
    if options.keys() & {"socket_timeout", "socket_connect_timeout", "retry"}:
        raise ValueError("a Redis client's timeouts and retry come from the factory")
    return redis.ConnectionPool.from_url(redis_py_url(url), **connection_options(timeout), **options)


def client(url: str, timeout: float, **options: Any) -> redis.Redis:
    """A Redis client whose every command ends within ``timeout`` (twice it on a new connection).

    The client owns its pool: ``close()`` closes the pool's connections too."""
    return redis.Redis.from_pool(pool(url, timeout, **options))


def rate_limit_storage(url: str, timeout: float, key_prefix: str) -> RedisStorage:
    """A ``limits`` storage on a pool with the deadline (``limits`` passes no timeout of its own).

    ``wrap_exceptions``: a timeout or an outage surfaces as
    ``limits.errors.StorageError``, which every caller treats as "fail closed"."""
    return RedisStorage(url, connection_pool=pool(url, timeout), key_prefix=key_prefix, wrap_exceptions=True)
