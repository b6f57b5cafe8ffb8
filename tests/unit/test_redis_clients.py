"""Every Redis client has a deadline (core/redis_clients.py): no module builds one any
other way, the factory's connections carry both timeouts and no retry, and each
client of the code base is built with ``MEDIAGATE_REDIS_TIMEOUT``."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import ValidationError

from mediagate.accounts.quotas import IngestMeter
from mediagate.cluster.invalidation import Invalidation
from mediagate.cluster.shared_slots import SharedSlots
from mediagate.console.credential_views import CheckLimiter
from mediagate.console.ratelimit import LoginLimiter
from mediagate.core import redis_clients
from mediagate.core.settings import Settings

SRC = Path(__file__).resolve().parents[2] / "src" / "mediagate"
FACTORY = "core/redis_clients.py"
# Calls that make a Redis client, a connection pool or a ``limits`` Redis storage.
BUILDERS = {
    "from_url",
    "Redis",
    "StrictRedis",
    "ConnectionPool",
    "BlockingConnectionPool",
    "Sentinel",
    "RedisCluster",
    "storage_from_string",
    "RedisStorage",
    "RedisSentinelStorage",
    "RedisClusterStorage",
}


def _builder_calls(path: Path) -> list[ast.Call]:
    calls = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in BUILDERS:
                calls.append(node)
    return calls


def test_no_module_builds_a_redis_client_without_the_factory() -> None:
    offenders = []
    seen_factory = 0
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("apidocs/"):
            continue
        for call in _builder_calls(path):
            if rel == FACTORY:
                seen_factory += 1
                continue
            offenders.append(f"{rel}:{call.lineno}")
    assert seen_factory >= 2, "the scan no longer recognises the factory's own calls"
    assert not offenders, f"Redis clients built without core/redis_clients.py: {offenders}"


def _pool_options(pool: redis.ConnectionPool) -> dict[str, Any]:
    kwargs = pool.connection_kwargs
    return {
        "socket_timeout": kwargs.get("socket_timeout"),
        "socket_connect_timeout": kwargs.get("socket_connect_timeout"),
        "retries": kwargs["retry"].get_retries() if kwargs.get("retry") is not None else None,
    }


def test_the_factorys_connections_have_both_timeouts_and_no_retry() -> None:
    made = redis_clients.client("redis://127.0.0.1:1/0", 0.3)
    assert _pool_options(made.connection_pool) == {
        "socket_timeout": 0.3,
        "socket_connect_timeout": 0.3,
        "retries": 0,
    }
    # ... and a connection made from that pool has them (what a command uses).
    conn: Any = made.connection_pool.make_connection()
    assert conn.socket_timeout == 0.3 and conn.socket_connect_timeout == 0.3
    assert conn.retry.get_retries() == 0
    made.close()


def test_every_client_of_the_code_base_takes_the_configured_timeout() -> None:
    url, timeout = "redis://127.0.0.1:1/0", 0.4  # never contacted: clients connect lazily
    login = LoginLimiter(url, "p", timeout)
    check = CheckLimiter(url, "p", timeout)
    meter = IngestMeter(url, "p", redis_timeout=timeout)
    slots = SharedSlots(url, "p", timeout=timeout)
    try:
        pools = {
            "sign-in limiter": login._limiter.storage.storage.connection_pool,  # type: ignore[attr-defined]
            "credential-check limiter": check._limiter.storage.storage.connection_pool,  # type: ignore[attr-defined]
            "ingest meter": meter._redis.connection_pool,
            "shared slots": slots._redis.connection_pool,
        }
        for name, pool in pools.items():
            assert _pool_options(pool) == {
                "socket_timeout": timeout,
                "socket_connect_timeout": timeout,
                "retries": 0,
            }, name
    finally:
        slots.close()


def test_the_invalidation_channel_uses_the_factory_with_its_health_timeout() -> None:
    # redis+unix:// is a URL the settings accept: the channel's clients must read it
    # as every other client does (redis-py alone refuses the scheme).
    bus = Invalidation("redis+unix:///run/redis.sock?db=2", "p", health_interval=0.5, health_timeout=0.7)
    publisher = bus._redis()
    listener = bus._client(socket_keepalive=True, health_check_interval=0)
    try:
        for made in (publisher, listener):
            assert _pool_options(made.connection_pool) == {
                "socket_timeout": 0.7,
                "socket_connect_timeout": 0.7,
                "retries": 0,
            }
            assert made.connection_pool.connection_kwargs["path"] == "/run/redis.sock"
        assert listener.connection_pool.connection_kwargs["socket_keepalive"] is True
    finally:
        bus.stop()
        listener.close()


def test_redis_plus_unix_urls_reach_redis_py_as_unix_and_others_are_refused() -> None:
    assert redis_clients.redis_py_url("redis+unix:///run/redis.sock?db=2") == "unix:///run/redis.sock?db=2"
    assert redis_clients.redis_py_url("rediss://h:6380/1") == "rediss://h:6380/1"
    with pytest.raises(ValueError, match="scheme"):
        redis_clients.redis_py_url("redis+sentinel://h:26379/mymaster")
    with pytest.raises(ValueError, match="positive"):
        redis_clients.connection_options(0)
    with pytest.raises(ValueError, match="factory"):
        redis_clients.client("redis://h/0", 1.0, socket_timeout=None)


def test_the_setting_defaults_to_the_factorys_default_and_is_validated(tmp_path: Path) -> None:
    def settings(**values: Any) -> Settings:
        return Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/db.sqlite", **values)

    assert settings().redis_timeout == redis_clients.DEFAULT_TIMEOUT
    assert settings(redis_timeout=2.5).redis_timeout == 2.5
    for bad in (0, -1, 0.01, 31):
        with pytest.raises(ValidationError, match="redis_timeout"):
            settings(redis_timeout=bad)
    # The settings accept exactly the URLs the factory can build a client for.
    for bad_url in ("redis+sentinel://h:26379/mymaster", "REDIS://h:6379/0", "h:6379"):
        with pytest.raises(ValueError):
            redis_clients.redis_py_url(bad_url)
        with pytest.raises(ValidationError, match="redis_url"):
            settings(redis_url=bad_url)
    for good_url in ("redis://h:6379/0", "rediss://h:6380/1", "redis+unix:///run/redis.sock"):
        assert settings(redis_url=good_url).redis_url == good_url
