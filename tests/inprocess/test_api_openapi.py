"""The OpenAPI document and the routes, with the app in process (tests/support/api_inprocess.py):
every route has an operation and every operation a route, Twilio's shapes kept, the copied
subset fresh. Moved from tests/e2e/test_openapi.py with the assertions unchanged. The document
does not depend on the database, so the app runs on SQLite only here; the e2e file still fetches
and validates it, and the docs page, from a real server on each database."""

from __future__ import annotations

import copy
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_spec_validator import validate
from starlette.routing import BaseRoute, Route

from mediagate.core.settings import Settings
from mediagate.http import openapi
from mediagate.http.app import create_app
from mediagate.http.openapi import twilio
from mediagate.http.openapi.shapes import API_ERRORS
from mediagate.runtime.context import build_runtime
from tests.support.api_inprocess import LOCAL_SHAPES, ApiServer, shape_server
from tests.support.oai import oai_file
from tests.support.shapes import shape_id

_PARAM = re.compile(r"\{[^}]+\}")


RunningServer = ApiServer  # the moved tests' annotations


@pytest.fixture(scope="module", params=LOCAL_SHAPES[:1], ids=shape_id)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with shape_server(request, tmp_path_factory) as srv:
        yield srv


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


def test_document_is_valid_openapi_3(server: RunningServer) -> None:
    doc = _document(server)
    validate(doc)  # raises on any violation of the OpenAPI 3.0 schema, dangling $ref, duplicate ids
    assert doc["servers"] == [{"url": server.base_url}]
    assert doc["components"]["securitySchemes"]["accountSid_authToken"] == {"type": "http", "scheme": "basic"}


def test_every_route_has_an_operation_and_every_operation_a_route(server: RunningServer) -> None:
    # The routing table of an app built now, so routes added by any module later are checked too.
    routes = list(create_app(server.runtime).routes)
    assert mismatches(_document(server), routes) == []


def test_the_check_notices_an_undocumented_route_and_a_stale_operation(server: RunningServer) -> None:
    doc = _document(server)
    routes = [*create_app(server.runtime).routes, Route("/v1/Extra/{sid}", lambda r: None, methods=["POST"])]
    del doc["paths"]["/v1/Keys"]["post"]
    doc["paths"]["/v1/Gone"] = {"get": {"responses": {"200": {"description": "x"}}}}
    assert sorted(mismatches(doc, routes)) == [
        "operation /v1/Gone ['get'] has no route",
        "route /v1/Extra/{} ['post'] has no operation",
        "route /v1/Keys ['post'] has no operation",
    ]


def test_twilio_operations_keep_twilios_shapes_and_add_error_bodies(server: RunningServer) -> None:
    doc = _document(server)
    twilio = json.loads(oai_file("twilio_api_v2010.json").read_text())
    create = doc["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]
    assert create["operationId"] == "CreateMessage"
    theirs = twilio["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]
    assert create["requestBody"] == theirs["requestBody"]
    assert create["responses"]["201"] == theirs["responses"]["201"]
    assert (
        doc["components"]["schemas"]["api.v2010.account.message"]
        == (twilio["components"]["schemas"]["api.v2010.account.message"])
    )
    error = {"$ref": "#/components/schemas/mediagate.error"}
    for status in ("400", "401", "404"):
        assert create["responses"][status]["content"]["application/json"]["schema"] == error
    assert (
        "servers" not in doc["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]
    )  # not api.twilio.com


def test_content_url_documents_the_307_and_the_401(server: RunningServer) -> None:
    item = _document(server)["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}"]
    for method in ("get", "head"):
        responses = item[method]["responses"]
        assert "Location" in responses["307"]["headers"]
        assert "401" in responses
        # 200/206/304 only for accounts whose MediaDelivery mode is direct (api/media_direct.py).
        assert "MediaDelivery" in responses["200"]["description"]


def test_the_copied_twilio_subset_is_a_fresh_extraction() -> None:
    committed = json.loads(twilio.subset_file().read_text())
    assert committed == openapi.extract_twilio(oai_file("twilio_api_v2010.json").parent)


def test_the_twilio_half_of_the_document_is_the_copy_plus_error_answers(tmp_path: Path) -> None:
    """Twilio's operations and schemas reach the document unchanged: only the error
    answers Twilio's files leave out are added, and none of our schemas replaces one of theirs."""
    doc, _ = _app_doc(tmp_path)
    copied = twilio.subset()
    for path, item in copied["paths"].items():
        served = copy.deepcopy(doc["paths"][path])
        for method in openapi.METHODS:
            if method in served:
                responses = served[method]["responses"]
                added = set(responses) - set(item[method]["responses"])
                assert added <= set(API_ERRORS), (path, method, added)
                for status in added:
                    assert responses.pop(status) == API_ERRORS[status]
        assert served == item, path
    schemas = doc["components"]["schemas"]
    assert {k: schemas[k] for k in copied["schemas"]} == copied["schemas"]
    assert all(k.startswith("mediagate.") for k in schemas.keys() - copied["schemas"].keys())


def _app_doc(tmp_path: Path, **urls: str) -> tuple[dict[str, Any], list[BaseRoute]]:
    settings = Settings(data_dir=tmp_path, secret_key=secrets.token_hex(32), **urls)  # type: ignore[arg-type]
    rt = build_runtime(settings)
    try:
        app = create_app(rt)
        return openapi.build(settings, list(app.routes)), list(app.routes)
    finally:
        rt.close()


def test_media_host_on_its_own_hostname_is_a_server_of_its_own(tmp_path: Path) -> None:
    doc, routes = _app_doc(
        tmp_path,
        public_url="http://127.0.0.1:8080",
        secure_media_url="http://localhost:8080/media",
        public_media_url="http://public.localhost:8080",
    )
    validate(doc)
    assert mismatches(doc, routes) == []
    assert doc["paths"]["/media/{AccountSid}/{Sid}"]["servers"] == [{"url": "http://localhost:8080"}]
    assert doc["paths"]["/{AccountSid}/{Sid}"]["servers"] == [{"url": "http://public.localhost:8080"}]


def test_optional_operational_routes_are_documented_only_when_routed(tmp_path: Path) -> None:
    doc, routes = _app_doc(tmp_path)
    served = {path for path, _ in openapi.route_paths(routes)}
    for path in openapi.OPTIONAL_PATHS:
        assert (path in doc["paths"]) == (path in served)
    doc = openapi.build(Settings(data_dir=tmp_path), [*routes, Route("/readyz", lambda r: None)])
    assert "/readyz" in doc["paths"]


def test_docs_page_is_served_from_here_under_a_strict_csp(server: RunningServer) -> None:
    r = requests.get(server.base_url + "/docs", timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "<script>" not in r.text  # no inline script: the CSP would block it
    sources = [s for s in re.findall(r'(?:src|href)="([^"]+)"', r.text) if s != "data:,"]  # data:, no favicon
    assert sources and all(s.startswith("/") for s in sources), sources  # no CDN
    for source in sources:
        asset = requests.get(server.base_url + source, timeout=30)
        assert asset.status_code == 200, source
        assert len(asset.content) > 100, source
    bundle = requests.get(server.base_url + "/docs/assets/swagger-ui/swagger-ui-bundle.js", timeout=30)
    assert "SwaggerUIBundle" in bundle.text
