"""``/openapi.json`` and ``/docs``: the API described (``mediagate.http.openapi``) and
rendered by a vendored Swagger UI (npm ``swagger-ui-dist``, see
``apidocs/swagger-ui/VERSION``), so the page works offline and under a strict
CSP: no CDN, no inline script."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from mediagate.api.common import public
from mediagate.http import openapi
from mediagate.http.common import runtime

ASSETS = Path(str(resources.files("mediagate").joinpath("apidocs")))

# Swagger UI sets style attributes from its scripts, hence 'unsafe-inline' for
# styles only; scripts come from this server alone.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mediagate API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/docs/assets/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-url="/openapi.json"></div>
<noscript>This page needs JavaScript; the document is at <a href="/openapi.json">/openapi.json</a>.
</noscript>
<script src="/docs/assets/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs.js"></script>
</body>
</html>
"""


def document(request: Request) -> dict[str, Any]:
    """Built once per app from its routing table as it stands when first asked for."""
    cached: dict[str, Any] | None = getattr(request.app.state, "openapi", None)
    if cached is None:
        cached = openapi.build(runtime(request).settings, list(request.app.routes))
        request.app.state.openapi = cached
    return cached


async def openapi_json(request: Request) -> Response:
    return JSONResponse(document(request), headers={"Cache-Control": "no-cache"})


async def docs(request: Request) -> Response:
    return HTMLResponse(
        PAGE, headers={"Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff"}
    )


routes: list[BaseRoute] = [
    public("/openapi.json", openapi_json, ["GET"], why="the API's description, for anyone"),
    public("/docs", docs, ["GET"], why="the API's description, for anyone"),
    Mount("/docs/assets", app=StaticFiles(directory=ASSETS), name="apidocs-assets"),
]
