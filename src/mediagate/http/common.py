"""Request plumbing every HTTP part shares (API routes, console, media hosts, probes):
the runtime, running blocking code off the loop (``call``; ``hot`` for the hot
paths' own threads), the form and query gates. Neutral on purpose: ``edge/``
and ``console/`` use it without depending on ``api/``."""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import ParamSpec, TypeVar, cast

import anyio
import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request

from mediagate.core.errors import BadRequest, ServiceUnavailable
from mediagate.core.inputs import canonical_int, check_text
from mediagate.runtime.context import Runtime

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

MAX_FORM_BYTES = 256 * 1024


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def call(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run blocking service code (database, disk, media fetch) off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


_hot_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


async def hot(rt: Runtime, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run blocking code of a hot path (content redirect, media hosts) off the
    event loop, on threads of its own (``MEDIAGATE_HOT_PATH_THREADS``).

    On the loop, one stalled query froze every request of the process,
    ``/healthz`` included. The default threadpool is shared with every other
    route, so a burst there (or a stall of those routes) would starve the hot
    paths; a separate limiter keeps each side's capacity its own."""
    # One limiter per event loop (a server has one; in-process tests make several).
    loop = asyncio.get_running_loop()
    limiter = _hot_limiters.get(loop)
    if limiter is None:
        limiter = _hot_limiters[loop] = anyio.CapacityLimiter(rt.settings.hot_path_threads)
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=limiter)


class _StorePool:
    """One per event loop (a server has one; in-process tests make several).
    ``admit`` holds one token per request starting a store read (its decision
    or first read), with a deadline; ``threads`` are the threads themselves,
    shared by those calls and the chunk reads of downloads already under way
    (each bounded by the store's read deadline)."""

    def __init__(self, size: int) -> None:
        self.admit = anyio.CapacityLimiter(size)
        self.threads = anyio.CapacityLimiter(size)


_store_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _StorePool] = weakref.WeakKeyDictionary()


def _store_pool(rt: Runtime) -> _StorePool:
    loop = asyncio.get_running_loop()
    pool = _store_pools.get(loop)
    if pool is None:
        pool = _store_pools[loop] = _StorePool(rt.settings.store_threads)
    return pool


async def on_store(rt: Runtime, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run blocking code that reads the object store (the media hosts' decision
    and first read) on the store's own threads (``MEDIAGATE_STORE_THREADS``),
    never on the hot paths' nor the default pool's.

    A frozen store holds each call for its deadline (storage/s3.py); with many
    downloads in flight that held every thread they ran on, and the 307s that
    shared them waited for the store to come back. Admission is bounded too: a
    request that finds every store thread busy waits at most
    ``MEDIAGATE_STORE_QUEUE_TIMEOUT`` seconds for one, then fails as the store
    would (503 + Retry-After) instead of queueing for the whole outage."""
    pool = _store_pool(rt)
    try:
        with anyio.fail_after(rt.settings.store_queue_timeout):
            await pool.admit.acquire()
    except TimeoutError:
        # The store's own 503 body: the client cannot tell (nor needs to) which wait ran out.
        raise ServiceUnavailable("Media storage is temporarily unavailable; try again.") from None
    try:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=pool.threads)
    finally:
        pool.admit.release()


async def iterate_on_store(rt: Runtime, chunks: Iterator[T]) -> AsyncIterator[T]:
    """``chunks`` read on the store's threads. A download already under way
    has no queue deadline: each read has the store's own."""
    threads = _store_pool(rt).threads
    while True:
        item = await anyio.to_thread.run_sync(_next, chunks, limiter=threads)
        if item is _DONE:
            return
        yield cast(T, item)


_DONE = object()


def _next(chunks: Iterator[T]) -> T | object:
    return next(chunks, _DONE)


async def form(request: Request) -> FormData:
    length = request.headers.get("content-length")
    if length is not None and (
        (size := canonical_int(length.strip(), max_digits=12)) is None or size > MAX_FORM_BYTES
    ):
        raise BadRequest(f"Request body must be at most {MAX_FORM_BYTES} bytes.", code=20001)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and ctype not in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "",
    ):
        raise BadRequest("Send parameters as application/x-www-form-urlencoded.", code=20001)
    # Content-Length is absent with chunked transfer encoding, so the check above
    # alone let bodies of any size through (up to Starlette's 1 MB per field):
    # count the bytes that actually arrive and stop at the limit. ``request.form``
    # then parses the buffered body (Starlette's stream() replays ``_body``).
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_FORM_BYTES:
            raise BadRequest(f"Request body must be at most {MAX_FORM_BYTES} bytes.", code=20001)
    request._body = bytes(received)
    try:
        data = await request.form(max_files=0, max_fields=200)
    except Exception as exc:
        raise BadRequest("The request body could not be parsed as a form.", code=20001) from exc
    for name, value in data.multi_items():
        check_pair(name, value if isinstance(value, str) else "")
    return data


def check_pair(name: str, value: str) -> None:
    """The one gate for client text (form fields and query parameters): a NUL or
    a lone surrogate in any name or value is a 400 here, before any service
    stores it or PostgreSQL refuses it with a 500."""
    check_text(name, "A parameter name")
    check_text(value, name)


def text_field(data: FormData, name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a text field.", code=20001)
    return value


def query_dict(request: Request) -> dict[str, str]:
    for name, value in request.query_params.multi_items():
        check_pair(name, value)
    return dict(request.query_params)
