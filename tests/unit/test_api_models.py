"""Our own ``/v1`` forms and bodies are declared once (``api/forms.py``,
``api/representations.py``): the handlers parse and answer with the models and
``/openapi.json`` takes their schemas. These tests keep the three in step
without a server: the document's forms against the models, the handlers'
form reading against the models, and real answers (produced in-process through
the app) against the document."""

from __future__ import annotations

import ast
import base64
import copy
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from starlette.routing import Route

import mediagate.api
from mediagate.accounts import accounts
from mediagate.api import forms
from mediagate.api import representations as rep
from mediagate.api.common import ApiRoute
from mediagate.core.errors import BadRequest
from mediagate.core.settings import Settings
from mediagate.core.timefmt import utcnow
from mediagate.http import openapi
from mediagate.http.app import create_app
from mediagate.http.openapi import ours
from mediagate.http.openapi.components import PREFIX, name_of
from mediagate.http.openapi.shapes import PAGE_PARAMS
from mediagate.media import access_audit
from mediagate.messaging import carrier_credentials, numbers
from mediagate.runtime.context import Runtime, build_runtime
from tests.support.loops import run_fresh

Json = dict[str, Any]
FORM = "application/x-www-form-urlencoded"
PUBLIC_URL = "http://mediagate.test"


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = build_runtime(
        Settings(
            data_dir=tmp_path_factory.mktemp("models"),
            secret_key=secrets.token_hex(32),
            public_url=PUBLIC_URL,
            gc_interval=0,
            number_pool="open",  # the test claims a number itself
        )
    )
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def doc(rt: Runtime) -> Json:
    document = openapi.build(rt.settings, list(create_app(rt).routes))
    validate(document)
    return document


# --- the document's forms are the models' --------------------------------------------------


def _resolve(doc: Json, schema: Json) -> Json:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].removeprefix(PREFIX)]
    return schema


def _form_operations(doc: Json) -> Iterator[tuple[str, Json]]:
    """(``METHOD path``, form schema) of every operation of ours taking a form."""
    for path, item in doc["paths"].items():
        for method in openapi.METHODS:
            body = item.get(method, {}).get("requestBody")
            if body is None or FORM not in body["content"]:
                continue
            schema = body["content"][FORM]["schema"]
            if schema.get("$ref", "").startswith(PREFIX + "mediagate."):
                yield f"{method.upper()} {path}", schema


def form_mismatches(doc: Json) -> list[str]:
    """Every form model documented by exactly one operation, field for field:
    each field the model accepts a property, each property a field, the same required."""
    by_name = {name_of(form): form for form in forms.FORMS}
    seen: dict[str, list[str]] = {name: [] for name in by_name}
    problems = []
    for operation, ref in _form_operations(doc):
        name = ref["$ref"].removeprefix(PREFIX)
        form = by_name.get(name)
        if form is None:
            problems.append(f"{operation}: {name} is no form of api/forms.py")
            continue
        seen[name].append(operation)
        schema = _resolve(doc, ref)
        accepted = {str(f.alias) for f in form.model_fields.values()}
        required = {str(f.alias) for f in form.model_fields.values() if f.is_required()}
        documented = set(schema.get("properties", {}))
        for field in sorted(accepted - documented):
            problems.append(f"{operation}: {field} is accepted but not documented")
        for field in sorted(documented - accepted):
            problems.append(f"{operation}: {field} is documented but not accepted")
        if set(schema.get("required", [])) != required:
            problems.append(
                f"{operation}: required {sorted(schema.get('required', []))} != {sorted(required)}"
            )
    for name, operations in seen.items():
        if len(operations) != 1:
            problems.append(f"{name} is the form of {len(operations)} operations: {operations}")
    return problems


def test_every_form_field_the_code_accepts_is_documented_and_nothing_else(doc: Json) -> None:
    assert form_mismatches(doc) == []


