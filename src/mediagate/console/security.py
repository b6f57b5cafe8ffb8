"""Console sessions, CSRF tokens and login rate limits.

A session is a small signed cookie, nothing server-side::

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
import threading
import time
from collections import deque
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


def session_state(data: SessionData, *, idle: int, max_age: int, now: float | None = None) -> str:
    """``"ok"`` or ``"expired"`` (idle too long, or older than the absolute limit)."""
    t = int(now if now is not None else time.time())
    if t - data.last_seen > idle or t - data.issued_at > max_age or data.issued_at > t + 60:
        return "expired"
    return "ok"


def touched(data: SessionData, now: float | None = None) -> SessionData:
    return replace(data, last_seen=int(now if now is not None else time.time()))


class LoginLimiter:
    """Failed sign-ins per client IP and per account/key SID, in a sliding window.

    In memory, per process: enough for one server (or a few workers, each
    enforcing its own share). A deployment scaled out behind a load balancer
    would keep these counters in Redis (``INCR`` + ``EXPIRE`` per key) so
    that every process sees the same count.
    """

    def __init__(self, *, per_ip: int = 20, per_user: int = 10, window: float = 15 * 60) -> None:
        self.per_ip = per_ip
        self.per_user = per_user
        self.window = window
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def _count(self, key: str, now: float) -> int:
        q = self._hits.get(key)
        if q is None:
            return 0
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._hits[key]
            return 0
        return len(q)

    def retry_after(self, ip: str, user: str, now: float | None = None) -> int:
        """Seconds until another attempt is allowed; 0 when allowed now."""
        t = now if now is not None else time.monotonic()
        waits: list[float] = []
        with self._lock:
            for key, limit in ((f"ip:{ip}", self.per_ip), (f"user:{user.upper()}", self.per_user)):
                if self._count(key, t) >= limit:
                    waits.append(self._hits[key][0] + self.window - t)
        return int(max(waits)) + 1 if waits else 0

    def failed(self, ip: str, user: str, now: float | None = None) -> None:
        t = now if now is not None else time.monotonic()
        with self._lock:
            for key in (f"ip:{ip}", f"user:{user.upper()}"):
                self._count(key, t)
                self._hits.setdefault(key, deque()).append(t)
                if len(self._hits) > 100_000:  # bound memory under a spray of made-up SIDs
                    self._hits.pop(next(iter(self._hits)))

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._hits.pop(f"user:{user.upper()}", None)
