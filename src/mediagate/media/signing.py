"""Signed URLs for the secured media host.

One signer for the whole service: HMAC-SHA256 (standard library), a key id
in every URL, the expiry and a purpose label inside the signed payload, and
``hmac.compare_digest`` for the check. The signature is verified before the
expiry so that "expired" is only ever said of a URL we really issued.

Keys live in the database (sealed with the master secret) so that every
server process signs and verifies with the same set; retiring a key kills
every URL signed with it. Each process refreshes its copy every
``refresh_seconds`` on a background thread (the request path never waits
for the database) and keeps its last good keys while the database is down;
a retirement made in this process applies at once. A new key is verified
everywhere before anyone signs with it (``Signer.adopt_after``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mediagate.core.clock import Clock, SystemClock
from mediagate.core.inputs import canonical_int

PURPOSE = b"mediagate-secure-media-v1"
# v2 also signs the issue time (``Issued``, epoch milliseconds), so that an
# early revocation ("every URL of this media / account signed before T is
# void", media/revocation.py) can be checked against a value the client
# cannot change. v1 URLs (no ``Issued``) still verify until they expire; for
# revocation they count as issued at time 0, so any revocation voids them.
PURPOSE_V2 = b"mediagate-secure-media-v2"

log = logging.getLogger("mediagate.signing")


class SignatureError(Exception):
    reason = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SignatureInvalid(SignatureError):
    reason = "invalid"


class SignatureExpired(SignatureError):
    reason = "expired"


class UnknownKey(SignatureInvalid):
    """The key id is not among the keys this process knows (yet)."""


@dataclass(frozen=True)
class SigningKeyMaterial:
    kid: str
    secret: bytes
    active: bool
    # When the key was published (epoch seconds): it signs only after it has
    # been verifiable everywhere for a while (``Signer.adopt_after``).
    created: float = 0.0

    @functools.cached_property
    def hmac_base(self) -> hmac.HMAC:
        """The keyed HMAC state, copied per signature: keying costs more than the
        MAC of a URL itself, and the content redirect signs on every request."""
        return hmac.new(self.secret, digestmod=hashlib.sha256)


KeyLoader = Callable[[], list[SigningKeyMaterial]]

# Longest wait between reload attempts while the database is failing.
MAX_BACKOFF = 30.0


class Signer:
    def __init__(
        self, load_keys: KeyLoader, ttl: int, refresh_seconds: float = 5.0, clock: Clock | None = None
    ) -> None:
        self._load = load_keys
        self.ttl = ttl
        # Issue, expiry and key adoption read this clock (the runtime's); the
        # refresh and reload backoff below are elapsed process time (monotonic),
        # so moving the test clock changes which URLs are valid, not how often
        # keys are re-read.
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKeyMaterial] = {}
        self._active: list[SigningKeyMaterial] = []  # oldest first
        # signing_key's last answer: (the list it was chosen from, valid from, until, key).
        self._chosen: tuple[list[SigningKeyMaterial], float, float, SigningKeyMaterial | None] | None = None
        self._loaded_at = float("-inf")
        self._failures = 0
        self._next_attempt = float("-inf")  # monotonic; later while reloads fail (backoff)
        self._last_unknown_reload = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def adopt_after(self) -> float:
        """Seconds a new key is published before any process signs with it.

        Every process re-reads keys at least once per refresh interval, so after
        two intervals every one of them verifies the new key; and because the
        switch is decided from the key's publication time, not from when a
        process happened to reload, all processes switch at the same moment.
        A staged rotation retires the old key only after that moment."""
        return 2 * self._refresh

    # ---------------------------------------------------------------- loading

    def reload(self) -> None:
        """Re-read the keys now; raises when the loader fails (the old keys stay)."""
        keys = self._load()
        with self._lock:
            self._keys = {k.kid: k for k in keys}
            # The loader returns keys oldest first.
            self._active = [k for k in keys if k.active]
            self._loaded_at = time.monotonic()
            self._failures = 0
            self._next_attempt = float("-inf")

    def try_reload(self) -> bool:
        """Reload, or keep serving from the last good keys and back off.

        During a database outage this is what keeps signed downloads working:
        the keys we have are still the keys, and a failed reload is retried
        after 1, 2, 4, ... refresh intervals (capped), not on every request."""
        try:
            self.reload()
            return True
        except Exception as exc:
            with self._lock:
                self._failures += 1
                delay = min(self._refresh * 2 ** (self._failures - 1), max(MAX_BACKOFF, self._refresh))
                self._next_attempt = time.monotonic() + delay
                has_keys = bool(self._keys)
            # The exception's type only: its text may carry a connection string.
            log.warning(
                "signing keys could not be reloaded (%s); keeping the last good keys, retrying in %.1fs",
                type(exc).__name__,
                delay,
            )
            if not has_keys:
                raise
            return False

    def try_reload_quietly(self) -> None:
        """``try_reload`` that never raises (an invalidation reset handler)."""
        try:
            self.try_reload()
        except Exception:
            log.warning("signing keys could not be reloaded; retrying in the background")

    @property
    def refreshing(self) -> bool:
        """True while the background refresh runs: ``sign``/``verify`` never block then."""
        return self._thread is not None

    def start(self) -> None:
        """Refresh keys on a background thread from now on; the request path
        never reads the database for keys again (until ``stop``)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="signing-key-refresh", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._wait_seconds()):
            try:
                self.try_reload()
            except Exception:  # no keys at all yet: keep trying
                log.exception("signing key refresh failed")

    def _wait_seconds(self) -> float:
        with self._lock:
            now = time.monotonic()
            due = max(self._loaded_at + self._refresh, self._next_attempt)
        return max(due - now, 0.05)

    def _ensure_fresh(self) -> None:
        if self._thread is not None:
            return  # the background thread keeps the keys fresh
        now = time.monotonic()
        if now - self._loaded_at > self._refresh and now >= self._next_attempt:
            self.try_reload()

    def reload_for_unknown_key(self) -> None:
        """A URL names a key we do not know: maybe another process created it
        just now (an emergency retirement signs with a fresh key at once). At
        most one such reload a second, so made-up key ids cannot turn into a
        database query per request. Blocking: run it off the event loop."""
        now = time.monotonic()
        with self._lock:
            last = max(self._last_unknown_reload, self._loaded_at)
            if now - last < 1.0 or now < self._next_attempt:
                return
            self._last_unknown_reload = now
        self.try_reload()

    def forget(self, kid: str) -> None:
        """Drop a retired key from this process at once."""
        with self._lock:
            self._keys.pop(kid, None)
            self._active = [k for k in self._active if k.kid != kid]
        self.try_reload()

    # ---------------------------------------------------------------- signing

    def signing_key(self, wall_now: float | None = None) -> SigningKeyMaterial | None:
        """The newest active key published at least ``adopt_after`` ago; before
        any is that old, the oldest active key (the one already in use, or the
        very first key, which no other process can have missed signing with)."""
        now = self.clock.time() if wall_now is None else wall_now
        active = self._active
        cached = self._chosen
        # The choice changes only when the key list does or a newer key comes of
        # age: remembered until then (the content redirect signs on every request).
        if cached is not None and cached[0] is active and cached[1] <= now < cached[2]:
            return cached[3]
        cutoff = now - self.adopt_after
        adopted = [k for k in active if k.created <= cutoff]
        chosen = adopted[-1] if adopted else (active[0] if active else None)
        # Valid from the newest adopted key's coming of age until the next key's.
        since = max((k.created + self.adopt_after for k in adopted), default=float("-inf"))
        until = min(
            (k.created + self.adopt_after for k in active if k.created > cutoff), default=float("inf")
        )
        self._chosen = (active, since, until, chosen)
        return chosen

    def sign(self, path: str, *, now: float | None = None, ttl: int | None = None) -> str:
        """Return the query string (``Expires``, ``Issued``, ``Signature``, ``Key-Pair-Id``) for ``path``."""
        self._ensure_fresh()
        key = self.signing_key()
        if key is None:
            raise RuntimeError("no active media signing key")
        wall = now if now is not None else self.clock.time()
        expires = int(wall) + (ttl if ttl is not None else self.ttl)
        issued = int(wall * 1000)
        signature = _mac(key, key.kid, path, expires, issued)
        # Every value is URL-safe already (digits, base64url, a sid): no urlencode on the hot path.
        return f"Expires={expires}&Issued={issued}&Signature={signature}&Key-Pair-Id={key.kid}"

    def verify(
        self,
        path: str,
        expires: str,
        signature: str,
        kid: str,
        issued: str = "",
        *,
        now: float | None = None,
    ) -> int:
        """Check a signed URL without blocking: never touches the database when
        the background refresh runs. An unknown key id raises ``UnknownKey``;
        the caller may ``reload_for_unknown_key`` off the loop and try again.

        Returns the URL's signed issue time in epoch milliseconds (0 for a v1
        URL without ``Issued``), for the caller's revocation check."""
        # One spelling of Expires only (ASCII digits, no leading zero): "0<real>" and
        # the Arabic-Indic digits of the real value verified too, so a signed URL
        # had many forms, and "²" passed isdigit() and then failed int() (a 500).
        when = canonical_int(expires, max_digits=12)
        if when is None or not signature or not kid:
            raise SignatureInvalid("The URL is not a valid signed media URL.")
        issued_ms: int | None = None
        if issued:
            issued_ms = canonical_int(issued, max_digits=15)
            if issued_ms is None:
                raise SignatureInvalid("The URL is not a valid signed media URL.")
        self._ensure_fresh()
        key = self._keys.get(kid)
        if key is None and self._thread is None:
            # No background refresh (CLI, tests): the old inline behaviour.
            self.reload_for_unknown_key()
            key = self._keys.get(kid)
        if key is None:
            raise UnknownKey("The URL's signing key is unknown or has been retired.")
        if not key.active:
            raise SignatureInvalid("The URL's signing key is unknown or has been retired.")
        expected = _mac(key, kid, path, when, issued_ms)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise SignatureInvalid("The URL's signature does not match.")
        if when < (now if now is not None else self.clock.time()):
            raise SignatureExpired("The URL has expired. Request the media again to get a fresh URL.")
        return issued_ms or 0


def _mac(key: SigningKeyMaterial, kid: str, path: str, expires: int, issued: int | None = None) -> str:
    parts = [PURPOSE, kid.encode(), path.encode(), str(expires).encode()]
    if issued is not None:
        # A distinct purpose label: a v1 MAC can never pass as a v2 one (or back).
        parts = [PURPOSE_V2, *parts[1:], str(issued).encode()]
    mac = key.hmac_base.copy()
    mac.update(b"\n".join(parts))
    digest = mac.digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