def test_the_form_check_notices_a_missing_an_extra_and_an_orphan_field(doc: Json) -> None:
    schemas = doc["components"]["schemas"]
    changed = {
        **doc,
        "components": {
            **doc["components"],
            "schemas": {
                **schemas,
                "mediagate.media_delivery_update": {"type": "object", "properties": {}},
                "mediagate.iam_key_update": {
                    **schemas["mediagate.iam_key_update"],
                    "properties": {**schemas["mediagate.iam_key_update"]["properties"], "Extra": {}},
                },
            },
        },
    }
    assert form_mismatches(changed) == [
        "POST /v1/Accounts/{AccountSid}/MediaDelivery: Mode is accepted but not documented",
        "POST /v1/Accounts/{AccountSid}/MediaDelivery: required [] != ['Mode']",
        "POST /v1/Keys/{Sid}: Extra is documented but not accepted",
    ]
    without = {**doc, "paths": {k: v for k, v in doc["paths"].items() if k != "/v1/Carrier/Inbound"}}
    assert form_mismatches(without) == ["mediagate.carrier_inbound is the form of 0 operations: []"]


PAGING = {p["name"] for p in PAGE_PARAMS}


def _query_operations(doc: Json) -> Iterator[tuple[str, list[Json]]]:
    """(``METHOD path``, query parameters other than Twilio's paging) of our operations having some."""
    for path in ours.paths():
        for method in openapi.METHODS:
            params = [
                p
                for p in doc["paths"][path].get(method, {}).get("parameters", [])
                if p["in"] == "query" and p["name"] not in PAGING
            ]
            if params:
                yield f"{method.upper()} {path}", params


def query_mismatches(doc: Json) -> list[str]:
    """Each query model documented by exactly one operation, parameter for parameter,
    and each operation of ours with query parameters documented from a model."""
    problems = []
    seen: dict[str, list[str]] = {name_of(q): [] for q in forms.QUERIES}
    for operation, params in _query_operations(doc):
        names = {p["name"] for p in params}
        model = next((q for q in forms.QUERIES if {f.alias for f in q.model_fields.values()} == names), None)
        if model is None:
            problems.append(f"{operation}: query parameters {sorted(names)} are no model of api/forms.py")
            continue
        seen[name_of(model)].append(operation)
        required = {str(f.alias) for f in model.model_fields.values() if f.is_required()}
        if {p["name"] for p in params if p.get("required")} != required:
            problems.append(f"{operation}: required query parameters differ from {sorted(required)}")
    for name, operations in seen.items():
        if len(operations) != 1:
            problems.append(f"{name} is the query of {len(operations)} operations: {operations}")
    return problems


def test_every_query_parameter_the_code_reads_is_documented_and_nothing_else(doc: Json) -> None:
    assert query_mismatches(doc) == []
    keys = copy.deepcopy(doc)
    keys["paths"]["/v1/Keys"]["get"]["parameters"].append({"name": "Extra", "in": "query", "schema": {}})
    assert query_mismatches(keys) == [
        "GET /v1/Keys: query parameters ['AccountSid', 'Extra'] are no model of api/forms.py",
        "mediagate.iam_key_list_query is the query of 0 operations: []",
    ]


# Modules of our own /v1 resources: their forms and queries are read through the models only.
OURS = ("access", "carrier", "iam_keys", "media_delivery", "messaging_settings", "retention")
READS = ("form", "query_dict")


def _unparsed_reads(source: str) -> list[int]:
    """Lines where a handler reads a form or query string (``form(request)``,
    ``query_dict(request)``) for anything but ``forms.parse`` and Twilio's paging
    (``parse_page_request``), directly or through a variable."""
    tree = ast.parse(source)
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    allowed = {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _called(node) in ("forms.parse", "parse_page_request")
        for arg in node.args
    }
    kept: set[str] = set()
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called(node) in READS:
            outer = parents.get(id(node))
            expr = outer if isinstance(outer, ast.Await) else node
            holder = parents.get(id(expr))
            if isinstance(holder, ast.Assign) and [type(t) for t in holder.targets] == [ast.Name]:
                kept.add(ast.unparse(holder.targets[0]))
                continue
            if id(expr) not in allowed:
                lines.append(node.lineno)
    for node in ast.walk(tree):
        loaded = isinstance(node, ast.Name) and node.id in kept and isinstance(node.ctx, ast.Load)
        if loaded and id(node) not in allowed:
            lines.append(node.lineno)
    return sorted(lines)


