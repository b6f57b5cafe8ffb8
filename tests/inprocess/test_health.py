"""``/healthz`` and ``/readyz`` with the parts they need going away and coming
back: the PostgreSQL database, the media directory, Redis. Only the process's own
parts make it unready; Redis (shared by every process) shows in ``?verbose=1``.

In process (tests/support/inprocess.py; moved from tests/e2e for issue 22): the
checks are the app's, the same under granian; the end-to-end tier still reaches
``/readyz`` over a real server (tests/e2e/test_run_modes.py, test_scaleout.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.databases import PG_ADMIN
from tests.support.inprocess import InProcessServer, in_process_server
from tests.support.server import free_port

TIMEOUT = 30
Factory = Callable[..., InProcessServer]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Factory]:
    """``server_factory(backend, **settings)``: the app in process on a fresh database."""
    with ExitStack() as stack:

        def start(backend: str, **settings: object) -> InProcessServer:
            return stack.enter_context(in_process_server(backend, tmp_path, **settings))

        yield start


def ready(server: InProcessServer, query: str = "") -> tuple[int, dict[str, Any]]:
    r = server.http.get(server.base_url + "/readyz" + query, timeout=TIMEOUT)
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    return r.status_code, r.json()


def healthy(server: InProcessServer) -> bool:
    r = server.http.get(server.base_url + "/healthz", timeout=TIMEOUT)
    return r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_names_the_database_when_postgresql_goes_away(server_factory: Factory) -> None:
    srv = server_factory("postgresql", redis_url="redis://127.0.0.1:6379/15")
    status, body = ready(srv)
    assert (status, body) == (
        200,
        {"status": "ok", "checks": {"database": "ok", "disk": "ok", "storage": "ok"}},
    )
    assert ready(srv, "?verbose=1")[1]["dependencies"] == {"redis": "ok"}
    name = srv.runtime.settings.database_url.rsplit("/", 1)[-1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        try:
            # Twice: first the pooled connection dies under the check, then a new one is refused.
            for _ in range(2):
                status, body = ready(srv)
                assert status == 503, body
                assert body["status"] == "unavailable" and body["failing"] == ["database"], body
                assert body["checks"]["storage"] == "ok" and body["checks"]["disk"] == "ok", body
                assert "postgres" not in str(body) and name not in str(body)  # no DSN, user or host
            assert healthy(srv)  # liveness never touches the database
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    status, body = ready(srv)
    assert status == 200, body


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_readyz_names_storage_and_reports_redis(server_factory: Factory, backend: str) -> None:
    """Redis at a closed port is reported (verbose) but leaves the process ready;
    a media directory replaced by a file fails the storage check (the tests run
    as root, so a chmod would not)."""
    srv = server_factory(backend, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    status, body = ready(srv)
    assert status == 200, body
    status, body = ready(srv, "?verbose=1")
    assert status == 200 and body["dependencies"]["redis"] != "ok", body
    media = srv.runtime.settings.data_dir / "media"
    moved = media.with_name("media.moved")
    media.rename(moved)
    media.write_text("not a directory")
    try:
        status, body = ready(srv)
        assert status == 503, body
        assert body == {
            "status": "unavailable",
            "failing": ["storage"],
            "checks": {"database": "ok", "disk": "ok", "storage": body["checks"]["storage"]},
        }
        assert healthy(srv)
    finally:
        media.unlink()
        moved.rename(media)
    status, body = ready(srv)
    assert status == 200, body
    assert not list(media.glob("AC" + "0" * 32 + "/**/ME*"))  # the probe object is cleaned up
    shutil.rmtree(moved, ignore_errors=True)
