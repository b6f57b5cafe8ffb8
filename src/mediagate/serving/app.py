"""The RSGI application granian runs: the fast paths first, then the ASGI app."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from starlette.applications import Starlette

from mediagate.serving.bridge import AsgiBridge, HttpProto, Scope
from mediagate.serving.fast import FastPaths
from mediagate.serving.lifespan import Lifespan


def settle_heap() -> None:
    """After startup, before the first request: move everything built so far
    (modules, SQLAlchemy's mappers and compiled statements, the app) out of the
    cyclic collector's reach. Otherwise every full collection walks all of it,
    and under load those walks were the 307's ~100 ms p99 (bench/analysis.md)."""
    gc.collect()
    gc.freeze()


class RsgiApp:
    def __init__(self, app: Starlette) -> None:
        self.asgi = app
        self.lifespan = Lifespan(app)
        self.bridge = AsgiBridge(app, self.lifespan.state)
        self.fast = FastPaths(app)

    async def __rsgi__(self, scope: Scope, proto: Any) -> None:
        if scope.proto != "http":
            proto.close(403)  # no websockets here
            return
        # A repeat content redirect or signed download is answered right here,
        # from memory and without a task switch; anything else, or anything the
        # fast path is not sure about, goes to Starlette unchanged.
        if self.fast.answer(scope, proto):
            return
        await self.bridge(scope, proto)

    # granian's multi-process RSGI workers call these with their loop not yet
    # (or no longer) running; the embedded server (serving/embedded.py) drives
    # the lifespan itself and its loop is running here, so these do nothing.
    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        if not loop.is_running():
            loop.run_until_complete(self.lifespan.startup())
            settle_heap()

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        if not loop.is_running():
            loop.run_until_complete(self.lifespan.shutdown())


__all__ = ["HttpProto", "RsgiApp"]