def _called(call: ast.Call) -> str:
    return ast.unparse(call.func)


def _parsed_models(source: str) -> set[type[forms.Form]]:
    return {
        getattr(forms, node.args[0].attr)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and _called(node) == "forms.parse"
        and isinstance(node.args[0], ast.Attribute)
    }


def test_our_handlers_read_forms_and_queries_only_through_their_models() -> None:
    folder = Path(mediagate.api.__file__).parent
    found = {m: _unparsed_reads((folder / f"{m}.py").read_text()) for m in OURS}
    assert {m: lines for m, lines in found.items() if lines} == {}
    # ... and the check sees reads past the models.
    assert _unparsed_reads("async def h(request):\n    data = await form(request)\n    data.get('X')\n") == [
        3
    ]
    assert _unparsed_reads("async def h(request):\n    q = query_dict(request)\n    q['X']\n") == [3]
    assert _unparsed_reads("async def h(request):\n    return query_dict(request).get('X')\n") == [2]
    assert _unparsed_reads("async def h(request):\n    x = forms.parse(F, await form(request))\n") == []
    assert (
        _unparsed_reads(
            "async def h(r):\n    q = query_dict(r)\n    forms.parse(F, q)\n    parse_page_request(q)\n"
        )
        == []
    )


def test_each_handler_parses_the_models_its_operations_document(rt: Runtime, doc: Json) -> None:
    """The operations of a module's routes document the very models its handlers parse."""
    shape = re.compile(r"\{[^}]+\}")
    by_name = {name_of(m): m for m in (*forms.FORMS, *forms.QUERIES)}
    for module in OURS:
        source = (Path(mediagate.api.__file__).parent / f"{module}.py").read_text()
        served = {
            shape.sub("{}", path)
            for path, endpoint in _endpoints(create_app(rt).routes)
            if endpoint.__module__ == f"mediagate.api.{module}"
        }
        documented: set[type[forms.Form]] = set()
        for path, item in doc["paths"].items():
            if shape.sub("{}", path) not in served:
                continue
            for method in openapi.METHODS:
                operation = item.get(method, {})
                body = operation.get("requestBody", {}).get("content", {}).get(FORM)
                if body is not None:
                    documented.add(by_name[body["schema"]["$ref"].removeprefix(PREFIX)])
                names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"} - PAGING
                documented.update(
                    q for q in forms.QUERIES if names and names == {f.alias for f in q.model_fields.values()}
                )
        assert served, module
        # A model with nothing but the account parameter is read by the route's
        # wrapper (api.common.route, account="parameter"), not by the handler.
        by_wrapper = {
            m for m in documented if m.model_fields.keys() == forms.AccountParameter.model_fields.keys()
        }
        if by_wrapper:
            accounts_from = {
                route.access.account
                for route in create_app(rt).routes
                if isinstance(route, ApiRoute) and route.endpoint.__module__ == f"mediagate.api.{module}"
            }
            assert "parameter" in accounts_from, module
        assert _parsed_models(source) == documented - by_wrapper, module


def _endpoints(routes: list[Any]) -> Iterator[tuple[str, Any]]:
    for route in routes:
        if isinstance(route, Route):
            yield route.path, route.endpoint


# --- the models refuse as the handlers did -------------------------------------------------


