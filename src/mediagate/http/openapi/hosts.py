"""What is served beside the API: the media hosts (signed and public URLs,
described where the settings put them) and the operational endpoints (probes,
metrics, this document)."""

from __future__ import annotations

import copy
from urllib.parse import urlsplit

from mediagate.api.representations import MediaHostError
from mediagate.core.settings import Settings
from mediagate.http.openapi.shapes import Json, answer, json_body, op, path_param


def operational_paths() -> Json:
    """Unauthenticated endpoints for operators and tools."""
    status = {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}
    return {
        "/healthz": {
            "get": op(
                "FetchHealth",
                "Liveness: the process answers",
                {"200": json_body(status, "Alive")},
                security=[],
            )
        },
        "/readyz": {
            "get": op(
                "FetchReadiness",
                "Readiness of this process: its database connection, free space on the volumes it "
                "writes, a local store's write. Shared dependencies (Redis, an S3 store) never make it "
                "fail; ?verbose=1 adds their health under dependencies",
                {
                    "200": json_body({"type": "object"}, "Ready"),
                    "503": json_body({"type": "object"}, "Not ready: the body names the failing part"),
                },
                security=[],
            )
        },
        "/metrics": {
            "get": op(
                "FetchMetrics",
                "Prometheus metrics: open on a loopback bind without MEDIAGATE_METRICS_TOKEN, "
                "otherwise behind that bearer token",
                {
                    "200": {
                        "description": "Prometheus text exposition",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    # Bodies left open: the metrics endpoint is not part of Twilio's API.
                    "401": {"description": "A token is required and was missing or wrong"},
                    "403": {"description": "Metrics are not served to this client"},
                },
                security=[{}, {"metricsToken": []}],
            )
        },
        "/openapi.json": {
            "get": op(
                "FetchOpenApi",
                "This document",
                {"200": json_body({"type": "object"}, "OpenAPI 3 document")},
                security=[],
            )
        },
        "/docs": {
            "get": op(
                "FetchApiDocs",
                "This document rendered by Swagger UI (served from this server, no CDN)",
                {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}},
                security=[],
            )
        },
    }


def _edge_item(secure: bool) -> Json:
    host_error = answer(MediaHostError, "")
    err = {
        "403": {**host_error, "description": "Bad, expired or retired signature (checked first)"},
        "404": {**host_error, "description": "No such media, deleted, or (public host) auth required"},
    }
    if not secure:
        err.pop("403")
    ok = {
        "description": "The bytes, with Content-Type, ETag, Content-Disposition; Range is supported",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    }
    responses = {
        "200": ok,
        "206": {**ok, "description": "A byte range"},
        "304": {"description": "Not modified (If-None-Match)"},
        "416": {"description": "Range not satisfiable"},
        **err,
    }
    params: list[Json] = [
        path_param("AccountSid", "AC", "The media's account."),
        path_param("Sid", "ME", "The media."),
    ]
    if secure:
        params += [
            {"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
            for n in ("Expires", "Signature", "Key-Pair-Id")
        ]
        params.append(
            {
                "name": "Issued",
                "in": "query",
                "description": "Issue time (epoch ms, signed): early revocation voids URLs issued before it",
                "schema": {"type": "string"},
            }
        )
        params.append(
            {
                "name": "Download",
                "in": "query",
                "description": "1: Content-Disposition attachment (unsigned: it only makes answers safer)",
                "schema": {"type": "string", "enum": ["1"]},
            }
        )
    what = "secured" if secure else "public"
    item: Json = {
        "description": (
            "The secured media host: signed, expiring URLs (HMAC-SHA256 over path, expiry and key id); "
            "never reads an Authorization header."
            if secure
            else "The public media host: legacy media created before Enforce HTTP Auth, no auth."
        ),
        "parameters": params,
    }
    for method in ("get", "head"):
        item[method] = op(
            f"{'Fetch' if method == 'get' else 'Head'}{what.title()}MediaObject",
            f"The {what} media host",
            copy.deepcopy(responses),
            security=[],
        )
    return item


def media_host_paths(settings: Settings) -> Json:
    api = urlsplit(settings.public_url)
    paths: Json = {}
    for base, secure in ((settings.secure_media_url, True), (settings.public_media_url, False)):
        edge = urlsplit(base)
        item = _edge_item(secure)
        if edge.hostname != api.hostname:
            # Routed by Host header (app._edge_route): a server of its own.
            item["servers"] = [{"url": f"{edge.scheme}://{edge.netloc}"}]
        key = f"{edge.path}/{{AccountSid}}/{{Sid}}"
        if key in paths:
            # Both hosts on hostnames of their own without a path: one path item
            # cannot tell them apart, so it lists both servers.
            paths[key]["servers"] += item.get("servers", [])
        else:
            paths[key] = item
    return paths
