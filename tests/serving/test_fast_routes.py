"""The fast path finds its routes by name, wherever they sit in the route lists."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount

from mediagate.api.media import CONTENT_ROUTE
from mediagate.edge.hosts import PUBLIC_ROUTE, SECURE_ROUTE
from mediagate.http.app import create_app
from mediagate.observability.middleware import route_templates
from mediagate.runtime.context import Runtime
from mediagate.serving.fast import FastPaths, named_templates


def _reordered(routes: list[BaseRoute]) -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for route in reversed(routes):
        if isinstance(route, Mount):
            route = Mount(route.path, routes=list(reversed(route.routes)), name=route.name)
        out.append(route)
    return out


def test_fast_routes_are_found_by_name(runtime: Runtime) -> None:
    app = create_app(runtime)
    fast = FastPaths(app)
    assert fast.content_route == "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"
    secure, public = fast.hosts
    assert secure.route == "/_media/secure/{account_sid}/{media_sid}" and secure.secure
    assert public.route == "/_media/public/{account_sid}/{media_sid}" and not public.secure
    # Spelt as the access line and the metrics spell the same routes.
    assert set(route_templates(app.routes).values()) >= {fast.content_route, secure.route, public.route}
    # Reordering the route lists changes nothing.
    again = named_templates(_reordered(list(app.routes)))
    found = (again[CONTENT_ROUTE], again[SECURE_ROUTE], again[PUBLIC_ROUTE])
    assert found == (fast.content_route, secure.route, public.route)
