"""Request ids, route templates, the metrics access rule, multiprocess set-up and
the storage/database error counters, in process."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError
from starlette.routing import Host, Mount, Route
from starlette.testclient import TestClient

from mediagate.http.app import create_app
from mediagate.http.probes import bearer_matches, is_loopback
from mediagate.observability import metrics, multiproc
from mediagate.observability.middleware import request_id, route_templates
from mediagate.runtime.context import Runtime
from mediagate.storage import ObjectNotFound, StorageError, media_key


def _value(counter: object, *labels: str) -> float:
    child = counter.labels(*labels) if labels else counter  # type: ignore[attr-defined]
    return float(child._value.get())


def test_request_id_accepted_only_when_well_formed() -> None:
    assert request_id([(b"x-request-id", b"abc-123_X.9:z")]) == "abc-123_X.9:z"
    for bad in (b"", b"a b", b'a"b', b"x" * 129, b"-leading", "é".encode(), b"a\nb"):
        generated = request_id([(b"x-request-id", bad)])
        assert generated != bad.decode("latin-1") and len(generated) == 32
        int(generated, 16)
    assert request_id([]) != request_id([])


def _endpoint() -> None:  # pragma: no cover - never called
    pass


def test_route_templates_include_mount_and_host_prefixes() -> None:
    leaf = Route("/{a}/{b}", _endpoint)
    mounted = Route("/messages", _endpoint)
    hosted = Route("/{a}/{b}", _endpoint)
    found = route_templates(
        [
            Route("/healthz", _endpoint),
            Mount("/_media/secure", routes=[leaf]),
            Mount("/console", routes=[Mount("/x", routes=[mounted])]),
            Host("media.example.com", app=Mount("", routes=[hosted])),
        ]
    )
    assert found[id(leaf)] == "/_media/secure/{a}/{b}"
    assert found[id(mounted)] == "/console/x/messages"
    assert found[id(hosted)] == "//media.example.com/{a}/{b}"


def test_loopback_and_bearer_rules() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.com", "", None))  # noqa: S104
    token = "t" * 24
    assert bearer_matches("Bearer " + token, token)
    assert bearer_matches("bearer " + token, token)
    assert not bearer_matches("Bearer " + token[:-1], token)
    assert not bearer_matches("Basic " + token, token)
    assert not bearer_matches(None, token)
    assert not bearer_matches("Bearer " + "é" * 24, token)


@pytest.mark.parametrize(("host", "status"), [("127.0.0.1", 200), ("0.0.0.0", 403)])  # noqa: S104
def test_metrics_without_a_token_only_on_a_loopback_bind(runtime: Runtime, host: str, status: int) -> None:
    runtime.settings.host = host
    client = TestClient(create_app(runtime), client=("127.0.0.1", 50000))
    r = client.get("/metrics")
    assert r.status_code == status, r.text
    if status == 403:
        assert r.json()["code"] == 20403
    else:
        assert "mediagate_http_requests_total" in r.text


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    # Registered with monkeypatch so that whatever prepare() sets is undone.
    monkeypatch.setenv(multiproc.ENV, "placeholder")
    monkeypatch.delenv(multiproc.ENV)
    yield monkeypatch


def test_prepare_is_a_no_op_for_one_worker(clean_env: pytest.MonkeyPatch) -> None:
    assert multiproc.prepare(1) is None
    assert multiproc.ENV not in os.environ


def test_prepare_refuses_when_prometheus_was_imported_first(clean_env: pytest.MonkeyPatch) -> None:
    # This test process imported prometheus_client in single-process mode, which
    # is exactly the mistake that would leave forked workers counting apart.
    with pytest.raises(RuntimeError, match="imported before PROMETHEUS_MULTIPROC_DIR"):
        multiproc.prepare(2)
    assert multiproc.ENV not in os.environ


def test_prepare_wipes_stale_files_of_a_configured_dir(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    (tmp_path / "keep.txt").write_text("not ours")
    clean_env.setenv(multiproc.ENV, str(tmp_path))
    with pytest.raises(RuntimeError):  # still refuses: prometheus_client is loaded here
        multiproc.prepare(2)
    assert not (tmp_path / "counter_123.db").exists()
    assert (tmp_path / "keep.txt").exists()


def test_storage_errors_are_counted_but_missing_objects_are_not(runtime: Runtime) -> None:
    create_app(runtime)  # wraps the store's verbs
    key = media_key("AC" + "1" * 32, "ME" + "1" * 32)
    before = _value(metrics.STORAGE_ERRORS, "put", "other")
    stat_before = _value(metrics.STORAGE_ERRORS, "stat", "other")
    with pytest.raises(ObjectNotFound):
        runtime.store.stat(key)
    assert _value(metrics.STORAGE_ERRORS, "stat", "other") == stat_before

    def broken() -> Iterator[bytes]:
        yield b"x"
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        runtime.store.put(key, broken())
    assert _value(metrics.STORAGE_ERRORS, "put", "other") == before + 1
    create_app(runtime)  # a second app on the same runtime does not count twice
    with pytest.raises(OSError, match="disk on fire"):
        runtime.store.put(key, broken())
    assert _value(metrics.STORAGE_ERRORS, "put", "other") == before + 2


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "full"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "full"),
        (StorageError("the object store refused the connection"), "unavailable"),
        (PermissionError(errno.EACCES, "Permission denied"), "denied"),
        (OSError(errno.EROFS, "Read-only file system"), "denied"),
        (OSError(errno.EIO, "Input/output error"), "other"),
    ],
)
def test_storage_errors_say_why(runtime: Runtime, error: OSError, reason: str) -> None:
    """The reason label, so that a full volume can page on its own (docs/operations.md)."""
    create_app(runtime)
    key = media_key("AC" + "2" * 32, "ME" + "2" * 32)
    before = _value(metrics.STORAGE_ERRORS, "put", reason)

    def failing() -> Iterator[bytes]:
        yield b"x"
        raise error

    with pytest.raises(OSError):
        runtime.store.put(key, failing())
    assert _value(metrics.STORAGE_ERRORS, "put", reason) == before + 1


def test_database_errors_are_counted_by_class(runtime: Runtime) -> None:
    create_app(runtime)
    before = _value(metrics.DATABASE_ERRORS, "ProgrammingError") + _value(
        metrics.DATABASE_ERRORS, "OperationalError"
    )
    with pytest.raises((OperationalError, ProgrammingError)), runtime.engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    after = _value(metrics.DATABASE_ERRORS, "ProgrammingError") + _value(
        metrics.DATABASE_ERRORS, "OperationalError"
    )
    assert after == before + 1


def _tiny_app(access_log: bool = True) -> TestClient:
    """The middleware around a two-route app: a 429 and an unhandled error."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response

    from mediagate.observability.middleware import ObservabilityMiddleware

    async def limited(request: Request) -> Response:
        return PlainTextResponse("slow down", status_code=429)

    async def boom(request: Request) -> Response:
        raise RuntimeError("boom")

    routes = [Route("/limited/{x}", limited), Route("/boom", boom)]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(ObservabilityMiddleware, templates=route_templates(routes), access_log=access_log)
        ],
    )
    return TestClient(app, raise_server_exceptions=False)


