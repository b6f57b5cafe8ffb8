"""The OpenAPI 3 document served at ``/openapi.json`` (and rendered at ``/docs``).

Two halves:

* Twilio's own operations, for the resources we implement, copied from
  Twilio's OpenAPI files (MIT, ``twilio-oai``) into ``apidocs/twilio_subset.json``
  by ``python -m mediagate.openapi extract DIR`` (a test keeps the copy equal to
  a fresh extraction). Copying at build time keeps the runtime free of a path to
  Twilio's 10 MB files; copying, not rewriting, keeps the shapes Twilio's.
* What Twilio's files omit, written here: the media content URL (307/401), the
  error bodies every operation can answer, our own resources (MessagingSettings,
  WebhookDeliveries, the carrier ingress, IAM v1 keys), the media hosts and the
  operational endpoints.

The document is built from the app's routing table the first time it is asked
for: optional operations (``/readyz``, ``/metrics``) appear only when a route
serves them, and the media hosts are described where the settings put them (a
path prefix of the API, or a hostname of their own via a path-level
``servers``). ``tests/e2e/test_openapi.py`` checks that every route has an
operation and every operation a route. The console is HTML for browsers and is
left out (see ``info.description``).
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.routing import BaseRoute, Host, Mount, Route

from mediagate.settings import Settings

Json = dict[str, Any]

# The Twilio operations we implement, by file, path and method.
TWILIO_OPERATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "twilio_api_v2010.json": {
        "/2010-04-01/Accounts.json": ("get", "post"),
        "/2010-04-01/Accounts/{Sid}.json": ("get", "post"),
        "/2010-04-01/Accounts/{AccountSid}/Messages.json": ("get", "post"),
        "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json": ("get", "delete"),
        "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json": ("get",),
        "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}.json": ("get", "delete"),
        "/2010-04-01/Accounts/{AccountSid}/Keys.json": ("get", "post"),
        "/2010-04-01/Accounts/{AccountSid}/Keys/{Sid}.json": ("get", "post", "delete"),
        "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json": ("get", "post"),
        "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json": ("get", "post", "delete"),
    },
    "twilio_accounts_v1.json": {
        "/v1/AuthTokens/Secondary": ("post", "delete"),
        "/v1/AuthTokens/Promote": ("post",),
    },
}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SUBSET = "twilio_subset.json"


# --- build time: copy Twilio's operations -------------------------------------------------


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _relative_uris(node: Any) -> Any:
    """Twilio's files say ``format: uri`` for the v2010 page links (``uri``,
    ``first_page_uri``, ...) and for webhook URLs (``sms_url``, ...), but Twilio
    answers page links relative to its host (as its own examples in the same
    files show; twilio-python relies on it) and ``""`` for a webhook URL that is
    not set. So do we; ``uri-reference`` admits both (found by schemathesis)."""
    if isinstance(node, dict):
        if node.get("format") == "uri" and node.get("type") == "string":
            return {**node, "format": "uri-reference"}
        return {k: _relative_uris(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_relative_uris(v) for v in node]
    return node


def extract_twilio(folder: Path) -> Json:
    """The chosen operations and every schema they reference, transitively."""
    paths: Json = {}
    schemas: Json = {}
    for name, wanted in TWILIO_OPERATIONS.items():
        spec = json.loads((folder / name).read_text())
        found = spec["components"]["schemas"]
        for path, methods in wanted.items():
            item = spec["paths"][path]
            # Path-level servers point at api.twilio.com; ours come from the settings.
            kept = {k: v for k, v in item.items() if k not in METHODS and k != "servers"}
            for method in methods:
                operation = dict(item[method])
                if "v2010" in name:  # responses only: requests keep Twilio's stricter format
                    operation["responses"] = _relative_uris(operation["responses"])
                kept[method] = operation
            paths[path] = kept
        pending = list(_refs([paths[p] for p in wanted]))
        while pending:
            ref = pending.pop()
            prefix = "#/components/schemas/"
            if not ref.startswith(prefix):
                raise ValueError(f"{name}: unexpected reference {ref}")
            key = ref.removeprefix(prefix)
            if key not in schemas:
                schemas[key] = _relative_uris(found[key]) if "v2010" in name else found[key]
                pending.extend(_refs(found[key]))
    return {
        "source": "https://github.com/twilio/twilio-oai (MIT), operations mediagate implements",
        "paths": paths,
        "schemas": dict(sorted(schemas.items())),
    }


def _subset() -> Json:
    text = resources.files("mediagate").joinpath("apidocs", SUBSET).read_text()
    subset: Json = json.loads(text)
    return subset


# --- run time: our additions ---------------------------------------------------------------

_JSON = "application/json"
SID_PATTERN = "^{}[0-9a-fA-F]{{32}}$"


def _sid(prefix: str) -> Json:
    return {"type": "string", "minLength": 34, "maxLength": 34, "pattern": SID_PATTERN.format(prefix)}


def _path_param(name: str, prefix: str, what: str) -> Json:
    return {"name": name, "in": "path", "required": True, "description": what, "schema": _sid(prefix)}


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Json, description: str) -> Json:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _error(description: str) -> Json:
    return _json(_ref("mediagate.error"), description)


# Every API operation can answer these with Twilio's error body.
API_ERRORS: Json = {
    "400": _error("Invalid parameters (Twilio error body; nothing was stored)."),
    "401": {
        **_error("Missing or wrong credentials (code 20003)."),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    "403": _error("The credential may not do this (e.g. a restricted key without the permission)."),
    "404": _error("No such resource for this account (code 20404)."),
}

_FORM = "application/x-www-form-urlencoded"
_PAGE_PARAMS: list[Json] = [
    {"name": "PageSize", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {"name": "Page", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    {"name": "PageToken", "in": "query", "schema": {"type": "string"}},
]


def _form_body(properties: Json, required: list[str] | None = None) -> Json:
    schema: Json = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {"content": {_FORM: {"schema": schema}}}


def _twilio_list(key: str, item: Json) -> Json:
    """Twilio's v2010 list envelope (``paging.envelope``)."""
    uri = {"type": "string"}
    nullable_uri = {"type": "string", "nullable": True}
    return {
        "type": "object",
        "properties": {
            key: {"type": "array", "items": item},
            "end": {"type": "integer"},
            "first_page_uri": uri,
            "next_page_uri": nullable_uri,
            "previous_page_uri": nullable_uri,
            "page": {"type": "integer"},
            "page_size": {"type": "integer"},
            "start": {"type": "integer"},
            "uri": uri,
        },
        "required": [key, "first_page_uri", "next_page_uri", "page", "page_size", "uri"],
    }


