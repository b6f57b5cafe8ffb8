"""The one spelling of each resource path we hand out (in ``uri`` fields, 404
messages and webhook parameters). The routes' templates are Starlette's own
(``api/``); these build the concrete paths."""

from __future__ import annotations

API_VERSION = "2010-04-01"


def message_path(account_sid: str, message_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message_sid}.json"


def media_path(account_sid: str, message_sid: str, media_sid: str, ext: str = ".json") -> str:
    """A media's metadata path (``ext=".json"``) or its content URL's path (``ext=""``)."""
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}{ext}"