def test_429s_and_unhandled_errors_are_counted(caplog: pytest.LogCaptureFixture) -> None:
    client = _tiny_app()
    limited_before = _value(metrics.RATE_LIMITED, "/limited/{x}")
    errors_before = _value(metrics.HTTP_REQUESTS, "/boom", "GET", "500")
    with caplog.at_level("INFO", logger="mediagate.access"):
        r = client.get("/limited/abc?Signature=secret", headers={"X-Request-Id": "unit-1"})
        assert client.get("/boom").status_code == 500
    assert r.status_code == 429 and r.headers["x-request-id"] == "unit-1"
    assert _value(metrics.RATE_LIMITED, "/limited/{x}") == limited_before + 1
    assert _value(metrics.HTTP_REQUESTS, "/boom", "GET", "500") == errors_before + 1
    lines = [rec for rec in caplog.records if rec.name == "mediagate.access"]
    assert [(rec.route, rec.status) for rec in lines] == [("/limited/{x}", 429), ("/boom", 500)]  # type: ignore[attr-defined]
    assert all("secret" not in str(rec.__dict__) for rec in lines)


def test_access_log_can_be_turned_off(caplog: pytest.LogCaptureFixture) -> None:
    client = _tiny_app(access_log=False)
    with caplog.at_level("INFO", logger="mediagate.access"):
        assert client.get("/limited/x").status_code == 429
    assert not [rec for rec in caplog.records if rec.name == "mediagate.access"]


def test_a_stuck_check_times_out_and_is_not_started_twice() -> None:
    import asyncio
    import threading

    from mediagate.observability.health import Check

    release = threading.Event()
    calls: list[int] = []

    def probe() -> None:
        calls.append(1)
        release.wait(30)

    check = Check("slow", probe)

    async def scenario() -> list[str]:
        first = await check.run(0.05)
        second = await check.run(0.05)  # the first probe still holds the thread
        release.set()
        for _ in range(600):
            if len(calls) == 1 and await check.run(5) == "ok":
                return [first, second, "ok"]
            await asyncio.sleep(0.05)
        return [first, second, "never ok"]

    try:
        assert asyncio.run(scenario()) == ["timeout", "busy", "ok"]
    finally:
        release.set()
        check.close()
    assert len(calls) == 2  # the stuck one, then the one that answered ok
