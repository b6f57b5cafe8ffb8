"""schemathesis hooks for ``fuzz_netns``: aim generated requests at the fuzz
account (``FUZZ_API_ACCOUNT``) so that they get past authentication instead of
stopping at 401 for a random AccountSid, and at the seeded resources
(``FUZZ_API_SEEDED``) for about half of the generated SIDs, so that the
handlers behind a successful lookup are fuzzed as well as the 404s. The choice
depends only on the generated value, so runs stay reproducible from the seed."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import schemathesis

ACCOUNT = os.environ.get("FUZZ_API_ACCOUNT", "")
SEEDED: dict[str, str] = json.loads(os.environ.get("FUZZ_API_SEEDED", "{}"))
SIGNED = dict(parse_qsl(urlsplit(SEEDED.get("signed", "")).query))


def _seeded(value: Any) -> Any:
    """A seeded SID of the same kind, for generated SIDs whose last digit is even."""
    if isinstance(value, str) and len(value) == 34 and value[-1] in "02468ace":
        kind = "MM" if value[:2] == "SM" else value[:2]
        return SEEDED.get(kind, value)
    return value


@schemathesis.hook
def map_path_parameters(ctx: Any, path_parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(path_parameters, dict) or not ACCOUNT:
        return path_parameters
    account_instance = ctx.operation.path == "/2010-04-01/Accounts/{Sid}.json"
    for name, value in path_parameters.items():
        if name == "AccountSid" or (account_instance and name == "Sid"):
            path_parameters[name] = ACCOUNT
        else:
            path_parameters[name] = _seeded(value)
    return path_parameters


@schemathesis.hook
def map_query(ctx: Any, query: dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(query, dict):
        return query
    if "AccountSid" in query and ACCOUNT:
        query["AccountSid"] = ACCOUNT
    if "Signature" in query and SIGNED and str(query.get("Expires", ""))[-1:] in "02468":
        query.update(SIGNED)  # a valid signature: the secured host's 200/206/304 paths
    return query


@schemathesis.hook
def map_body(ctx: Any, body: Any) -> Any:
    if isinstance(body, dict) and "AccountSid" in body and ACCOUNT:
        body["AccountSid"] = ACCOUNT
    return body