def _schemas() -> Json:
    nullable_str = {"type": "string", "nullable": True}
    date = {"type": "string", "description": "RFC 2822, as Twilio's v2010 dates"}
    iso = {"type": "string", "nullable": True, "description": "ISO 8601"}
    attempt = {
        "type": "object",
        "properties": {
            "number": {"type": "integer"},
            "status_code": {"type": "integer", "nullable": True},
            "error": nullable_str,
            "duration_ms": {"type": "integer", "nullable": True},
            "date_created": iso,
        },
    }
    iam_key = {
        "type": "object",
        "properties": {
            "sid": _sid("SK"),
            "friendly_name": nullable_str,
            "date_created": date,
            "date_updated": date,
            "policy": {"type": "object", "nullable": True, "description": "Restricted keys' permissions"},
            "url": {"type": "string"},
            "secret": {"type": "string", "description": "Only in the response that creates the key"},
        },
        "required": ["sid", "friendly_name", "date_created", "date_updated", "url"],
    }
    return {
        "mediagate.error": {
            "type": "object",
            "description": "Twilio's error body, as twilio-python's TwilioRestException parses it.",
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "more_info": {"type": "string"},
                "status": {"type": "integer"},
            },
            "required": ["code", "message", "more_info", "status"],
        },
        "mediagate.media_host_error": {
            "type": "object",
            "description": "The media hosts' error body. Twilio's media hosts are object stores "
            "with their own (XML) errors, so this is not Twilio's API error body either.",
            "properties": {
                "status": {"type": "integer"},
                "reason": {"type": "string", "description": "e.g. expired, bad_signature, not_found"},
                "message": {"type": "string"},
            },
            "required": ["status", "reason", "message"],
        },
        "mediagate.messaging_settings": {
            "type": "object",
            "properties": {
                "account_sid": _sid("AC"),
                "enforce_media_http_auth": {"type": "boolean"},
                "date_updated": {"type": "string", "nullable": True},
                "url": {"type": "string"},
            },
            "required": ["account_sid", "enforce_media_http_auth", "date_updated", "url"],
        },
        "mediagate.media_delivery": {
            "type": "object",
            "properties": {
                "account_sid": _sid("AC"),
                "mode": {"type": "string", "enum": ["redirect", "direct"]},
                "date_updated": {"type": "string"},
                "url": {"type": "string"},
            },
            "required": ["account_sid", "mode", "date_updated", "url"],
        },
        "mediagate.media_retention": {
            "type": "object",
            "description": "An account's retention rule (ours; docs/retention.md). Any condition that "
            "is set deletes the media; null/false = that condition is off.",
            "properties": {
                "account_sid": _sid("AC"),
                "days_after_creation": {"type": "integer", "nullable": True},
                "days_after_last_access": {"type": "integer", "nullable": True},
                "after_first_download": {"type": "boolean"},
                "after_webhook_delivered": {"type": "boolean"},
                "effective_days_after_creation": {
                    "type": "integer",
                    "nullable": True,
                    "description": "The account's days, else the deployment default; capped by the maximum",
                },
                "deployment_default_days": {"type": "integer", "nullable": True},
                "deployment_max_days": {"type": "integer", "nullable": True},
                "date_created": {"type": "string", "nullable": True},
                "date_updated": {"type": "string", "nullable": True},
                "url": {"type": "string"},
            },
            "required": [
                "account_sid",
                "days_after_creation",
                "days_after_last_access",
                "after_first_download",
                "after_webhook_delivered",
                "effective_days_after_creation",
                "deployment_default_days",
                "deployment_max_days",
                "date_created",
                "date_updated",
                "url",
            ],
        },
        "mediagate.revocation": {
            "type": "object",
            "properties": {
                "account_sid": _sid("AC"),
                "media_sid": {**_sid("ME"), "nullable": True},
                "scope": {"type": "string", "enum": ["media", "account"]},
                "revoked_before": {"type": "string", "description": "ISO 8601, milliseconds"},
                "objects_moved": {
                    "type": "integer",
                    "description": "presign delivery: objects moved to a new key",
                },
                "url": {"type": "string"},
            },
            "required": ["account_sid", "scope", "revoked_before", "objects_moved", "url"],
        },
        "mediagate.media_access_event": {
            "type": "object",
            "properties": {
                "sid": _sid("AE"),
                "account_sid": _sid("AC"),
                "media_sid": _sid("ME"),
                "host": {"type": "string", "enum": ["api", "secure", "public"]},
                "method": {"type": "string"},
                "credential_kind": {"type": "string"},
                "credential_sid": nullable_str,
                "allowed": {"type": "boolean"},
                "reason": {"type": "string"},
                "client_ip": nullable_str,
                "count": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Identical accesses (every other field) in one second, as one event.",
                },
                "date_created": {**iso, "description": "The first of the counted accesses."},
                "date_updated": {**iso, "description": "The last of the counted accesses."},
                "url": {"type": "string"},
            },
        },
        "mediagate.webhook_delivery": {
            "type": "object",
            "properties": {
                "sid": {"type": "string"},
                "account_sid": _sid("AC"),
                "message_sid": nullable_str,
                "kind": {"type": "string", "description": "inbound or status_callback"},
                "url": {"type": "string"},
                "method": {"type": "string"},
                "params": {"type": "object", "additionalProperties": {"type": "string"}},
                "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                "attempts": {"type": "integer"},
                "max_attempts": {"type": "integer"},
                "next_attempt_at": iso,
                "last_status_code": {"type": "integer", "nullable": True},
                "last_error": nullable_str,
                "date_created": iso,
                "date_updated": iso,
                "attempt_log": {"type": "array", "items": attempt},
            },
            "required": ["sid", "account_sid", "kind", "url", "method", "status", "attempt_log"],
        },
        "mediagate.iam_key": iam_key,
        "mediagate.iam_key_list": {
            "type": "object",
            "properties": {
                "keys": {"type": "array", "items": {"type": "object"}},
                "meta": {
                    "type": "object",
                    "properties": {
                        "page": {"type": "integer"},
                        "page_size": {"type": "integer"},
                        "first_page_url": {"type": "string"},
                        "previous_page_url": nullable_str,
                        "url": {"type": "string"},
                        "next_page_url": nullable_str,
                        "key": {"type": "string"},
                    },
                },
            },
            "required": ["keys", "meta"],
        },
    }


