"""Shared fixtures. Database-backed fixtures are parametrized over SQLite and PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol

import pytest

from mediagate.core.clock import Clock
from mediagate.core.settings import Settings
from mediagate.runtime.context import Runtime, build_runtime
from tests.support.databases import fresh_database
from tests.support.fileserver import FileServer, running_file_server
from tests.support.receiver import Receiver, running_receiver
from tests.support.seaweed import ObjectStore, running_seaweed
from tests.support.server import RunningServer, running_server
from tests.support.shapes import shape_id, shapes
from tests.support.shared_redis import own_prefix

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


class MakeRuntime(Protocol):
    def __call__(self, *, clock: Clock | None = None, **settings: Any) -> Runtime: ...


@pytest.fixture
def make_runtime(db_url: str, tmp_path: Path) -> Iterator[MakeRuntime]:
    """Runtimes on this test's database (``db_url``: SQLite and PostgreSQL), with
    ``clock`` (a ``ManualClock`` to move time) and any ``Settings`` field changed;
    every one is closed after the test. They share one data directory and secret."""
    secret_key = secrets.token_hex(32)
    built: list[Runtime] = []

    def make(*, clock: Clock | None = None, **settings: Any) -> Runtime:
        base: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": db_url,
            "secret_key": secret_key,
            "public_url": "http://mediagate.test",
            "allow_private_media_urls": True,
        }
        rt = build_runtime(Settings(**{**base, **settings}), clock=clock)
        built.append(rt)
        return rt

    try:
        yield make
    finally:
        for rt in reversed(built):
            rt.close()


@pytest.fixture
def runtime(make_runtime: MakeRuntime) -> Runtime:
    return make_runtime()


@pytest.fixture(scope="session")
def object_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """A real S3 store (SeaweedFS on loopback) for this test session (one per xdist worker).

    Its credentials go into this process's environment, because the S3
    backend takes them from the standard AWS chain, as in production; the
    servers started by the tests get them the same way (``ObjectStore.env``)."""
    with running_seaweed(tmp_path_factory.mktemp("seaweed")) as store:
        saved = {k: os.environ.get(k) for k in store.aws_env()}
        os.environ.update(store.aws_env())
        try:
            yield store
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A ``MEDIAGATE_REDIS_KEY_PREFIX`` of this test's own in the real Redis (``REDIS_URL``)."""
    with own_prefix() as prefix:
        yield prefix


@pytest.fixture(scope="session")
def files() -> Iterator[FileServer]:
    with running_file_server() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 that records every request (``tests/support/receiver.py``)."""
    with running_receiver() as r:
        yield r


@pytest.fixture
def server_factory(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[..., RunningServer]]:
    """Start extra servers with their own environment (e.g. a short signed-URL TTL,
    or private MediaUrl hosts refused); each on SQLite and the local disk unless
    ``backend`` / ``storage`` ("s3": a new bucket in the session's SeaweedFS) say otherwise;
    ``serve_args`` are extra ``mediagate serve`` options (``--workers 2``). The database is
    a copy of the migrated template (tests/support/databases.py); ``migrated=False``
    gives an empty one, which the server migrates as it starts."""
    with ExitStack() as stack:

        def start(
            backend: str = "sqlite",
            storage: str = "local",
            serve_args: Sequence[str] = (),
            *,
            migrated: bool = True,
            **env: str,
        ) -> RunningServer:
            tmp = tmp_path_factory.mktemp(f"extra-{backend}-{storage}")
            url = stack.enter_context(fresh_database(backend, tmp, migrated=migrated))
            return stack.enter_context(
                running_server(tmp / "data", url, serve_args, **storage_env(request, storage), **env)
            )

        yield start


def storage_env(request: pytest.FixtureRequest, storage: str) -> dict[str, str]:
    if storage == "local":
        return {}
    assert storage == "s3", storage
    object_store: ObjectStore = request.getfixturevalue("object_store")
    return object_store.env()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The session ``server`` runs on every database; modules about media set
    ``SERVER_STORAGES = ("local", "s3")`` to run on S3 too (with PostgreSQL)."""
    defs = metafunc._arg2fixturedefs.get("server") if "server" in metafunc.fixturenames else None
    # Only this file's ``server``: some modules define a fixture of that name of their own.
    if not defs or defs[-1].func.__module__ != __name__:
        return
    storages = getattr(metafunc.module, "SERVER_STORAGES", ("local",))
    params = shapes(storages)  # S3 with PostgreSQL only (tests/support/shapes.py says why)
    ids = [shape_id(p) for p in params]
    metafunc.parametrize("server", params, ids=ids, indirect=True, scope="session")


@pytest.fixture(scope="session")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """One real server process per database (and storage backend) for the whole session;
    tests make their own accounts."""
    backend, storage = request.param
    tmp = tmp_path_factory.mktemp(f"server-{backend}-{storage}")
    env = storage_env(request, storage)
    with fresh_database(backend, tmp) as url, running_server(tmp / "data", url, **env) as srv:
        yield srv
