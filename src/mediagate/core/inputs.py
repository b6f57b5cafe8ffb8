"""Canonical parsing of what clients send: numbers, dates and text.

Python's own parsers are generous in ways an attacker can use: ``int()``
accepts ``"٣"`` (Arabic-Indic three), ``" 3"``, ``"+3"`` and ``"0003"``;
``str.isdigit()`` is true for ``"²"``, on which ``int()`` then fails (a 500);
``re``'s ``\\d`` matches every Unicode digit and ``$`` matches before a final
newline. A signed URL whose ``Expires`` can be written in many ways is
malleable, and a date past year 9998 overflows ``datetime`` arithmetic. So every
number, date and text field a client controls goes through one of these
functions, which accept exactly one spelling per value and answer anything
else with a Twilio 400 (``BadRequest``), never a 500.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from mediagate.core.errors import BadRequest

# ASCII digits, no sign, no whitespace, no leading zero (except "0" itself).
_CANONICAL_INT = re.compile(r"0|[1-9][0-9]*", re.ASCII)
# YYYY-MM-DD (Twilio's documented form) or the whole-second UTC timestamp that
# twilio-python sends for date filters (serialize.iso8601_datetime); only the day counts.
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}):([0-9]{2}):([0-9]{2})Z)?", re.ASCII)

# Range of the YYYY-MM-DD filters: the day after the last one must still be a
# datetime (filters add a day), and nothing here predates the Unix epoch.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9998, 12, 31)


def canonical_int(raw: str, *, max_digits: int = 18) -> int | None:
    """The value of ``raw`` if it is a canonical non-negative decimal of at most
    ``max_digits`` digits, else ``None``. The one spelling of each number, so a
    signed value cannot be re-spelled and still verify."""
    if len(raw) > max_digits or not _CANONICAL_INT.fullmatch(raw):
        return None
    return int(raw)


def int_param(raw: str, name: str, low: int, high: int) -> int:
    """A canonical integer in ``[low, high]`` or a 400 naming the parameter."""
    value = canonical_int(raw, max_digits=len(str(high)))
    if value is None or not low <= value <= high:
        raise BadRequest(f"{name} must be an integer between {low} and {high}.", code=20001)
    return value


def parse_day(raw: str, name: str) -> datetime:
    """Twilio's ``YYYY-MM-DD`` filter value (or twilio-python's
    ``YYYY-MM-DDTHH:MM:SSZ``) as the UTC midnight of that day, within
    [FIRST_DAY, LAST_DAY]; anything else (other forms, ``9999-12-31``, Unicode
    digits, trailing text) is a 400."""
    match = _DAY.fullmatch(raw)
    day = None
    if match is not None:
        year, month, dom, hour, minute, second = match.groups()
        try:
            day = date(int(year), int(month), int(dom))
            if hour is not None:
                time(int(hour), int(minute), int(second))  # 25:00:00 is no time
        except ValueError:  # 2024-02-30 and the like
            day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        raise BadRequest(
            f"{name} must be a date in the form YYYY-MM-DD between {FIRST_DAY} and {LAST_DAY}.",
            code=20001,
        )
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def bad_text_reason(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or ``None``. PostgreSQL refuses a
    NUL in any text column (the driver raised, a 500), and a lone surrogate
    (``%ED%A0%80`` decodes to one with errors="surrogateescape"-style parsers)
    cannot be encoded as UTF-8 on the way to either database."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 text"
    return None


def check_text(value: str, name: str) -> str:
    reason = bad_text_reason(value)
    if reason is not None:
        raise BadRequest(f"{name[:64]!r} {reason}.", code=20001)
    return value
