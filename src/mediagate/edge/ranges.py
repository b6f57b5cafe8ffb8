"""The ``Range`` header, read one way for every backend and transport.

Servers parse ``Range`` with their own rules (Starlette's ``int()`` accepts
``"٣"``, ``"+3"`` and ``"1_0"``; the front nginx with X-Accel-Redirect has
its own). We check the header first with RFC 9110's grammar and ASCII digits
in canonical form, so every server behind us sees only a range with one
meaning; anything else is a 400 (``parse_range``).

``span`` then says which bytes a media answer carries (``edge/decide.py``),
whatever holds them: one byte range (``a-b``, ``a-``, ``-n``) → 206 with
``Content-Range``; a start at or past the end → 416 ``bytes */size``.
Several ranges in one request get the whole object (200), which RFC 9110
allows (a server may ignore Range): no multipart/byteranges, so a request
cannot make us cut one object into many parts.
"""

from __future__ import annotations

import re

from mediagate.core.inputs import canonical_int

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


class Unsatisfiable(Exception):
    """A range that starts at or past the end of the object (416)."""


def span(specs: list[RangeSpec], size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a header read by ``parse_range``, ``None`` for
    "send it all"; raises ``Unsatisfiable``."""
    if len(specs) != 1:
        return None
    first, last = specs[0]
    if first is None:  # suffix: the last n bytes
        assert last is not None
        if last == 0 or size == 0:
            raise Unsatisfiable
        return max(size - last, 0), size - 1
    if first >= size:
        raise Unsatisfiable
    return first, min(last, size - 1) if last is not None else size - 1