def _op(operation_id: str, summary: str, responses: Json, **extra: Any) -> Json:
    return {"operationId": operation_id, "summary": summary, "responses": responses, **extra}


ACCOUNT = _path_param("AccountSid", "AC", "The account that owns the resource.")
MESSAGE = {
    "name": "MessageSid",
    "in": "path",
    "required": True,
    "description": "The message (SM or MM) the media belongs to.",
    "schema": {"type": "string", "minLength": 34, "maxLength": 34, "pattern": "^(SM|MM)[0-9a-fA-F]{32}$"},
}
MEDIA = _path_param("Sid", "ME", "The media.")


def _api_paths() -> Json:
    """Our API operations (Basic auth, Twilio error bodies)."""
    settings_body = _form_body(
        {"EnforceMediaHttpAuth": {"type": "boolean", "description": "Require HTTP auth for new media"}},
        ["EnforceMediaHttpAuth"],
    )
    days = "Whole days from 1 to the deployment's maximum; empty clears"
    retention_body = _form_body(
        {
            "DaysAfterCreation": {"type": "string", "description": days},
            "DaysAfterLastAccess": {"type": "string", "description": days},
            "AfterFirstDownload": {"type": "boolean"},
            "AfterWebhookDelivered": {
                "type": "boolean",
                "description": "After a 2xx from the inbound webhook",
            },
        }
    )
    redirect = {
        "description": "To a signed URL on the secured media host (media that requires auth), or to the "
        "public media host (legacy media). Follow it without the credentials: another host.",
        "headers": {"Location": {"schema": {"type": "string"}, "required": True}},
    }
    direct = {
        "description": "The bytes themselves, for accounts whose MediaDelivery mode is direct (credentials "
        "required); Range, HEAD and If-None-Match as on the secured media host.",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    }
    content_errors = {k: v for k, v in API_ERRORS.items() if k != "403"}
    content: Json = {
        "parameters": [ACCOUNT, MESSAGE, MEDIA],
        "description": "The media content URL (Twilio documents it only in prose). With Enforce HTTP "
        "Auth on Media URLs, Basic auth is required; the answer is a 307, not the bytes.",
    }
    for method in ("get", "head"):
        content[method] = _op(
            f"{'Fetch' if method == 'get' else 'Head'}MediaContent",
            "Redirect to the media's bytes",
            {
                "200": direct,
                "206": direct,
                "304": {"description": "Not modified (direct mode)"},
                "307": redirect,
                **content_errors,
            },
        )
    iam_form = {
        "AccountSid": _sid("AC"),
        "FriendlyName": {"type": "string"},
        "KeyType": {"type": "string", "enum": ["restricted"]},
        "Policy": {"type": "string", "description": 'JSON: {"allow": ["/Twilio/..."]}'},
    }
    return {
        "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}": content,
        "/v1/Accounts/{AccountSid}/MessagingSettings": {
            "parameters": [ACCOUNT],
            "description": "Enforce HTTP Auth on Media URLs (ours: Twilio has it only in its console). "
            "Applies to media created afterwards.",
            "get": _op(
                "FetchMessagingSettings",
                "Read the setting",
                {"200": _json(_ref("mediagate.messaging_settings"), "The setting"), **API_ERRORS},
            ),
            "post": _op(
                "UpdateMessagingSettings",
                "Change the setting (recorded in its history)",
                {"200": _json(_ref("mediagate.messaging_settings"), "The setting"), **API_ERRORS},
                requestBody=settings_body,
            ),
        },
        "/v1/Accounts/{AccountSid}/MediaDelivery": {
            "parameters": [ACCOUNT],
            "description": "How the content URL hands over media (ours): redirect (a 307 to a media host, "
            "Twilio's behaviour) or direct (the bytes themselves, auth still required).",
            "get": _op(
                "FetchMediaDelivery",
                "Read the mode",
                {"200": _json(_ref("mediagate.media_delivery"), "The mode"), **API_ERRORS},
            ),
            "post": _op(
                "UpdateMediaDelivery",
                "Change the mode (other processes follow within MEDIAGATE_DIRECT_DELIVERY_REFRESH)",
                {"200": _json(_ref("mediagate.media_delivery"), "The mode"), **API_ERRORS},
                requestBody=_form_body(
                    {"Mode": {"type": "string", "enum": ["redirect", "direct"]}}, ["Mode"]
                ),
            ),
        },
        "/v1/Accounts/{AccountSid}/MediaRetention": {
            "parameters": [ACCOUNT],
            "description": "When the account's media are deleted (ours: Twilio keeps media until it is "
            "deleted). Applied by a background job in batches, each with an audit row.",
            "get": _op(
                "FetchMediaRetention",
                "Read the retention rule",
                {"200": _json(_ref("mediagate.media_retention"), "The rule"), **API_ERRORS},
            ),
            "post": _op(
                "UpdateMediaRetention",
                "Change the retention rule (fields not given are kept)",
                {"200": _json(_ref("mediagate.media_retention"), "The rule"), **API_ERRORS},
                requestBody=retention_body,
            ),
        },
        "/v1/Accounts/{AccountSid}/WebhookDeliveries": {
            "parameters": [ACCOUNT],
            "get": _op(
                "ListWebhookDelivery",
                "Webhook deliveries (inbound, status callbacks) with each attempt, newest first (ours)",
                {
                    "200": _json(
                        _twilio_list("webhook_deliveries", _ref("mediagate.webhook_delivery")), "A page"
                    ),
                    **API_ERRORS,
                },
                parameters=[
                    {"name": "MessageSid", "in": "query", "schema": {"type": "string"}},
                    *_PAGE_PARAMS,
                ],
            ),
        },
        "/v1/Accounts/{AccountSid}/Media/{Sid}/Revocations": {
            "parameters": [ACCOUNT, MEDIA],
            "description": "Early revocation (ours): every signed URL of this media issued until now is "
            "refused by the secured host; other media are untouched and a fresh URL works. In presign "
            "delivery the object also moves to a new key, so old presigned URLs answer 404.",
            "post": _op(
                "CreateMediaRevocation",
                "Revoke the media's outstanding signed URLs",
                {"201": _json(_ref("mediagate.revocation"), "The revocation"), **API_ERRORS},
            ),
        },
        "/v1/Accounts/{AccountSid}/MediaRevocations": {
            "parameters": [ACCOUNT],
            "description": "Early revocation (ours) of every signed media URL of the account "
            "issued until now.",
            "post": _op(
                "CreateAccountMediaRevocation",
                "Revoke every outstanding signed media URL of the account",
                {"201": _json(_ref("mediagate.revocation"), "The revocation"), **API_ERRORS},
            ),
        },
        "/v1/Accounts/{AccountSid}/MediaAccessEvents": {
            "parameters": [ACCOUNT],
            "get": _op(
                "ListMediaAccessEvent",
                "Who fetched which media, when, and the answer (content URL and media hosts), "
                "newest first (ours)",
                {
                    "200": _json(
                        _twilio_list("media_access_events", _ref("mediagate.media_access_event")), "A page"
                    ),
                    **API_ERRORS,
                },
                parameters=[
                    {"name": "MediaSid", "in": "query", "schema": _sid("ME")},
                    *_PAGE_PARAMS,
                ],
            ),
        },
        "/v1/Carrier/Inbound": {
            "description": "Carrier-simulation ingress (ours): deliver an inbound message to a number "
            "owned here, with the credentials of the account that owns To.",
            "post": _op(
                "CreateCarrierInbound",
                "Deliver an inbound SMS/MMS/WhatsApp message",
                {
                    "201": _json(_ref("api.v2010.account.message"), "The stored inbound message"),
                    **API_ERRORS,
                },
                requestBody=_form_body(
                    {
                        "To": {"type": "string"},
                        "From": {"type": "string"},
                        "Body": {"type": "string"},
                        "MediaUrl": {"type": "array", "items": {"type": "string", "format": "uri"}},
                    },
                    ["To", "From"],
                ),
            ),
        },
        "/v1/Keys": {
            "description": "Twilio's IAM v1 keys (twilio-python: client.iam.v1), including restricted keys.",
            "get": _op(
                "ListGetApiKeys",
                "List an account's keys",
                {"200": _json(_ref("mediagate.iam_key_list"), "A page"), **API_ERRORS},
                parameters=[
                    {"name": "AccountSid", "in": "query", "required": True, "schema": _sid("AC")},
                    *_PAGE_PARAMS,
                ],
            ),
            "post": _op(
                "CreateNewApiKey",
                "Create a standard or restricted key (the secret is shown once)",
                {"201": _json(_ref("mediagate.iam_key"), "The key with its secret"), **API_ERRORS},
                requestBody=_form_body(iam_form, ["AccountSid"]),
            ),
        },
        "/v1/Keys/{Sid}": {
            "parameters": [_path_param("Sid", "SK", "The key.")],
            "get": _op(
                "FetchApiKey", "Fetch a key", {"200": _json(_ref("mediagate.iam_key"), "Key"), **API_ERRORS}
            ),
            "post": _op(
                "UpdateApiKey",
                "Rename a key or change a restricted key's Policy",
                {"200": _json(_ref("mediagate.iam_key"), "Key"), **API_ERRORS},
                requestBody=_form_body({"FriendlyName": {"type": "string"}, "Policy": {"type": "string"}}),
            ),
            "delete": _op(
                "DeleteApiKey", "Revoke a key at once", {"204": {"description": "Deleted"}, **API_ERRORS}
            ),
        },
    }


