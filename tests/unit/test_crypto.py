"""The master secret, credential hashes and sealing (``mediagate.core.crypto``)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
import threading
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from mediagate.core.crypto import Keyring, load_master_secret


@pytest.fixture
def keyring() -> Keyring:
    return Keyring(secrets.token_bytes(32))


# --------------------------------------------------------------------------- hash / verify


def test_hash_is_a_stable_hex_digest(keyring: Keyring) -> None:
    h = keyring.hash_secret("s3cret-value")
    assert h == keyring.hash_secret("s3cret-value")
    assert len(h) == 64 and all(c in "0123456789abcdef" for c in h)
    assert keyring.hash_secret("s3cret-valuf") != h
    assert keyring.hash_secret("") != h


def test_hash_is_keyed_not_a_plain_digest(keyring: Keyring) -> None:
    secret = "0123456789abcdef0123456789abcdef"
    h = keyring.hash_secret(secret)
    assert h != hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in h


def test_different_master_keys_give_different_hashes() -> None:
    a, b = Keyring(secrets.token_bytes(32)), Keyring(secrets.token_bytes(32))
    assert a.hash_secret("same secret") != b.hash_secret("same secret")
    assert not b.verify_secret("same secret", a.hash_secret("same secret"))
    # The same master always derives the same pepper (several processes share a database).
    master = secrets.token_bytes(48)
    assert Keyring(master).hash_secret("x") == Keyring(master).hash_secret("x")


@pytest.mark.parametrize(
    "secret",
    ["plain", "with:colons:inside", "ünïcødé ✓", " leading and trailing ", "x" * 1000, ""],
)
def test_verify_accepts_exactly_the_hashed_secret(keyring: Keyring, secret: str) -> None:
    stored = keyring.hash_secret(secret)
    assert keyring.verify_secret(secret, stored) is True
    assert keyring.verify_secret(secret + "x", stored) is False
    assert keyring.verify_secret(secret.upper() + "!", stored) is False
    assert keyring.verify_secret(secret[:-1], stored) is (secret[:-1] == secret)


def test_verify_rejects_missing_or_malformed_stored_hash(keyring: Keyring) -> None:
    assert keyring.verify_secret("anything", None) is False
    assert keyring.verify_secret("anything", "") is False
    stored = keyring.hash_secret("anything")
    assert keyring.verify_secret("anything", stored[:-1]) is False  # length differs
    assert keyring.verify_secret("anything", stored.upper()) is False  # not the same digest text
    # A stored value that is the plain secret itself never verifies.
    assert keyring.verify_secret("anything", "anything") is False


def test_short_master_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Keyring(b"\x00" * 31)
    Keyring(b"\x00" * 32)  # the minimum is accepted


# --------------------------------------------------------------------------- seal / unseal


def test_seal_round_trip(keyring: Keyring) -> None:
    for plaintext in ["0123456789abcdef0123456789abcdef", "", "ünïcødé ✓", "x" * 5000]:
        token = keyring.seal(plaintext, context="auth-token:primary:AC1")
        assert keyring.unseal(token, context="auth-token:primary:AC1") == plaintext
        if plaintext:
            assert plaintext not in token
            assert plaintext.encode() not in base64.urlsafe_b64decode(token)


def test_seal_uses_a_fresh_nonce_each_time(keyring: Keyring) -> None:
    a = keyring.seal("same", context="c")
    b = keyring.seal("same", context="c")
    assert a != b
    assert keyring.unseal(a, context="c") == keyring.unseal(b, context="c") == "same"


def test_unseal_with_wrong_context_fails(keyring: Keyring) -> None:
    token = keyring.seal("token-of-AC1", context="auth-token:primary:AC1")
    for wrong in ["auth-token:primary:AC2", "auth-token:secondary:AC1", "", "auth-token:primary:AC1 "]:
        with pytest.raises(InvalidTag):
            keyring.unseal(token, context=wrong)


def test_unseal_with_another_master_fails(keyring: Keyring) -> None:
    token = keyring.seal("secret", context="c")
    with pytest.raises(InvalidTag):
        Keyring(secrets.token_bytes(32)).unseal(token, context="c")


def test_unseal_detects_tampering(keyring: Keyring) -> None:
    raw = bytearray(base64.urlsafe_b64decode(keyring.seal("secret", context="c")))
    for index in (0, 12, len(raw) - 1):  # nonce, ciphertext, tag
        tampered = bytearray(raw)
        tampered[index] ^= 0x01
        with pytest.raises(InvalidTag):
            keyring.unseal(base64.urlsafe_b64encode(bytes(tampered)).decode(), context="c")


# --------------------------------------------------------------------------- load_master_secret


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"  # created when missing
    first = load_master_secret("", data_dir)
    key_file = data_dir / "secret.key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first) == 32
    assert key_file.read_text().strip() == first.hex()
    # Reused, not regenerated: credentials hashed with it keep verifying.
    second = load_master_secret("", data_dir)
    assert second == first
    assert Keyring(second).verify_secret("t", Keyring(first).hash_secret("t"))
    # Another data folder gets another key.
    assert load_master_secret("", tmp_path / "other") != first


def test_key_file_mode_ignores_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_master_secret("", tmp_path / "data")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "data" / "secret.key").stat().st_mode) == 0o600


def test_concurrent_first_start_agrees_on_one_key(tmp_path: Path) -> None:
    """Several processes (server, CLI) starting on a fresh data folder at once
    must all read the same complete key, never a half-written file."""
    for attempt in range(20):
        data_dir = tmp_path / f"data{attempt}"
        barrier = threading.Barrier(8)
        results: list[bytes] = []
        errors: list[BaseException] = []

        def start(
            data_dir: Path = data_dir,
            barrier: threading.Barrier = barrier,
            results: list[bytes] = results,
            errors: list[BaseException] = errors,
        ) -> None:
            barrier.wait()
            try:
                results.append(load_master_secret("", data_dir))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(results) == 8
        assert len(set(results)) == 1 and len(results[0]) == 32
        assert (data_dir / "secret.key").read_text().strip() == results[0].hex()
        assert sorted(p.name for p in data_dir.iterdir()) == ["secret.key"]  # no temp files left


def test_configured_hex_secret_wins_over_the_file(tmp_path: Path) -> None:
    master = secrets.token_bytes(32)
    assert load_master_secret(master.hex(), tmp_path / "data") == master
    assert not (tmp_path / "data" / "secret.key").exists()
    # Uppercase hex decodes the same.
    assert load_master_secret(master.hex().upper(), tmp_path / "data") == master


def test_configured_base64_secret(tmp_path: Path) -> None:
    master = secrets.token_bytes(40)
    unpadded = base64.urlsafe_b64encode(master).decode().rstrip("=")
    assert load_master_secret(unpadded, tmp_path) == master
    assert load_master_secret(base64.urlsafe_b64encode(master).decode(), tmp_path) == master


@pytest.mark.parametrize(
    "configured",
    [
        "ab" * 31,  # 31 bytes of hex
        base64.urlsafe_b64encode(b"\x01" * 31).decode(),
        "short",
        "!!!!",
    ],
)
def test_short_configured_secret_is_refused(tmp_path: Path, configured: str) -> None:
    with pytest.raises(ValueError):
        load_master_secret(configured, tmp_path / "data")
    assert not (tmp_path / "data" / "secret.key").exists()
