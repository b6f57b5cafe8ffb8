"""Building blocks every part of the document shares: path parameters, JSON
and form bodies, operations, and the Twilio error answers every API operation
can give."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from mediagate.api.representations import TwilioError
from mediagate.http.openapi.components import ref

Json = dict[str, Any]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
SID_PATTERN = "^{}[0-9a-fA-F]{{32}}$"


def sid(prefix: str) -> Json:
    return {"type": "string", "minLength": 34, "maxLength": 34, "pattern": SID_PATTERN.format(prefix)}


def path_param(name: str, prefix: str, what: str) -> Json:
    return {"name": name, "in": "path", "required": True, "description": what, "schema": sid(prefix)}


def json_body(schema: Json, description: str) -> Json:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def answer(model: type[BaseModel], description: str) -> Json:
    """A JSON response holding ``model``."""
    return json_body(ref(model), description)


def form_body(model: type[BaseModel]) -> Json:
    """A request body holding the form ``model`` (``api/forms.py``)."""
    return {"content": {FORM: {"schema": ref(model)}}}


def op(operation_id: str, summary: str, responses: Json, **extra: Any) -> Json:
    return {"operationId": operation_id, "summary": summary, "responses": responses, **extra}


# Every API operation can answer these with Twilio's error body.
API_ERRORS: Json = {
    "400": answer(TwilioError, "Invalid parameters (Twilio error body; nothing was stored)."),
    "401": {
        **answer(TwilioError, "Missing or wrong credentials (code 20003)."),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    "403": answer(
        TwilioError, "The credential may not do this (e.g. a restricted key without the permission)."
    ),
    "404": answer(TwilioError, "No such resource for this account (code 20404)."),
}

PAGE_PARAMS: list[Json] = [
    {"name": "PageSize", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {"name": "Page", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    {"name": "PageToken", "in": "query", "schema": {"type": "string"}},
]
