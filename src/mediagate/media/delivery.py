"""Where a media's bytes come from: the one place that decides.

Three answers, chosen by the media row and ``MEDIAGATE_DELIVERY``:

* **public** - legacy media (created while *Enforce HTTP Auth on Media URLs*
  was off): the public host's stable, unsigned URL, on any storage backend.
* **signed** (``edge``, the default) - our secured host with our own signature
  (key id + expiry inside the HMAC). The edge verifies it, re-checks the row
  and streams from whichever store holds the bytes, so retiring a signing key
  revokes its URLs early, and every response carries our security headers.
* **presigned** (``presign``) - straight to the object store: a SigV4 presigned
  GET valid for ``MEDIAGATE_SIGNED_URL_TTL`` whose ``response-content-type``
  and ``response-content-disposition`` are forced from the row (and covered
  by the signature). Our process never carries the bytes, but such a URL can
  only be revoked by deleting the object or rotating the store's credentials,
  and the store adds none of our CSP/nosniff headers.

Callers hand in a resolved ``Principal`` (or ``None`` for an anonymous
request), never a header: authentication happened before this point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediagate.core.errors import Unauthorized
from mediagate.media.disposition import content_disposition

if TYPE_CHECKING:
    from mediagate.accounts.auth import Principal
    from mediagate.runtime.context import Runtime


@dataclass(frozen=True)
class Target:
    """What delivery needs to know about one media row."""

    account_sid: str
    media_sid: str
    storage_key: str
    content_type: str
    filename: str | None
    auth_required: bool


@dataclass(frozen=True)
class Location:
    url: str
    decision: str  # "public" | "signed" | "presigned" (for the audit log)


def object_path(account_sid: str, media_sid: str) -> str:
    """The path of a media object on either media host (what our signature covers)."""
    return f"/{account_sid}/{media_sid}"


def public_url(rt: Runtime, account_sid: str, media_sid: str) -> str:
    return f"{rt.settings.public_media_url}{object_path(account_sid, media_sid)}"


def secured_url(rt: Runtime, account_sid: str, media_sid: str, *, ttl: int | None = None) -> str:
    """A URL on our secured host, signed with the active signing key."""
    path = object_path(account_sid, media_sid)
    return f"{rt.settings.secure_media_url}{path}?{rt.signer.sign(path, ttl=ttl)}"


def locate(
    rt: Runtime, principal: Principal | None, target: Target, *, method: str = "GET", sign: bool = True
) -> Location:
    """Where the content URL's 307 sends this caller for this media.

    ``principal`` must already be valid for ``target.account_sid`` (the caller
    checked); ``None`` gets public media only, and ``Unauthorized`` otherwise.
    ``sign=False``: the decision is wanted, not the URL (direct delivery sends
    the bytes itself), so a URL on our secured host is not signed (its ``url``
    is empty)."""
    if not target.auth_required:
        return Location(public_url(rt, target.account_sid, target.media_sid), "public")
    if principal is None:
        raise Unauthorized()
    if rt.settings.delivery == "presign":
        url = rt.store.presigned_url(
            target.storage_key,
            rt.settings.signed_url_ttl,
            content_type=target.content_type,
            disposition=_disposition(target),
            # A presigned URL is valid for one method: HEAD through the
            # redirect gets a HEAD URL (307 keeps the method).
            method=method,
        )
        if url is not None:
            return Location(url, "presigned")
    if not sign:
        return Location("", "signed")
    return Location(secured_url(rt, target.account_sid, target.media_sid), "signed")


def _disposition(target: Target) -> str:
    # The media hosts' own rule (inline allowlist, safe filename), so both
    # delivery modes answer with the same Content-Disposition.
    return content_disposition(target.filename, target.content_type, target.media_sid)