def _ops_paths() -> Json:
    """Unauthenticated endpoints for operators and tools."""
    status = {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}
    return {
        "/healthz": {
            "get": _op(
                "FetchHealth",
                "Liveness: the process answers",
                {"200": _json(status, "Alive")},
                security=[],
            )
        },
        "/readyz": {
            "get": _op(
                "FetchReadiness",
                "Readiness: the database and the media store answer",
                {
                    "200": _json({"type": "object"}, "Ready"),
                    "503": _json({"type": "object"}, "Not ready: the body names the failing part"),
                },
                security=[],
            )
        },
        "/metrics": {
            "get": _op(
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
            "get": _op(
                "FetchOpenApi",
                "This document",
                {"200": _json({"type": "object"}, "OpenAPI 3 document")},
                security=[],
            )
        },
        "/docs": {
            "get": _op(
                "FetchApiDocs",
                "This document rendered by Swagger UI (served from this server, no CDN)",
                {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}},
                security=[],
            )
        },
    }


# Documented only when the app routes them (another part of the server adds them).
OPTIONAL_PATHS = frozenset({"/readyz", "/metrics"})


def _edge_item(secure: bool) -> Json:
    host_error = _json(_ref("mediagate.media_host_error"), "")
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
        _path_param("AccountSid", "AC", "The media's account."),
        _path_param("Sid", "ME", "The media."),
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
        item[method] = _op(
            f"{'Fetch' if method == 'get' else 'Head'}{what.title()}MediaObject",
            f"The {what} media host",
            copy.deepcopy(responses),
            security=[],
        )
    return item


def _edge_paths(settings: Settings) -> Json:
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
    ops = {k: v for k, v in _ops_paths().items() if k not in OPTIONAL_PATHS or k in served}
    subset = _subset()
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
        "paths": {**_with_errors(subset["paths"]), **_api_paths(), **ops, **_edge_paths(settings)},
        "components": {
            "securitySchemes": {
                "accountSid_authToken": {"type": "http", "scheme": "basic"},
                "metricsToken": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {**subset["schemas"], **_schemas()},
        },
    }


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mediagate")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0"


def main(argv: list[str]) -> int:
    """``python -m mediagate.openapi extract TWILIO_OAI_DIR``: refresh the copied subset."""
    if len(argv) != 2 or argv[0] != "extract":
        sys.stderr.write("usage: python -m mediagate.openapi extract TWILIO_OAI_DIR\n")
        return 2
    target = Path(__file__).parent / "apidocs" / SUBSET
    target.write_text(json.dumps(extract_twilio(Path(argv[1])), indent=1, sort_keys=True) + "\n")
    sys.stdout.write(f"wrote {target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
