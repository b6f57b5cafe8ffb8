"""``/openapi.json`` and ``/docs`` from the real server on each database: the document is valid
OpenAPI 3 naming this server, and the docs page is served from here under a strict CSP. What the
document holds (every route, Twilio's shapes, the copied subset) is checked with the app in
process: tests/inprocess/test_api_openapi.py."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest
import requests
from starlette.routing import BaseRoute

from mediagate.core.settings import Settings
from mediagate.http import openapi
from mediagate.http.app import create_app
from mediagate.runtime.context import build_runtime

# Collected here too: the in-process tier's bodies, answered by this file's real server
# (granian, the fast path, another process) on each database. One body, two tiers.
from tests.inprocess.test_api_openapi import (  # noqa: F401
    test_docs_page_is_served_from_here_under_a_strict_csp,
    test_document_is_valid_openapi_3,
)
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e

_PARAM = re.compile(r"\{[^}]+\}")


def _shape(path: str) -> str:
    """Compare paths by shape: Twilio names path parameters ``{AccountSid}``, our routes ``{account_sid}``."""
    return _PARAM.sub("{}", path)


def mismatches(doc: dict[str, Any], routes: list[BaseRoute]) -> list[str]:
    """Every route an operation and every operation a route, method by method.
    HEAD is implicit on every GET route (Starlette), so it is optional in the document."""
    routed: dict[str, set[str]] = {}
    for path, answered in openapi.route_paths(routes):
        routed.setdefault(_shape(path), set()).update(answered)
    documented: dict[str, set[str]] = {}
    for path, item in doc["paths"].items():
        documented.setdefault(_shape(path), set()).update(m for m in openapi.METHODS if m in item)
    problems = []
    for path, methods in routed.items():
        missing = methods - documented.get(path, set()) - {"head"}
        if missing:
            problems.append(f"route {path} {sorted(missing)} has no operation")
    for path, methods in documented.items():
        extra = methods - routed.get(path, set())
        if extra:
            problems.append(f"operation {path} {sorted(extra)} has no route")
    return problems


def _document(server: RunningServer) -> dict[str, Any]:
    r = requests.get(server.base_url + "/openapi.json", timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = r.json()
    return doc


def _app_doc(tmp_path: Path, **urls: str) -> tuple[dict[str, Any], list[BaseRoute]]:
    settings = Settings(data_dir=tmp_path, secret_key=secrets.token_hex(32), **urls)  # type: ignore[arg-type]
    rt = build_runtime(settings)
    try:
        app = create_app(rt)
        return openapi.build(settings, list(app.routes)), list(app.routes)
    finally:
        rt.close()