@pytest.mark.parametrize(
    ("model", "data", "code", "message"),
    [
        (forms.MediaDeliveryForm, {}, 20001, "Mode is required: redirect or direct."),
        (forms.MediaDeliveryForm, {"Mode": "sideways"}, 20001, "Mode is required: redirect or direct."),
        (forms.MessagingSettingsForm, {}, 20001, "EnforceMediaHttpAuth is required (true or false)."),
        (
            forms.MessagingSettingsForm,
            {"EnforceMediaHttpAuth": "maybe"},
            20001,
            "EnforceMediaHttpAuth must be true or false.",
        ),
        (
            forms.MediaRetentionForm,
            {"Other": "1"},
            20001,
            "Give at least one of DaysAfterCreation, DaysAfterLastAccess, AfterFirstDownload, "
            "AfterWebhookDelivered.",
        ),
        (
            forms.MediaRetentionForm,
            {"DaysAfterLastAccess": "31"},
            20001,
            "DaysAfterLastAccess must be a whole number of days from 1 to 30 (this deployment's maximum), "
            "or empty to clear it.",
        ),
        (
            forms.MediaRetentionForm,
            {"AfterFirstDownload": "x"},
            20001,
            "AfterFirstDownload must be true or false.",
        ),
        (forms.CarrierInboundForm, {"From": "+15550100"}, 21604, "A 'To' phone number is required."),
        (forms.CarrierInboundForm, {"To": "+15550100"}, 21603, "A 'From' phone number is required."),
        (forms.IamKeyCreateForm, {}, 20001, "AccountSid is required: AC followed by 32 hex digits."),
        (
            forms.IamKeyCreateForm,
            {"AccountSid": "AC" + "0" * 32 + "\n"},
            20001,
            "AccountSid is required: AC followed by 32 hex digits.",
        ),
        (
            forms.IamKeyCreateForm,
            {"AccountSid": "AC" + "0" * 32, "KeyType": "main"},
            20001,
            "KeyType must be restricted (or omitted for a standard key).",
        ),
        (
            forms.IamKeyCreateForm,
            {"AccountSid": "AC" + "0" * 32, "Policy": '{"allow": []}'},
            20001,
            "Only restricted keys carry a Policy: send KeyType=restricted.",
        ),
    ],
)
def test_refusals_keep_their_twilio_codes_and_messages(
    model: type[forms.Form], data: dict[str, str], code: int, message: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        forms.parse(model, data, retention_max_days=30)
    assert (refused.value.code, refused.value.message) == (code, message)


def test_forms_parse_twilio_spellings() -> None:
    assert forms.parse(forms.MediaDeliveryForm, {"Mode": " Direct "}).mode == "direct"
    assert forms.parse(forms.MessagingSettingsForm, {"EnforceMediaHttpAuth": "on"}).enforce_media_http_auth
    change = forms.parse(
        forms.MediaRetentionForm,
        {"DaysAfterCreation": "", "AfterWebhookDelivered": "no"},
        retention_max_days=0,
    ).change()
    assert (change.days_after_creation, change.days_after_last_access) == (0, None)  # empty clears
    assert (change.after_first_download, change.after_webhook_delivered) == (None, False)
    key = forms.parse(forms.IamKeyCreateForm, {"AccountSid": "AC" + "a" * 32, "KeyType": ""})
    assert (key.key_type, key.policy, key.friendly_name) == ("standard", None, None)


# --- real answers match the document -------------------------------------------------------


@dataclass
class Answer:
    method: str
    path: str  # as documented
    status: int
    body: Any


class _Client:
    """Requests through the app in-process (httpx.ASGITransport), recording each answer."""

    def __init__(self, rt: Runtime, user: str, password: str) -> None:
        self.app = create_app(rt)
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.answers: list[Answer] = []

    def send(self, method: str, url: str, documented: str, data: dict[str, str] | None = None) -> Any:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
                return await client.request(method, url, data=data, headers={"Authorization": self.auth})

        response = run_fresh(go)
        assert response.headers["content-type"].startswith("application/json"), response.text
        self.answers.append(Answer(method.lower(), documented, response.status_code, response.json()))
        return response.json()


def _schema_of(doc: Json, answer: Answer) -> Json:
    responses = doc["paths"][answer.path][answer.method]["responses"]
    found: Json = responses[str(answer.status)]["content"]["application/json"]["schema"]
    return found


def _mismatch(doc: Json, answer: Answer) -> list[str]:
    # The document's components beside the schema, so its "#/components/..." references resolve.
    validator = OAS30Validator({"allOf": [_schema_of(doc, answer)], "components": doc["components"]})
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(answer.body)]


