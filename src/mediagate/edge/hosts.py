"""Routes of the secured and public media hosts on Starlette.

What they answer is decided in ``edge/decide.py``, the same decision the
RSGI fast path (``serving/fast.py``) asks; these routes only read the request,
ask (from memory on the loop first, then off the loop) and send
(``edge/send.py``). The secured host checks the signature and expiry *before*
touching the database or storage, so unsigned traffic costs one HMAC, on the
loop. It never looks at an ``Authorization`` header: clients that forward
credentials across the redirect (``requests`` does on a same-host redirect)
are served normally, where S3 would answer 400.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mediagate.edge import decide
from mediagate.edge.send import send_answer
from mediagate.http.common import on_store, runtime

# The fast path finds its routes by these names (serving/fast.py).
SECURE_ROUTE = "media_host.secure"
PUBLIC_ROUTE = "media_host.public"


def conditions(request: Request) -> decide.Conditions:
    h = request.headers
    return decide.Conditions(h.get("range"), h.get("if-range"), h.get("if-none-match"))


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None  # trusted-proxy resolved (core/proxies.py)


async def secure_object(request: Request) -> Response:
    rt = runtime(request)
    args = (
        rt,
        request.path_params["account_sid"],
        request.path_params["media_sid"],
        request.method,
        # As Starlette reads it for ``query_params``; the fast path has it as text already.
        request.scope["query_string"].decode("latin-1"),
        conditions(request),
        client_of(request),
    )
    answer = decide.secure(*args, memory_only=True)
    if answer is None:
        # Off the loop, on the store's threads (it may stat() the object or send a
        # HEAD to S3): the cache or the database, then the store. Nothing blocks
        # the loop, and a frozen store holds none of the hot paths' threads.
        answer = await on_store(rt, decide.secure, *args, memory_only=False)
    assert answer is not None  # memory_only=False always decides
    return await send_answer(request, answer)


async def public_object(request: Request) -> Response:
    rt = runtime(request)
    args = (
        rt,
        request.path_params["account_sid"],
        request.path_params["media_sid"],
        request.method,
        conditions(request),
        client_of(request),
    )
    answer = decide.public(*args, memory_only=True)
    if answer is None:
        answer = await on_store(rt, decide.public, *args, memory_only=False)
    assert answer is not None  # memory_only=False always decides
    return await send_answer(request, answer)


secure_routes = [
    Route("/{account_sid}/{media_sid}", secure_object, methods=["GET", "HEAD"], name=SECURE_ROUTE)
]
public_routes = [
    Route("/{account_sid}/{media_sid}", public_object, methods=["GET", "HEAD"], name=PUBLIC_ROUTE)
]
