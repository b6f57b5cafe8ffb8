"""Run a coroutine on a fresh event loop in its own thread.

``asyncio.run`` refuses to start when the calling thread already runs a loop
(Playwright's sync API leaves one in the main thread for the session), so
in-process ASGI tests get a thread of their own.
"""

from __future__ import annotations

import asyncio
import threading
import time
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


def eventually(probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.05) -> T:
    """Poll ``probe`` until it returns something other than ``None`` (or ``False``)
    and return that; fail after ``timeout`` seconds. For work that finishes on
    another thread or process (a background fetch, a delivery): the test waits
    for the outcome it asserts on, not for a guessed duration."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got is not None and got is not False:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout:g} s (last: {got!r})")
        time.sleep(interval)