@pytest.fixture(scope="module")
def answers(rt: Runtime) -> list[Answer]:
    made = accounts.create(rt, "models")
    sid = made.account.sid
    client = _Client(rt, sid, made.auth_token)
    acct = f"/v1/Accounts/{sid}"

    for path, form in (
        ("MessagingSettings", {"EnforceMediaHttpAuth": "true"}),
        ("MediaDelivery", {"Mode": "direct"}),
        ("MediaRetention", {"DaysAfterCreation": "30", "AfterFirstDownload": "true"}),
    ):
        documented = f"/v1/Accounts/{{AccountSid}}/{path}"
        client.send("GET", f"{acct}/{path}", documented)
        client.send("POST", f"{acct}/{path}", documented, form)
    client.send("POST", f"{acct}/MediaDelivery", "/v1/Accounts/{AccountSid}/MediaDelivery", {"Mode": "no"})
    client.send("POST", f"{acct}/MediaRevocations", "/v1/Accounts/{AccountSid}/MediaRevocations")

    media_sid = "ME" + secrets.token_hex(16)
    access_audit.write(
        rt, [access_audit.Event(utcnow(), "api", sid, media_sid, "GET", "auth_token", None, True, "ok", None)]
    )
    events = client.send("GET", f"{acct}/MediaAccessEvents", "/v1/Accounts/{AccountSid}/MediaAccessEvents")
    assert len(events["media_access_events"]) == 1

    # An inbound message to a number with a webhook: a delivery to list (none is sent in-process).
    numbers.create(rt, sid, {"PhoneNumber": "+15005550006", "SmsUrl": "http://hooks.test/in"}, actor="test")
    carrier = carrier_credentials.create(rt, "models")
    ingress = _Client(rt, carrier.credential.sid, carrier.secret)
    inbound = {"To": "+15005550006", "From": "+15005550001", "Body": "hello"}
    ingress.send("POST", "/v1/Carrier/Inbound", "/v1/Carrier/Inbound", inbound)
    ingress.send("POST", "/v1/Carrier/Inbound", "/v1/Carrier/Inbound", {"Body": "no To"})
    client.answers += ingress.answers
    hooks = client.send("GET", f"{acct}/WebhookDeliveries", "/v1/Accounts/{AccountSid}/WebhookDeliveries")
    assert len(hooks["webhook_deliveries"]) == 1

    new = client.send(
        "POST",
        "/v1/Keys",
        "/v1/Keys",
        {
            "AccountSid": sid,
            "KeyType": "restricted",
            "Policy": '{"allow": ["/twilio/messaging/messages/read"]}',
        },
    )
    client.send("GET", f"/v1/Keys?AccountSid={sid}&PageSize=1", "/v1/Keys")
    client.send("GET", f"/v1/Keys/{new['sid']}", "/v1/Keys/{Sid}")
    client.send("POST", f"/v1/Keys/{new['sid']}", "/v1/Keys/{Sid}", {"FriendlyName": "renamed"})
    return client.answers


def test_real_answers_match_the_documented_schemas(doc: Json, answers: list[Answer]) -> None:
    statuses = [(a.method, a.path, a.status) for a in answers]
    assert ("post", "/v1/Accounts/{AccountSid}/MediaDelivery", 400) in statuses, statuses
    assert all(s < 500 for *_, s in statuses), answers
    problems = {f"{a.method} {a.path} {a.status}": _mismatch(doc, a) for a in answers}
    assert {k: v for k, v in problems.items() if v} == {}


def test_the_schema_check_notices_a_missing_and_an_extra_property(doc: Json, answers: list[Answer]) -> None:
    settings = next(a for a in answers if a.path.endswith("/MessagingSettings"))
    body = dict(settings.body)
    del body["url"]
    body["extra"] = 1
    problems = _mismatch(doc, Answer(settings.method, settings.path, settings.status, body))
    assert len(problems) == 2, problems
    assert any("'url' is a required property" in p for p in problems), problems


def test_every_body_of_ours_is_answered_by_some_operation(doc: Json, answers: list[Answer]) -> None:
    """Each response model the document holds was produced above at least once
    (error bodies aside: the media hosts' are another transport's)."""
    answered = {_schema_of(doc, a).get("$ref", "").removeprefix(PREFIX) for a in answers}
    declared = {name_of(m) for m in rep.RESOURCES} - {name_of(rep.MediaHostError)}
    assert declared - answered == set()
