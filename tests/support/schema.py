"""A body checked against a schema of Twilio's own OpenAPI files (``tests/support/oai.py``).

Every property of the schema must be present with the declared type, enum,
pattern, length and format; ``null`` only where the schema says ``nullable``.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from tests.support.oai import oai_file

V2010 = "twilio_api_v2010.json"
ACCOUNTS_V1 = "twilio_accounts_v1.json"

RFC2822_GMT = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} \+0000$"
)
# Twilio's v1 APIs write ``2015-07-31T04:00:00Z``; twilio-python parses exactly that.
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@functools.cache
def schemas(document: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(oai_file(document).read_text())["components"]["schemas"]
    return found


def _resolve(document: str, prop: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref")
    if ref is None:
        return prop
    resolved: dict[str, Any] = schemas(document)[ref.rsplit("/", 1)[-1]]
    return resolved


def assert_matches_schema(
    body: dict[str, Any],
    name: str,
    *,
    document: str = V2010,
    exact: bool = False,
    filled: bool = False,
) -> None:
    """``exact``: no property beyond the schema's; ``filled``: no ``null`` at all."""
    schema = schemas(document)[name]
    assert schema["type"] == "object"
    props: dict[str, Any] = schema["properties"]
    if exact:
        assert set(body) == set(props), f"{name}: {sorted(set(body) ^ set(props))}"
    missing = set(props) - set(body)
    assert not missing, f"{name}: missing properties {sorted(missing)}"
    for prop_name, raw in props.items():
        prop = _resolve(document, raw)
        value = body[prop_name]
        where = f"{name}.{prop_name}={value!r}"
        if value is None:
            assert not filled, f"{where}: null"
            # Enum refs (status, direction) are not nullable; plain properties say so.
            assert prop.get("nullable", False), f"{where}: null but not nullable"
            continue
        kind = prop["type"]
        if kind == "string":
            _check_string(prop, value, where)
        elif kind == "integer":
            assert isinstance(value, int) and not isinstance(value, bool), where
        elif kind == "boolean":
            assert isinstance(value, bool), where
        elif kind == "object":
            assert isinstance(value, dict), where
        else:  # pragma: no cover - the schemas we check use only the kinds above
            raise AssertionError(f"unhandled schema type {kind} for {where}")


def _check_string(prop: dict[str, Any], value: object, where: str) -> None:
    assert isinstance(value, str), where
    if "enum" in prop:
        assert value in prop["enum"], where
    if "pattern" in prop:
        assert re.fullmatch(prop["pattern"].strip("^$"), value), where
    if "minLength" in prop:
        assert len(value) >= prop["minLength"], where
    if "maxLength" in prop:
        assert len(value) <= prop["maxLength"], where
    fmt = prop.get("format")
    if fmt == "date-time-rfc-2822":
        assert RFC2822_GMT.match(value), where
        assert parsedate_to_datetime(value).utcoffset() == timedelta(0), where
    elif fmt == "date-time":
        assert ISO_Z.match(value), where
        datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    elif fmt == "uri":
        assert value.startswith("http"), where
