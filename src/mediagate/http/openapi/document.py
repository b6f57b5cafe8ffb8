"""The document's assembly: Twilio's copied operations (with the error answers
Twilio's files leave out), ours, the media hosts and the operational endpoints,
as the app's routing table has them."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache

from starlette.routing import BaseRoute, Host, Mount, Route

from mediagate.core.settings import Settings
from mediagate.http.openapi import hosts, ours, testing, twilio
from mediagate.http.openapi.shapes import API_ERRORS, METHODS, Json

# Documented only when the app routes them (another part of the server adds them).
OPTIONAL_PATHS = frozenset({"/readyz", "/metrics"})


def _with_errors(paths: Json) -> Json:
    """Twilio's files list only the success response; we answer errors too."""
    paths = copy.deepcopy(paths)
    for item in paths.values():
        for method in METHODS:
            if method in item:
                for status, response in API_ERRORS.items():
                    item[method]["responses"].setdefault(status, copy.deepcopy(response))
    return paths


def route_paths(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, frozenset[str]]]:
    """Every (path, methods) the routing table answers, Mounts and Hosts flattened;
    the console and static-file mounts are skipped (not API operations)."""
    for route in routes:
        if isinstance(route, Route):
            methods = frozenset(m.lower() for m in (route.methods or ()))
            yield prefix + route.path, methods
        elif isinstance(route, Mount):
            if route.path in ("/console", "/docs/assets") or not route.routes:
                continue
            yield from route_paths(list(route.routes), prefix + route.path)
        elif isinstance(route, Host):
            yield from route_paths(list(route.routes), prefix)


def build(settings: Settings, routes: list[BaseRoute]) -> Json:
    served = {path for path, _ in route_paths(routes)}
    ops = {k: v for k, v in hosts.operational_paths().items() if k not in OPTIONAL_PATHS or k in served}
    subset = twilio.subset()
    theirs, mine = subset["schemas"], ours.schemas()
    clash = theirs.keys() & mine.keys()
    if clash:  # a model named like one of Twilio's schemas would silently replace it
        raise ValueError(f"schema names used by Twilio's files and ours: {sorted(clash)}")
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "mediagate",
            "version": _version(),
            "description": "Twilio's Programmable Messaging media API, self-hosted. Operations copied "
            "from Twilio's OpenAPI files (MIT) where Twilio has them; the media content URL, "
            "error bodies, media hosts and our own resources added. Authenticate with HTTP Basic: "
            "Account SID + Auth Token, or API Key SID + secret. The web console (/console) is "
            "HTML for browsers and not described here.",
            "license": {"name": "MIT"},
        },
        "servers": [{"url": settings.public_url}],
        "security": [{"accountSid_authToken": []}],
        "paths": {
            **_with_errors(subset["paths"]),
            **ours.paths(),
            **ops,
            **hosts.media_host_paths(settings),
            **(testing.paths() if testing.PREFIX + "/Clock" in served else {}),  # test mode only
        },
        "components": {
            "securitySchemes": {
                "accountSid_authToken": {"type": "http", "scheme": "basic"},
                "metricsToken": {"type": "http", "scheme": "bearer"},
                "testModeToken": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {**theirs, **mine},
        },
    }


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mediagate")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0"
