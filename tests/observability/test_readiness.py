"""``/readyz`` says whether *this* process can serve (issue 23, finding 8).

A shared dependency's outage (Redis, an S3 store) used to fail every
process's ``/readyz`` at once, so a balancer drained the whole fleet while
most requests still worked; and a volume a few KB from full said
``storage: ok``. Now only the process's own parts decide (database, free
space on the volumes it writes, a local store's write); the shared ones are
in ``?verbose=1`` and in ``mediagate_dependency_checks``.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from mediagate.http.app import create_app
from mediagate.observability import metrics
from mediagate.runtime.context import Runtime
from tests.conftest import MakeRuntime
from tests.support.loops import run_fresh
from tests.support.server import free_port


def _probe(rt: Runtime, *paths: str) -> list[httpx.Response]:
    app = create_app(rt)

    async def main() -> list[httpx.Response]:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://mediagate.test", timeout=30
            ) as client,
        ):
            return [await client.get(path) for path in paths]

    return run_fresh(main)


def _checks(name: str, result: str) -> float:
    return (
        metrics.REGISTRY.get_sample_value(
            "mediagate_dependency_checks_total", {"dependency": name, "result": result}
        )
        or 0.0
    )


def test_redis_down_is_reported_but_keeps_the_process_ready(make_runtime: MakeRuntime) -> None:
    rt = make_runtime(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout=0.2, readiness_timeout=1)
    before = _checks("redis", "failed")
    (plain,) = _probe(rt, "/readyz")
    assert plain.status_code == 200, plain.text
    assert plain.json() == {"status": "ok", "checks": {"database": "ok", "disk": "ok", "storage": "ok"}}
    assert plain.headers["cache-control"] == "no-store"
    # The plain probe did not wait for Redis, but started its check: the failure reaches the metrics.
    deadline = time.monotonic() + 10
    while _checks("redis", "failed") < before + 1:
        assert time.monotonic() < deadline, "the background check was never counted"
        time.sleep(0.05)

    (verbose,) = _probe(rt, "/readyz?verbose=1")
    assert verbose.status_code == 200
    body: dict[str, Any] = verbose.json()
    assert body["status"] == "ok" and body["checks"]["database"] == "ok"
    assert body["dependencies"] == {"redis": "ConnectionError"}, body
    assert "127.0.0.1" not in verbose.text  # the error's class, never its message


def test_an_unreachable_object_store_is_a_dependency_not_this_process(make_runtime: MakeRuntime) -> None:
    rt = make_runtime(
        storage_url="s3://nowhere/media",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
        store_connect_timeout=0.2,
        store_attempts=1,
        readiness_timeout=1,
    )
    plain, verbose = _probe(rt, "/readyz", "/readyz?verbose=1")
    assert plain.status_code == 200, plain.text
    assert plain.json()["checks"] == {"database": "ok", "disk": "ok"}  # S3: no local volume, no local store
    assert verbose.status_code == 200
    assert verbose.json()["dependencies"]["storage"] != "ok"


def test_a_volume_below_the_free_space_threshold_is_not_ready(make_runtime: MakeRuntime) -> None:
    # No test can fill the machine's disk; a threshold above its free space is the same answer.
    rt = make_runtime(readiness_min_free_bytes=2**62)
    (answer,) = _probe(rt, "/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["failing"] == ["disk"], body
    assert body["checks"] == {"database": "ok", "disk": "LowDiskSpace", "storage": "ok"}
    assert str(rt.settings.data_dir) not in answer.text  # no paths in the body

    ready = make_runtime(readiness_min_free_bytes=0)  # 0: the check is off
    (answer,) = _probe(ready, "/readyz")
    assert answer.status_code == 200, answer.text
