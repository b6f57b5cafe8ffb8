"""The background workers every server process runs while it serves: webhook
delivery (``services/webhooks.py``) and the carrier hand-off outbox
(``services/outbox.py``). Both keep their work in the database, so stopping or
killing a process loses nothing; another process, or this one restarted,
picks it up once the dead process's claims expire."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from mediagate import carriers
from mediagate.services import outbox, webhooks

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from mediagate.context import Runtime


def lifespan(rt: Runtime) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Starlette lifespan that runs the workers for as long as the app serves."""

    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        deliveries = webhooks.Worker(rt)
        handoffs = outbox.Worker(rt, carriers.dispatch)
        deliveries.start()
        handoffs.start()
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                handoffs.stop()
            with contextlib.suppress(Exception):
                deliveries.stop()

    return run
