"""Twilio's webhook signature (``X-Twilio-Signature``) and the URL a webhook is sent to."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlencode

if TYPE_CHECKING:
    pass


log = logging.getLogger("mediagate.webhooks")  # one logger for the whole webhook machinery

Params = Sequence[tuple[str, str]]


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """Twilio's ``X-Twilio-Signature``: the full URL (query string included), then
    each POST parameter as name+value, names sorted, HMAC-SHA1 keyed with the
    auth token, base64. Repeated names contribute their sorted values, as
    twilio-python's ``RequestValidator`` computes it."""
    grouped: dict[str, set[str]] = {}
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    data = url + "".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))
    mac = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def request_url(url: str, method: str, params: Params) -> str:
    """The URL actually requested: for GET the parameters go in the query string
    (kept after any query the configured URL already has)."""
    if method != "GET" or not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(list(params))
