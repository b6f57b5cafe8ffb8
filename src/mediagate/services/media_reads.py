"""Media and its access audit as records, for the console.

``services/media.py`` and ``services/access_audit.py`` return rows to the
serving path and are being reworked there; these reads wrap them so that the
console never holds a row. Fold them into those modules once that work lands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from mediagate.paging import Page, PageRequest
from mediagate.services import access_audit, media
from mediagate.services.records import AccessEventRecord, MediaRecord, page_of

if TYPE_CHECKING:
    from mediagate.context import Runtime


def get(rt: Runtime, account_sid: str, message_sid: str, media_sid: str) -> MediaRecord:
    return MediaRecord.of(media.get(rt, account_sid, message_sid, media_sid))


def page(rt: Runtime, account_sid: str, message_sid: str, query: Mapping[str, str], req: PageRequest) -> Page:
    return page_of(media.page(rt, account_sid, message_sid, query, req), MediaRecord.of)


def access_events(rt: Runtime, account_sid: str, filters: Mapping[str, str | None], req: PageRequest) -> Page:
    """One media's (or the account's) access audit, newest first."""
    return page_of(access_audit.page(rt, account_sid, filters, req), AccessEventRecord.of)
