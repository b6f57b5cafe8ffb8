"""Twilio-style identifiers: a two-letter prefix and 32 lowercase hex digits."""

from __future__ import annotations

import re
import secrets
from typing import Final

ACCOUNT: Final = "AC"
KEY: Final = "SK"
SMS: Final = "SM"
MMS: Final = "MM"
MEDIA: Final = "ME"
PHONE_NUMBER: Final = "PN"
SIGNING_KEY: Final = "KI"
CARRIER_CREDENTIAL: Final = "CR"  # deployment-level carrier ingress credential

_PATTERNS: dict[str, re.Pattern[str]] = {}


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def is_sid(value: str, *prefixes: str) -> bool:
    key = "|".join(prefixes)
    pattern = _PATTERNS.get(key)
    if pattern is None:
        pattern = re.compile(rf"^(?:{key})[0-9a-fA-F]{{32}}$")
        _PATTERNS[key] = pattern
    # fullmatch: with match, ``$`` also accepted a trailing newline ("AC...\n").
    return pattern.fullmatch(value) is not None
