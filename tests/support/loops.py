"""Run a coroutine on a fresh event loop in its own thread.

``asyncio.run`` refuses to start when the calling thread already runs a loop
(Playwright's sync API leaves one in the main thread for the session), so
in-process ASGI tests get a thread of their own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_fresh(make: Callable[[], Coroutine[Any, Any, T]], *, debug: bool = False) -> T:
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(make(), debug=debug))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="fresh-loop")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
