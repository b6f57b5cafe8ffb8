"""Signed URLs for the secured media host.

One signer for the whole service: HMAC-SHA256 (standard library), a key id
in every URL, the expiry and a purpose label inside the signed payload, and
``hmac.compare_digest`` for the check. The signature is verified before the
expiry so that "expired" is only ever said of a URL we really issued.

Keys live in the database (sealed with the master secret) so that every
server process signs and verifies with the same set; retiring a key kills
every URL signed with it. Each process refreshes its copy every
``refresh_seconds``; a retirement made in this process applies at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mediagate.inputs import canonical_int

PURPOSE = b"mediagate-secure-media-v1"


class SignatureError(Exception):
    reason = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SignatureInvalid(SignatureError):
    reason = "invalid"


class SignatureExpired(SignatureError):
    reason = "expired"


@dataclass(frozen=True)
class SigningKeyMaterial:
    kid: str
    secret: bytes
    active: bool


KeyLoader = Callable[[], list[SigningKeyMaterial]]


class Signer:
    def __init__(self, load_keys: KeyLoader, ttl: int, refresh_seconds: float = 5.0) -> None:
        self._load = load_keys
        self.ttl = ttl
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKeyMaterial] = {}
        self._current: SigningKeyMaterial | None = None
        self._loaded_at = float("-inf")

    def reload(self) -> None:
        keys = self._load()
        with self._lock:
            self._keys = {k.kid: k for k in keys}
            # The loader returns keys oldest first; sign with the newest active one.
            active = [k for k in keys if k.active]
            self._current = active[-1] if active else None
            self._loaded_at = time.monotonic()

    def _ensure_fresh(self) -> None:
        if time.monotonic() - self._loaded_at > self._refresh:
            self.reload()

    def forget(self, kid: str) -> None:
        """Drop a retired key from this process at once."""
        with self._lock:
            self._keys.pop(kid, None)
            if self._current is not None and self._current.kid == kid:
                self._current = None
        self.reload()

    def sign(self, path: str, *, now: float | None = None, ttl: int | None = None) -> str:
        """Return the query string (``Expires``, ``Signature``, ``Key-Pair-Id``) for ``path``."""
        self._ensure_fresh()
        key = self._current
        if key is None:
            raise RuntimeError("no active media signing key")
        expires = int(now if now is not None else time.time()) + (ttl if ttl is not None else self.ttl)
        signature = _mac(key.secret, key.kid, path, expires)
        # Every value is URL-safe already (digits, base64url, a sid): no urlencode on the hot path.
        return f"Expires={expires}&Signature={signature}&Key-Pair-Id={key.kid}"

    def verify(self, path: str, expires: str, signature: str, kid: str, *, now: float | None = None) -> None:
        # One spelling of Expires only (ASCII digits, no leading zero): "0<real>" and
        # the Arabic-Indic digits of the real value verified too, so a signed URL
        # had many forms, and "²" passed isdigit() and then failed int() (a 500).
        when = canonical_int(expires, max_digits=12)
        if when is None or not signature or not kid:
            raise SignatureInvalid("The URL is not a valid signed media URL.")
        self._ensure_fresh()
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._loaded_at > 1.0:
            # A key we have never seen may have been created by another process
            # just now; at most one such reload a second, so made-up key ids
            # cannot turn into a database query per request.
            self.reload()
            key = self._keys.get(kid)
        if key is None or not key.active:
            raise SignatureInvalid("The URL's signing key is unknown or has been retired.")
        expected = _mac(key.secret, kid, path, when)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise SignatureInvalid("The URL's signature does not match.")
        if when < (now if now is not None else time.time()):
            raise SignatureExpired("The URL has expired. Request the media again to get a fresh URL.")


def _mac(secret: bytes, kid: str, path: str, expires: int) -> str:
    payload = b"\n".join((PURPOSE, kid.encode(), path.encode(), str(expires).encode()))
    digest = hmac.new(secret, payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
