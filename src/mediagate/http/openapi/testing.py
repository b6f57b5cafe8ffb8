"""The test mode's control API (docs/test-mode.md), described only when the app serves it."""

from __future__ import annotations

from mediagate.api.representations import TwilioError
from mediagate.http.openapi.shapes import PAGE_PARAMS, Json, answer, json_body, op

PREFIX = "/v1/Testing"
_SECURITY: list[Json] = [{}, {"testModeToken": []}]  # the token only when MEDIAGATE_TEST_MODE_TOKEN is set
_OBJECT: Json = {"type": "object"}


def _form(fields: dict[str, Json], required: list[str] | None = None) -> Json:
    schema: Json = {"type": "object", "properties": fields}
    if required:
        schema["required"] = required
    return {"content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _errors(*statuses: str) -> Json:
    return {status: answer(TwilioError, "Twilio error body") for status in ("401", *statuses)}


def paths() -> Json:
    text: Json = {"type": "string"}
    clock = json_body(_OBJECT, '{"now": ISO-8601 UTC, "offset_seconds": N}')
    fault_form = _form(
        {
            "Target": {"enum": ["content", "secure", "public", "media-list", "media-fetch", "webhook"]},
            "Action": {"enum": ["status", "delay", "truncate", "redirect-302", "empty-list"]},
            "Status": {"type": "integer", "minimum": 400, "maximum": 599},
            "DelayMs": {"type": "integer", "minimum": 1, "maximum": 60000},
            "Count": {"type": "integer", "minimum": 1, "maximum": 10000},
            "AccountSid": text,
            "MediaSid": text,
        },
        ["Target", "Action"],
    )
    sid_param: Json = {"name": "sid", "in": "path", "required": True, "schema": {"type": "string"}}
    filters: list[Json] = [
        {"name": "AccountSid", "in": "query", "schema": text},
        {"name": "MediaSid", "in": "query", "schema": text},
    ]
    return {
        f"{PREFIX}/Clock": {
            "get": op(
                "FetchTestClock", "The server's time and its offset", {"200": clock}, security=_SECURITY
            ),
            "post": op(
                "AdvanceTestClock",
                "Move the server's time forward by AdvanceSeconds (> 0)",
                {"200": clock, **_errors("400")},
                requestBody=_form({"AdvanceSeconds": {"type": "number"}}, ["AdvanceSeconds"]),
                security=_SECURITY,
            ),
        },
        f"{PREFIX}/Faults": {
            "get": op(
                "ListTestFaults", "Armed faults", {"200": json_body(_OBJECT, "faults")}, security=_SECURITY
            ),
            "post": op(
                "CreateTestFault",
                "Arm a fault (it never grants access)",
                {"201": json_body(_OBJECT, "The fault (sid TF...)"), **_errors("400")},
                requestBody=fault_form,
                security=_SECURITY,
            ),
            "delete": op(
                "DeleteTestFaults", "Disarm every fault", {"204": {"description": "Done"}}, security=_SECURITY
            ),
        },
        f"{PREFIX}/Faults/{{sid}}": {
            "parameters": [sid_param],
            "get": op(
                "FetchTestFault",
                "One armed fault",
                {"200": json_body(_OBJECT, "The fault"), **_errors("400", "404")},
                security=_SECURITY,
            ),
            "delete": op(
                "DeleteTestFault",
                "Disarm one fault",
                {"204": {"description": "Done"}, **_errors("400", "404")},
                security=_SECURITY,
            ),
        },
        f"{PREFIX}/Journal": {
            "get": op(
                "ListTestJournal",
                "What happened, oldest first (Twilio list page, key 'journal')",
                {"200": json_body(_OBJECT, "A page of journal entries"), **_errors("400")},
                parameters=[*filters, *PAGE_PARAMS],
                security=_SECURITY,
            )
        },
        f"{PREFIX}/Reset": {
            "post": op(
                "ResetTestServer",
                "Remove every account, media, fault and journal entry; clock offset 0; re-seed",
                {"200": clock},
                security=_SECURITY,
            )
        },
        f"{PREFIX}/Accounts": {
            "post": op(
                "CreateTestAccount",
                "A fresh account, as `mediagate accounts create --json` prints it",
                {"201": json_body(_OBJECT, "sid, auth_token, ...")},
                requestBody=_form({"FriendlyName": text}),
                security=_SECURITY,
            )
        },
    }
