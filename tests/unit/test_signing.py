"""The signer on its own: an in-memory key loader, explicit clocks, no database."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode

import pytest

from mediagate.media.signing import SignatureExpired, SignatureInvalid, Signer, SigningKeyMaterial

NOW = 1_700_000_000
PATH = "/AC" + "1" * 32 + "/ME" + "1" * 32
OTHER_MEDIA_PATH = "/AC" + "1" * 32 + "/ME" + "2" * 32


def key(kid: str, active: bool = True) -> SigningKeyMaterial:
    return SigningKeyMaterial(kid=kid, secret=secrets.token_bytes(32), active=active)


class Keys:
    """What the database would return, oldest first; tests edit it between calls."""

    def __init__(self, *keys: SigningKeyMaterial) -> None:
        self.keys = list(keys)
        self.loads = 0

    def __call__(self) -> list[SigningKeyMaterial]:
        self.loads += 1
        return list(self.keys)

    def retire(self, kid: str) -> None:
        self.keys = [SigningKeyMaterial(k.kid, k.secret, False) if k.kid == kid else k for k in self.keys]


def params(query: str) -> dict[str, str]:
    parsed = parse_qs(query, strict_parsing=True)
    assert all(len(v) == 1 for v in parsed.values())
    return {k: v[0] for k, v in parsed.items()}


def verify(signer: Signer, path: str, p: dict[str, str], now: float = NOW) -> None:
    signer.verify(
        path,
        p.get("Expires", ""),
        p.get("Signature", ""),
        p.get("Key-Pair-Id", ""),
        p.get("Issued", ""),
        now=now,
    )


def make(keys: Keys, ttl: int = 600, refresh: float = 3600.0) -> Signer:
    return Signer(keys, ttl, refresh_seconds=refresh)


def test_round_trip() -> None:
    signer = make(Keys(key("KI-a")), ttl=600)
    p = params(signer.sign(PATH, now=NOW))
    assert set(p) == {"Expires", "Issued", "Signature", "Key-Pair-Id"}
    assert p["Key-Pair-Id"] == "KI-a"
    assert p["Expires"] == str(NOW + 600)
    assert p["Issued"] == str(NOW * 1000)
    verify(signer, PATH, p)  # does not raise
    verify(signer, PATH, p, now=NOW + 599)


def test_explicit_ttl_overrides_default() -> None:
    signer = make(Keys(key("KI-a")), ttl=600)
    assert params(signer.sign(PATH, now=NOW, ttl=5))["Expires"] == str(NOW + 5)


def _flip(value: str) -> str:
    return ("B" if value[0] == "A" else "A") + value[1:]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda p: {**p, "Signature": _flip(p["Signature"])}, id="signature-first-char"),
        pytest.param(lambda p: {**p, "Signature": p["Signature"][:-1]}, id="signature-truncated"),
        pytest.param(lambda p: {**p, "Signature": p["Signature"] + "A"}, id="signature-extended"),
        pytest.param(lambda p: {**p, "Expires": str(int(p["Expires"]) + 1)}, id="expires-later"),
        pytest.param(lambda p: {**p, "Expires": str(int(p["Expires"]) - 1)}, id="expires-earlier"),
        pytest.param(lambda p: {**p, "Expires": "9" * 12}, id="expires-far-future"),
        pytest.param(lambda p: {**p, "Expires": "-1"}, id="expires-negative"),
        pytest.param(lambda p: {**p, "Expires": "1e10"}, id="expires-not-digits"),
        pytest.param(lambda p: {**p, "Expires": "9" * 13}, id="expires-too-long"),
        pytest.param(lambda p: {**p, "Key-Pair-Id": "KI-b"}, id="kid-other-active-key"),
        pytest.param(lambda p: {**p, "Key-Pair-Id": "KI-nope"}, id="kid-unknown"),
        pytest.param(lambda p: {k: v for k, v in p.items() if k != "Signature"}, id="drop-signature"),
        pytest.param(lambda p: {k: v for k, v in p.items() if k != "Expires"}, id="drop-expires"),
        pytest.param(lambda p: {k: v for k, v in p.items() if k != "Key-Pair-Id"}, id="drop-kid"),
        # The issue time is what early revocation is checked against: it is signed.
        pytest.param(lambda p: {**p, "Issued": str(int(p["Issued"]) + 1)}, id="issued-later"),
        pytest.param(lambda p: {k: v for k, v in p.items() if k != "Issued"}, id="drop-issued"),
        pytest.param(lambda p: {**p, "Issued": "0" + p["Issued"]}, id="issued-leading-zero"),
    ],
)
def test_each_tampered_field_is_invalid(tamper: Callable[[dict[str, str]], dict[str, str]]) -> None:
    # Two active keys, so "another valid kid" is a real alternative, not just an unknown one.
    keys = Keys(key("KI-b"), key("KI-a"))
    signer = make(keys)
    original = params(signer.sign(PATH, now=NOW))
    assert original["Key-Pair-Id"] == "KI-a"
    tampered = tamper(original)
    assert tampered != original
    with pytest.raises(SignatureInvalid) as err:
        verify(signer, PATH, tampered)
    assert err.value.reason == "invalid"
    verify(signer, PATH, original)  # the untouched URL still works


def test_path_is_bound() -> None:
    signer = make(Keys(key("KI-a")))
    p = params(signer.sign(PATH, now=NOW))
    with pytest.raises(SignatureInvalid):
        verify(signer, OTHER_MEDIA_PATH, p)
    other_account = "/AC" + "2" * 32 + "/ME" + "1" * 32
    with pytest.raises(SignatureInvalid):
        verify(signer, other_account, p)
    with pytest.raises(SignatureInvalid):
        verify(signer, PATH + "/", p)


def test_expired_only_when_signature_is_valid() -> None:
    signer = make(Keys(key("KI-a")), ttl=10)
    p = params(signer.sign(PATH, now=NOW))
    verify(signer, PATH, p, now=NOW + 10)  # the expiry second itself is still valid
    with pytest.raises(SignatureExpired) as err:
        verify(signer, PATH, p, now=NOW + 11)
    assert err.value.reason == "expired"
    assert "expired" in err.value.message.lower()

    # Tampered and expired: never call a URL we did not issue "expired".
    tampered = {**p, "Signature": _flip(p["Signature"])}
    with pytest.raises(SignatureInvalid) as invalid:
        verify(signer, PATH, tampered, now=NOW + 11)
    assert not isinstance(invalid.value, SignatureExpired)
    assert invalid.value.reason == "invalid"
    # Pushing Expires into the future to revive an expired URL breaks the signature.
    with pytest.raises(SignatureInvalid):
        verify(signer, PATH, {**p, "Expires": str(NOW + 3600)}, now=NOW + 11)


def test_same_kid_different_secret_is_invalid() -> None:
    """A URL signed by another deployment that happens to use the same kid does not verify."""
    ours = make(Keys(key("KI-a")))
    theirs = make(Keys(key("KI-a")))
    p = params(theirs.sign(PATH, now=NOW))
    with pytest.raises(SignatureInvalid):
        verify(ours, PATH, p)


def test_unknown_kid() -> None:
    keys = Keys(key("KI-a"))
    signer = make(keys)
    foreign = make(Keys(key("KI-z")))
    p = params(foreign.sign(PATH, now=NOW))
    with pytest.raises(SignatureInvalid) as err:
        verify(signer, PATH, p)
    assert "unknown" in err.value.message


def test_kid_created_elsewhere_is_picked_up_without_waiting_for_refresh() -> None:
    keys = Keys(key("KI-a"))
    signer = make(keys, refresh=3600.0)
    signer.reload()
    # Another process creates a key and signs with it.
    new = key("KI-b")
    keys.keys.append(new)
    p = params(make(Keys(new)).sign(PATH, now=NOW))
    # The first lookup of an unknown kid may reload at most once a second; the
    # signer was loaded just now, so wait for the rate limit to allow it.
    signer._loaded_at -= 2.0
    verify(signer, PATH, p)


def test_unknown_kids_do_not_reload_on_every_request() -> None:
    keys = Keys(key("KI-a"))
    signer = make(keys, refresh=3600.0)
    signer.reload()
    loads = keys.loads
    for i in range(50):
        with pytest.raises(SignatureInvalid):
            verify(signer, PATH, {"Expires": str(NOW + 60), "Signature": "x", "Key-Pair-Id": f"KI-{i}"})
    assert keys.loads == loads


def test_retired_key_fails() -> None:
    keys = Keys(key("KI-a"))
    signer = make(keys, refresh=0.0)  # reload on every call, as if the refresh had elapsed
    p = params(signer.sign(PATH, now=NOW))
    verify(signer, PATH, p)
    keys.retire("KI-a")
    with pytest.raises(SignatureInvalid) as err:
        verify(signer, PATH, p)
    assert "retired" in err.value.message
    # A retired key does not sign either; with no active key, signing is an error.
    with pytest.raises(RuntimeError):
        signer.sign(PATH, now=NOW)


def test_forget_applies_a_retirement_at_once() -> None:
    keys = Keys(key("KI-a"), key("KI-b"))
    signer = make(keys, refresh=3600.0)
    p = params(signer.sign(PATH, now=NOW))
    assert p["Key-Pair-Id"] == "KI-b"
    keys.retire("KI-b")
    # Within the refresh interval the cached key still verifies ...
    verify(signer, PATH, p)
    # ... until this process is told about the retirement.
    signer.forget("KI-b")
    with pytest.raises(SignatureInvalid):
        verify(signer, PATH, p)
    # The remaining active key takes over signing.
    fresh = params(signer.sign(PATH, now=NOW))
    assert fresh["Key-Pair-Id"] == "KI-a"
    verify(signer, PATH, fresh)


def test_newest_active_key_signs() -> None:
    keys = Keys(key("KI-old"), key("KI-mid"), key("KI-new", active=False))
    signer = make(keys)
    assert params(signer.sign(PATH, now=NOW))["Key-Pair-Id"] == "KI-mid"


def test_rotation_keeps_old_urls_valid_until_retired() -> None:
    keys = Keys(key("KI-1"))
    signer = make(keys)
    old = params(signer.sign(PATH, now=NOW))
    assert old["Key-Pair-Id"] == "KI-1"

    keys.keys.append(key("KI-2"))
    signer.reload()
    new = params(signer.sign(PATH, now=NOW))
    assert new["Key-Pair-Id"] == "KI-2"
    verify(signer, PATH, old)
    verify(signer, PATH, new)

    keys.retire("KI-1")
    signer.reload()
    with pytest.raises(SignatureInvalid):
        verify(signer, PATH, old)
    verify(signer, PATH, new)


def test_no_keys_at_all() -> None:
    signer = make(Keys())
    with pytest.raises(RuntimeError):
        signer.sign(PATH, now=NOW)
    with pytest.raises(SignatureInvalid):
        verify(signer, PATH, {"Expires": str(NOW + 60), "Signature": "abc", "Key-Pair-Id": "KI-a"})


def test_signature_is_url_safe() -> None:
    signer = make(Keys(key("KI-a")))
    for i in range(20):
        query = signer.sign(f"/AC{i:032x}/ME{i:032x}", now=NOW)
        sig = params(query)["Signature"]
        assert set(sig) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert urlencode({"Signature": sig}) == f"Signature={sig}"


def test_verify_returns_the_signed_issue_time() -> None:
    signer = make(Keys(key("KI-a")), ttl=600)
    p = params(signer.sign(PATH, now=NOW + 0.25))
    issued = signer.verify(PATH, p["Expires"], p["Signature"], p["Key-Pair-Id"], p["Issued"], now=NOW)
    assert issued == NOW * 1000 + 250


def test_a_v1_url_without_issue_time_still_verifies_as_issued_at_zero() -> None:
    # URLs handed out before the upgrade keep working until they expire, and any
    # early revocation voids them (issued "at 0" is before every cutoff).
    from mediagate.media.signing import _mac

    material = key("KI-a")
    signer = make(Keys(material), ttl=600)
    expires = NOW + 600
    v1 = _mac(material, "KI-a", PATH, expires)
    assert signer.verify(PATH, str(expires), v1, "KI-a", now=NOW) == 0
    # A v1 MAC does not pass as a v2 one with an issue time added.
    with pytest.raises(SignatureInvalid):
        signer.verify(PATH, str(expires), v1, "KI-a", str(NOW * 1000), now=NOW)
