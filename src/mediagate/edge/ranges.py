"""The ``Range`` header, read canonically before anything serves bytes.

Starlette's ``FileResponse`` (and the front nginx with X-Accel-Redirect)
parse ``Range`` with their own rules; Starlette's ``int()`` accepts ``"٣"``,
``"+3"`` and ``"1_0"``. We check the header first with RFC 9110's grammar
and ASCII digits in canonical form, so every server behind us sees only a
range with one meaning; anything else is a 400 here.
"""

from __future__ import annotations

import re

from mediagate.inputs import canonical_int

MAX_PARTS = 16  # more ranges than any player asks for; the rest is a request amplification
_PART = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)

RangeSpec = tuple[int | None, int | None]  # (first, last); (None, n) is the last n bytes


class RangeError(ValueError):
    """A ``Range`` header that is not canonical ``bytes=first-last[, ...]``."""


def parse_range(header: str) -> list[RangeSpec]:
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip(" \t").lower() != "bytes":
        raise RangeError("only bytes ranges are served")
    parts = spec.split(",")
    if len(parts) > MAX_PARTS:
        raise RangeError(f"at most {MAX_PARTS} ranges")
    out: list[RangeSpec] = []
    for part in parts:
        match = _PART.fullmatch(part.strip(" \t"))
        if match is None:
            raise RangeError("a range is first-last, first- or -suffix")
        first = _number(match.group(1))
        last = _number(match.group(2))
        if first is None and last is None:
            raise RangeError("a range needs a first or a last byte")
        if first is not None and last is not None and last < first:
            raise RangeError("a range ends before it starts")
        out.append((first, last))
    return out


def _number(text: str) -> int | None:
    if not text:
        return None
    value = canonical_int(text, max_digits=18)
    if value is None:
        raise RangeError("byte positions are ASCII digits without leading zeros")
    return value
