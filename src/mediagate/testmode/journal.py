"""What happened, in order, for a test to read back: ``GET /v1/Testing/Journal``.

Content-URL decisions and answers, the media hosts' answers, MediaUrl
fetches, webhook and status-callback attempts, each with the fault that
applied. A bounded ring in memory (``MEDIAGATE_TEST_JOURNAL_SIZE``): test mode
runs one server process, so one process's memory is the whole story, and a
reset empties it. Entries hold sids, URLs without credentials or query
strings, statuses and reasons; never a secret, a signature or a signed URL.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from mediagate.core.clock import Clock
from mediagate.core.paging import Page, PageRequest
from mediagate.core.timefmt import iso

JOURNAL_ENTRY: Final = "JE"  # entry sids: JE + the entry's number in 32 hex digits (they sort in order)


@dataclass(frozen=True)
class Entry:
    sid: str
    date_created: datetime
    kind: str  # content | secure | public | media-list | media-fetch | webhook | status-callback
    account_sid: str | None
    media_sid: str | None
    fields: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "date_created": iso(self.date_created),
            "kind": self.kind,
            "account_sid": self.account_sid,
            "media_sid": self.media_sid,
            **self.fields,
        }


def plain_url(url: str) -> str:
    """``url`` without user info, query or fragment: what a journal may show of a
    customer's URL (a query can carry a token; a signed URL's query is its secret)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "(unparseable URL)"


class Journal:
    def __init__(self, size: int, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: deque[Entry] = deque(maxlen=size)
        self._next = 1

    def record(self, kind: str, account_sid: str | None, media_sid: str | None = None, **fields: Any) -> None:
        with self._lock:
            number = self._next
            self._next += 1
            self._entries.append(
                Entry(
                    f"{JOURNAL_ENTRY}{number:032x}", self._clock.now(), kind, account_sid, media_sid, fields
                )
            )

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def entries(self, account_sid: str | None = None, media_sid: str | None = None) -> list[Entry]:
        with self._lock:
            found = list(self._entries)
        return [
            e
            for e in found
            if (account_sid is None or e.account_sid == account_sid)
            and (media_sid is None or e.media_sid == media_sid)
        ]

    def page(self, account_sid: str | None, media_sid: str | None, req: PageRequest) -> Page:
        """Oldest first (the order things happened). The paging tokens are
        ``core/paging``'s; entry sids grow with time, so a cursor is its sid:
        ``PA`` walks on to later entries, ``PB`` back to earlier ones."""
        found = self.entries(account_sid, media_sid)
        cursor = req.cursor
        if cursor is None:
            start = req.number * req.size if req.number else 0
            rows = found[start : start + req.size + 1]
            return Page(rows[: req.size], len(rows) > req.size, start > 0)
        if cursor.forward:
            later = [e for e in found if e.sid > cursor.sid]
            return Page(later[: req.size], len(later) > req.size, True)
        earlier = [e for e in found if e.sid < cursor.sid]
        rows = earlier[-req.size :]
        return Page(rows, True, len(earlier) > req.size)
