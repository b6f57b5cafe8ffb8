"""``/healthz`` and ``/readyz`` on the real server, with the parts it needs
going away and coming back: the PostgreSQL database, the media directory,
Redis. Only the process's own parts make it unready; Redis (shared by every
process) shows in ``?verbose=1``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.support.databases import PG_ADMIN
from tests.support.server import RunningServer, free_port

pytestmark = pytest.mark.e2e

TIMEOUT = 30
Factory = Callable[..., RunningServer]


def ready(server: RunningServer, query: str = "") -> tuple[int, dict[str, Any]]:
    r = requests.get(server.base_url + "/readyz" + query, timeout=TIMEOUT)
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    return r.status_code, r.json()


def healthy(server: RunningServer) -> bool:
    r = requests.get(server.base_url + "/healthz", timeout=TIMEOUT)
    return r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_names_the_database_when_postgresql_goes_away(server_factory: Factory) -> None:
    srv = server_factory("postgresql", MEDIAGATE_REDIS_URL="redis://127.0.0.1:6379/15")
    status, body = ready(srv)
    assert (status, body) == (
        200,
        {"status": "ok", "checks": {"database": "ok", "disk": "ok", "storage": "ok"}},
    )
    assert ready(srv, "?verbose=1")[1]["dependencies"] == {"redis": "ok"}
    name = srv.env["MEDIAGATE_DATABASE_URL"].rsplit("/", 1)[-1]
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
    srv = server_factory(backend, MEDIAGATE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    status, body = ready(srv)
    assert status == 200, body
    status, body = ready(srv, "?verbose=1")
    assert status == 200 and body["dependencies"]["redis"] != "ok", body
    media = Path(srv.env["MEDIAGATE_DATA_DIR"]) / "media"
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
