"""``path_sid``, the one parser of a sid in an API path, on every sid form for every
path parameter it knows. The end-to-end tests send a sample of these over HTTP
(tests/e2e/test_bad_input.py); that every route with a sid in its path asks this
parser before the credential is tests/unit/test_api_routes.py's."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from mediagate.api import common
from mediagate.core.errors import BadRequest

HEX = "0123456789abcdef" * 2


def bad_forms(prefix: str) -> dict[str, str]:
    wrong = "XX" if prefix != "XX" else "YY"
    return {
        "wrong prefix": wrong + HEX,
        "short": prefix + HEX[:31],
        "long": prefix + HEX + "0",
        "not hex": prefix + "g" * 32,
        "lowercase prefix": prefix.lower() + HEX,
        "prefix only": prefix,
        "another resource's sid": ("ME" if prefix != "ME" else "SM") + HEX,
        "trailing newline": prefix + HEX + "\n",
        "leading space": " " + prefix + HEX,
        "empty": "",
        "unicode digit": prefix + HEX[:31] + "٣",
        "very long": prefix + "a" * 500,
    }


CASES = [
    pytest.param(name, label, prefix, form, value, id=f"{name}-{prefix}-{form}")
    for name, (label, prefixes) in common._SID_NAMES.items()
    for prefix in prefixes
    for form, value in bad_forms(prefix).items()
    # "ME..." is another resource's sid everywhere but for media, and the only right one there.
    if not (form == "another resource's sid" and value[:2] in prefixes)
]


def request_with(name: str, value: str) -> Request:
    return Request(
        {"type": "http", "method": "GET", "path": "/", "headers": [], "path_params": {name: value}}
    )


@pytest.mark.parametrize(("name", "label", "prefix", "form", "value"), CASES)
def test_a_malformed_sid_is_a_400_naming_the_parameter(
    name: str, label: str, prefix: str, form: str, value: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        common.path_sid(request_with(name, value), name)
    assert refused.value.code == 20001 and refused.value.status == 400
    message = refused.value.message
    assert message.startswith(f"Invalid {label} {value[:40]!r}: expected "), message
    assert "followed by 32 hex digits." in message
    if len(value) > 40:
        assert value[:41] not in message  # at most 40 characters of it are echoed


@pytest.mark.parametrize(
    ("name", "prefix"),
    [(name, prefix) for name, (_, prefixes) in common._SID_NAMES.items() for prefix in prefixes],
)
def test_a_well_formed_sid_is_returned_as_sent(name: str, prefix: str) -> None:
    for value in (prefix + HEX, prefix + HEX.upper(), prefix + "0" * 32):
        assert common.path_sid(request_with(name, value), name) == value
