"""The signer during database outages and key rotations (no database: a loader that fails on demand)."""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs

import pytest

from mediagate.media.signing import SignatureInvalid, Signer, SigningKeyMaterial, UnknownKey

PATH = "/AC" + "1" * 32 + "/ME" + "1" * 32


class FlakyKeys:
    """A key loader standing in for the database; ``down`` makes it fail like an outage."""

    def __init__(self, *keys: SigningKeyMaterial) -> None:
        self.keys = list(keys)
        self.down = False
        self.loads = 0

    def __call__(self) -> list[SigningKeyMaterial]:
        self.loads += 1
        if self.down:
            raise ConnectionRefusedError("database is down")
        return list(self.keys)


def key(kid: str, created: float) -> SigningKeyMaterial:
    return SigningKeyMaterial(kid=kid, secret=secrets.token_bytes(32), active=True, created=created)


def kid_of(query: str) -> str:
    return parse_qs(query)["Key-Pair-Id"][0]


def verify(signer: Signer, query: str) -> None:
    p = {k: v[0] for k, v in parse_qs(query).items()}
    signer.verify(PATH, p["Expires"], p["Signature"], p["Key-Pair-Id"], p["Issued"])


def test_outage_keeps_last_good_keys_and_backs_off() -> None:
    keys = FlakyKeys(key("KI-a", time.time() - 3600))
    signer = Signer(keys, 600, refresh_seconds=0.01)
    signer.reload()
    url = signer.sign(PATH)
    keys.down = True
    time.sleep(0.02)  # the keys are stale now: the next use tries a reload, which fails
    loads_before = keys.loads
    for _ in range(200):
        verify(signer, url)  # does not raise: the last good keys still verify
        assert kid_of(signer.sign(PATH)) == "KI-a"
    # Backoff: the 400 uses above did not each retry the failing database.
    assert keys.loads - loads_before < 10
    # Recovery: the next reload succeeds and clears the backoff.
    keys.down = False
    assert signer.try_reload()
    assert kid_of(signer.sign(PATH)) == "KI-a"


def test_a_failing_first_load_is_an_error() -> None:
    keys = FlakyKeys(key("KI-a", 0))
    keys.down = True
    signer = Signer(keys, 600)
    with pytest.raises(ConnectionRefusedError):
        signer.sign(PATH)


def test_a_new_key_signs_only_after_it_has_been_published_for_two_intervals() -> None:
    now = time.time()
    old, new = key("KI-old", now - 3600), key("KI-new", now)
    signer = Signer(FlakyKeys(old, new), 600, refresh_seconds=5.0)
    signer.reload()
    assert signer.adopt_after == 10.0
    # Published, and verifiable at once ...
    assert signer.signing_key(now) == old
    assert signer.signing_key(now + 9.9) == old
    # ... and every process switches at the same moment, decided by its publication time.
    assert signer.signing_key(now + 10.0) == new


def test_the_very_first_key_signs_at_once() -> None:
    now = time.time()
    signer = Signer(FlakyKeys(key("KI-only", now)), 600, refresh_seconds=5.0)
    signer.reload()
    assert kid_of(signer.sign(PATH)) == "KI-only"


def test_background_refresh_never_loads_on_the_request_path() -> None:
    keys = FlakyKeys(key("KI-a", time.time() - 3600))
    signer = Signer(keys, 600, refresh_seconds=3600)
    signer.reload()
    signer.start()
    try:
        loads = keys.loads
        with pytest.raises(UnknownKey):
            signer.verify(PATH, str(int(time.time()) + 60), "x", "KI-unknown")
        with pytest.raises(SignatureInvalid):
            signer.verify(PATH, str(int(time.time()) + 60), "x", "KI-a")
        signer.sign(PATH)
        assert keys.loads == loads
    finally:
        signer.stop()
