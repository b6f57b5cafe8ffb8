"""Trailing-slash redirects built from ``MEDIAGATE_PUBLIC_URL``, never from ``Host``.

Starlette's ``Router(redirect_slashes=True)`` answers ``/console`` with a
redirect to ``/console/`` whose ``Location`` it builds from the request's
``Host`` header, so ``Host: evil.example`` made us send clients to
``http://evil.example/...`` (a poisoned cache or a proxy that passes Host
through turns that into an open redirect). ``install`` turns the redirect off
in every router of the app and puts this one in its place, on the API's own
configured origin.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Host, Match, Mount, Router
from starlette.types import Receive, Scope, Send


def _routers(routes: list[BaseRoute]) -> list[Router]:
    found: list[Router] = []
    for route in routes:
        inner = route.app if isinstance(route, Mount | Host) else None
        if isinstance(inner, Router):
            found.append(inner)
            found.extend(_routers(inner.routes))
    return found


def install(app: Starlette, public_url: str) -> None:
    parts = urlsplit(public_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    router = app.router
    for each in (router, *_routers(router.routes)):
        each.redirect_slashes = False

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path not in ("", "/"):
            other = path.rstrip("/") if path.endswith("/") else path + "/"
            probe = {**scope, "path": other}
            # Host routes (media hosts on their own hostnames) are not the API's: never redirect there.
            if any(
                route.matches(probe)[0] is not Match.NONE
                for route in router.routes
                if not isinstance(route, Host)
            ):
                query = scope.get("query_string", b"").decode("latin-1")
                # ``path`` already holds any root_path (Starlette's convention).
                location = origin + quote(other) + (f"?{query}" if query else "")
                await RedirectResponse(location, status_code=307)(scope, receive, send)
                return
        await router.not_found(scope, receive, send)

    router.default = default
