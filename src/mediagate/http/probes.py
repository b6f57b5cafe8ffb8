"""``GET /healthz``, ``GET /readyz`` and ``GET /metrics`` (SPEC 6)."""

from __future__ import annotations

import hmac
import ipaddress

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.core.errors import twilio_error_body
from mediagate.http.common import call, runtime
from mediagate.observability import metrics
from mediagate.observability.health import Readiness

_NO_STORE = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


async def readyz(request: Request) -> Response:
    """200 when this process can serve, 503 naming what fails otherwise. Only
    its own parts decide (observability/health.py); ``?verbose=1`` adds the
    shared dependencies' health (Redis, an S3 store) under ``dependencies``,
    for people and monitors, without changing the status."""
    readiness: Readiness = request.app.state.readiness
    verbose = request.query_params.get("verbose", "0").lower() not in ("0", "false", "no")
    dependencies: dict[str, str] = {}
    if verbose:
        everything = await readiness.report()
        checks = {n: r for n, r in everything.items() if not readiness.is_shared(n)}
        dependencies = {n: r for n, r in everything.items() if readiness.is_shared(n)}
    else:
        checks = await readiness.ready()
    failing = [name for name, result in checks.items() if result != "ok"]
    body: dict[str, object] = {"status": "unavailable" if failing else "ok"}
    if failing:
        body["failing"] = failing
    body["checks"] = checks
    if verbose:
        body["dependencies"] = dependencies
    return JSONResponse(body, status_code=503 if failing else 200, headers=_NO_STORE)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bearer_matches(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    # compare_digest on bytes: constant time in the token's content, and no
    # TypeError on non-ASCII input.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), token.encode("utf-8")
    )


async def metrics_endpoint(request: Request) -> Response:
    """With ``MEDIAGATE_METRICS_TOKEN`` set: that bearer token. Without it: only
    on a loopback bind address and from a loopback client (behind a proxy that
    passes X-Forwarded-For the client is the proxied one, so a front proxy on the
    same host does not expose the metrics by accident)."""
    rt = runtime(request)
    token = rt.settings.metrics_token
    if token:
        if not bearer_matches(request.headers.get("authorization"), token):
            metrics.AUTH_FAILURES.labels("metrics_token").inc()
            return JSONResponse(
                twilio_error_body(20003, "Authenticate", 401),
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="mediagate metrics"', **_NO_STORE},
            )
    elif not (is_loopback(rt.settings.host) and is_loopback(request.client.host if request.client else None)):
        return JSONResponse(
            twilio_error_body(
                20403, "Metrics are served to non-local clients only with MEDIAGATE_METRICS_TOKEN set.", 403
            ),
            status_code=403,
            headers=_NO_STORE,
        )
    collector: metrics.ScrapeTimeCollector = request.app.state.scrape_collector
    body = await call(metrics.render, [collector])
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8", headers=_NO_STORE)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
]
