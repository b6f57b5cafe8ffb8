"""Console session cookies and CSRF tokens (sign-in rate limits: ``console.ratelimit``).

A session is a small signed cookie plus a server-side record of it
(``accounts.console_sessions``: signing out deletes the record, which ends
every copy of the cookie)::

    base64url(json{v, a, c, f, n, i, s}) "." base64url(HMAC-SHA256)

``a`` the account, ``c`` the credential (AC... auth token or SK... key),
``f`` a keyed fingerprint of the credential's stored hash (never the secret),
``n`` a random nonce the CSRF token is derived from, ``i`` issued-at and
``s`` last-seen (Unix seconds). The HMAC key is derived from the master
secret for this purpose only (``Keyring.derived_key``), so it is neither the
credential pepper nor the sealing key.

On every request the credential is looked up again: a deleted API key, a
rotated auth token or a closed account changes or removes the fingerprint
and ends the session there and then.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, replace
from typing import Any

COOKIE = "mg_console"
PRELOGIN_COOKIE = "mg_console_login"
COOKIE_PATH = "/console"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SessionData:
    account_sid: str
    credential_sid: str
    fingerprint: str
    nonce: str
    issued_at: int
    last_seen: int


class CookieSigner:
    """HMAC-signed JSON values with a purpose label inside the MAC."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, purpose: str, payload: bytes) -> bytes:
        return hmac.new(self._key, purpose.encode() + b"\n" + payload, hashlib.sha256).digest()

    def dumps(self, purpose: str, value: dict[str, Any]) -> str:
        payload = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{_b64(self._mac(purpose, payload))}"

    def loads(self, purpose: str, token: str | None) -> dict[str, Any] | None:
        if not token or len(token) > 4096 or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        try:
            payload, given = _unb64(body), _unb64(mac)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(self._mac(purpose, payload), given):
            return None
        try:
            value = json.loads(payload)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def fingerprint(self, credential_sid: str, stored_hash: str) -> str:
        """Ties a session to one version of a credential without holding the secret."""
        return _b64(self._mac("credential", f"{credential_sid}:{stored_hash}".encode()))[:32]

    def csrf_token(self, nonce: str) -> str:
        return _b64(self._mac("csrf", nonce.encode()))

    def check_csrf(self, nonce: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(nonce), token or "")

    # -- sessions -----------------------------------------------------------------------

    def dump_session(self, data: SessionData) -> str:
        return self.dumps(
            "session",
            {
                "v": 1,
                "a": data.account_sid,
                "c": data.credential_sid,
                "f": data.fingerprint,
                "n": data.nonce,
                "i": data.issued_at,
                "s": data.last_seen,
            },
        )

    def load_session(self, token: str | None) -> SessionData | None:
        value = self.loads("session", token)
        if value is None or value.get("v") != 1:
            return None
        try:
            return SessionData(
                account_sid=str(value["a"]),
                credential_sid=str(value["c"]),
                fingerprint=str(value["f"]),
                nonce=str(value["n"]),
                issued_at=int(value["i"]),
                last_seen=int(value["s"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def session_state(data: SessionData, *, idle: int, max_age: int, now: float) -> str:
    """``"ok"`` or ``"expired"`` (idle too long, or older than the absolute limit).
    ``now``: the runtime clock's epoch seconds (``rt.clock.time()``)."""
    t = int(now)
    if t - data.last_seen > idle or t - data.issued_at > max_age or data.issued_at > t + 60:
        return "expired"
    return "ok"


def touched(data: SessionData, now: float) -> SessionData:
    return replace(data, last_seen=int(now))
