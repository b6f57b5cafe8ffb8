"""Dates as Twilio writes them: RFC 2822 in GMT (``Sun, 16 Aug 2015 15:53:54 +0000``)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(dt: datetime) -> datetime:
    # SQLite hands datetimes back naive; everything we store is UTC.
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def rfc2822(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return format_datetime(aware(dt).astimezone(UTC).replace(microsecond=0))


def iso(dt: datetime | None) -> str | None:
    return None if dt is None else aware(dt).astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_z(dt: datetime | None) -> str | None:
    """Twilio's v1 form, ``2015-07-31T04:00:00Z``: whole seconds. twilio-python parses
    exactly ``%Y-%m-%dT%H:%M:%SZ``; with microseconds (what ``iso`` writes) it gave up and
    handed back the raw string instead of a datetime."""
    return None if dt is None else aware(dt).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
