"""Request ids, route templates, the metrics access rule, multiprocess set-up and
the storage/database error counters, in process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError
from starlette.routing import Host, Mount, Route
from starlette.testclient import TestClient

from mediagate.app import create_app
from mediagate.context import Runtime
from mediagate.observability import metrics, multiproc
from mediagate.observability.middleware import request_id, route_templates
from mediagate.observability.routes import bearer_matches, is_loopback
from mediagate.storage import ObjectNotFound, media_key


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
    before = _value(metrics.STORAGE_ERRORS, "put")
    stat_before = _value(metrics.STORAGE_ERRORS, "stat")
    with pytest.raises(ObjectNotFound):
        runtime.store.stat(key)
    assert _value(metrics.STORAGE_ERRORS, "stat") == stat_before

    def broken() -> Iterator[bytes]:
        yield b"x"
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        runtime.store.put(key, broken())
    assert _value(metrics.STORAGE_ERRORS, "put") == before + 1
    create_app(runtime)  # a second app on the same runtime does not count twice
    with pytest.raises(OSError, match="disk on fire"):
        runtime.store.put(key, broken())
    assert _value(metrics.STORAGE_ERRORS, "put") == before + 2


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
