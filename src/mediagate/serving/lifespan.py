"""Drive an ASGI app's lifespan ourselves: granian's RSGI interface has none.

Starlette runs the background workers (webhooks, outbox, key refresh, gc,
the audit flusher) in its lifespan, so the RSGI server must start it before
the first request and end it after the last one, as an ASGI server would.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.types import ASGIApp, Message


class LifespanFailed(RuntimeError):
    pass


class Lifespan:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Starlette's lifespan may fill it; every request's scope gets a copy.
        self.state: dict[str, Any] = {}
        self._to_app: asyncio.Queue[Message] | None = None
        self._from_app: asyncio.Queue[Message] | None = None
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        assert self._to_app is not None and self._from_app is not None
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        try:
            await self.app(scope, self._to_app.get, self._from_app.put)
        except BaseException as exc:
            await self._from_app.put({"type": "lifespan.failed", "message": f"{type(exc).__name__}: {exc}"})
            raise

    async def startup(self) -> None:
        self._to_app, self._from_app = asyncio.Queue(), asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._to_app.put({"type": "lifespan.startup"})
        answer = await self._from_app.get()
        if answer["type"] != "lifespan.startup.complete":
            raise LifespanFailed(answer.get("message") or "lifespan startup failed")

    async def shutdown(self) -> None:
        if self._task is None or self._task.done():
            return
        assert self._to_app is not None and self._from_app is not None
        await self._to_app.put({"type": "lifespan.shutdown"})
        answer = await self._from_app.get()
        with contextlib.suppress(Exception):  # reported below through the answer
            await self._task
        if answer["type"] != "lifespan.shutdown.complete":
            raise LifespanFailed(answer.get("message") or "lifespan shutdown failed")
