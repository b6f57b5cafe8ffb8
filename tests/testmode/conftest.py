"""In-process test-mode fixtures: a runtime with test mode on, an ASGI client on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from mediagate.accounts import accounts
from mediagate.http.app import create_app
from mediagate.runtime.context import Runtime
from tests.conftest import MakeRuntime
from tests.support.loops import run_fresh
from tests.support.stored import message_with_media

T = TypeVar("T")
BASE = "http://mediagate.test"


def drive(rt: Runtime, steps: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run ``steps`` against ``create_app(rt)`` in process (no lifespan: no background workers)."""

    async def run() -> T:
        transport = httpx.ASGITransport(app=create_app(rt))
        async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=60) as client:
            return await steps(client)

    return run_fresh(run)


@dataclass
class World:
    rt: Runtime
    account_sid: str
    token: str
    message_sid: str
    media_sid: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.account_sid, self.token)

    @property
    def content_path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages/{self.message_sid}/Media/{self.media_sid}"

    @property
    def list_path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages/{self.message_sid}/Media.json"


def make_world(rt: Runtime) -> World:
    made = accounts.create(rt, "tested")
    message_sid, media_sid = message_with_media(rt, made.account.sid, "test mode")
    return World(rt, made.account.sid, made.auth_token, message_sid, media_sid)


@pytest.fixture
def test_rt(make_runtime: MakeRuntime) -> Runtime:
    return make_runtime(test_mode=True)


@pytest.fixture
def world(test_rt: Runtime) -> World:
    return make_world(test_rt)


def twilio_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"code", "message", "more_info", "status"}, body
    assert body["status"] == status
    return body
