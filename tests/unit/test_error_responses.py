"""Error responses are final: nothing re-raised to the server (which closes the connection)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import exc as sa_exc
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mediagate.core.settings import Settings
from mediagate.http.app import create_app
from mediagate.runtime.context import Runtime, build_runtime
from tests.support.loops import run_fresh


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(
        Settings(
            data_dir=tmp_path,
            secret_key=secrets.token_hex(32),
            public_url="http://mediagate.test",
            gc_interval=0,
        )
    )
    yield runtime
    runtime.close()


class _Client:
    def __init__(self, app: object) -> None:
        self.app = app

    def get(self, path: str) -> httpx.Response:
        async def go() -> httpx.Response:
            # raise_app_exceptions: an exception re-raised past the app fails the call,
            # which is what made uvicorn close the keep-alive connection of every 500.
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=True)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://mediagate.test") as client:
                return await client.get(path)

        return run_fresh(go)


def _app_with(rt: Runtime, exc: Exception) -> _Client:
    app = create_app(rt)

    async def boom(request: Request) -> Response:
        raise exc

    app.router.routes.insert(0, Route("/boom", boom))
    return _Client(app)


def test_a_bug_answers_twilio_500_without_re_raising(rt: Runtime) -> None:
    r = _app_with(rt, RuntimeError("bug")).get("/boom")
    assert r.status_code == 500
    assert r.json() == {
        "code": 20500,
        "message": "Internal Server Error",
        "more_info": "https://www.twilio.com/docs/errors/20500",
        "status": 500,
    }


@pytest.mark.parametrize(
    "exc",
    [
        sa_exc.OperationalError("SELECT 1", {}, Exception("connection refused")),
        sa_exc.TimeoutError("QueuePool limit reached"),
        sa_exc.DBAPIError(
            "SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True
        ),
    ],
    ids=["operational", "pool-timeout", "invalidated"],
)
def test_an_unavailable_database_answers_503_with_retry_after(rt: Runtime, exc: Exception) -> None:
    r = _app_with(rt, exc).get("/boom")
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"
    assert r.json()["code"] == 20503
    assert "connection" not in r.json()["message"]  # no driver detail in the body


def test_other_database_errors_are_500s(rt: Runtime) -> None:
    r = _app_with(rt, sa_exc.IntegrityError("INSERT", {}, Exception("duplicate"))).get("/boom")
    assert r.status_code == 500 and r.json()["code"] == 20500


@pytest.mark.parametrize("host", ["public", "secure"])
@pytest.mark.parametrize("segment", ["ME%0Aabc", "%0D%0A", "ME%5Cx%1B%0A%F3%93%8C%AD"])
def test_media_hosts_answer_their_own_404_for_any_path_below_them(
    rt: Runtime, host: str, segment: str
) -> None:
    # A decoded newline made the path fall out of the host's mount and into the API's 404
    # (Twilio's JSON error), which is not the media hosts' documented body.
    account = "AC" + "0" * 32
    r = _Client(create_app(rt)).get(f"/_media/{host}/{account}/{segment}")
    assert r.status_code == 404
    assert r.json()["reason"] == "not_found"
    assert r.json()["status"] == 404


def test_console_paths_with_a_newline_stay_in_the_console(rt: Runtime) -> None:
    client = _Client(create_app(rt))
    plain, odd = client.get("/console/nope"), client.get("/console/nope%0A")
    # The console's own HTML not-found page, not the API's JSON error for an unknown resource.
    assert (odd.status_code, odd.headers["content-type"]) == (404, "text/html; charset=utf-8")
    assert plain.status_code == odd.status_code
    assert plain.headers["content-type"] == odd.headers["content-type"]
