"""The server's master secret and what is derived from it.

* Credential hashes: auth tokens and API key secrets are 128-bit random
  values, so a keyed SHA-256 (HMAC with a pepper derived from the master
  secret) is the right verifier: brute force is hopeless and a slow KDF on
  every request would only cost latency on the hot content redirect.
* Sealing: auth tokens must stay retrievable (webhooks are signed with them,
  the console reveals them), so they are stored AES-GCM encrypted, never in
  plain text. Media signing keys are sealed the same way.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=b"mediagate:" + purpose).derive(master)


class Keyring:
    def __init__(self, master: bytes) -> None:
        if len(master) < 32:
            raise ValueError("the master secret must be at least 32 bytes")
        self._pepper = _derive(master, b"credential-hash")
        self._aead = AESGCM(_derive(master, b"seal"))
        self._master = master

    def derived_key(self, purpose: str) -> bytes:
        """A 32-byte key for one named purpose (e.g. signing console session
        cookies), independent of the credential pepper and the sealing key."""
        return _derive(self._master, b"derived:" + purpose.encode())

    def hash_secret(self, secret: str) -> str:
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()

    def verify_secret(self, secret: str, stored_hash: str | None) -> bool:
        if not stored_hash:
            return False
        return hmac.compare_digest(self.hash_secret(secret), stored_hash)

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def unseal(self, token: str, *, context: str) -> str:
        raw = base64.urlsafe_b64decode(token.encode())
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()


def load_master_secret(configured: str, data_dir: Path) -> bytes:
    """``MEDIAGATE_SECRET_KEY`` wins (required when several processes share a
    database); otherwise a key file is created once in the data folder."""
    if configured:
        try:
            raw = bytes.fromhex(configured)
        except ValueError:
            raw = base64.urlsafe_b64decode(configured + "=" * (-len(configured) % 4))
        if len(raw) < 32:
            raise ValueError("MEDIAGATE_SECRET_KEY must encode at least 32 bytes (64 hex digits)")
        return raw
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # Write the key to a private temporary file first, then link it into
        # place: os.link is atomic and fails if the name exists, so a process
        # starting at the same moment never reads a half-written (empty) key
        # file, which an O_EXCL create followed by a write allowed.
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".secret.key.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
                fh.flush()
                os.fsync(fh.fileno())
            # FileExistsError: another process won the race; use its key.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return bytes.fromhex(path.read_text().strip())


def parse_master_keys(spec: str) -> dict[str, bytes]:
    """``MEDIAGATE_MASTER_KEYS``: ``id:KEY,id2:KEY2``, each KEY 32 bytes as 64 hex
    digits or URL-safe base64."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key_id, sep, encoded = item.partition(":")
        key_id = key_id.strip()
        if (
            not sep
            or not key_id
            or not key_id.isascii()
            or not key_id.replace("-", "").replace("_", "").isalnum()
        ):
            raise ValueError("each master key is id:KEY, the id letters, digits, - or _")
        if key_id in keys:
            raise ValueError(f"master key id {key_id!r} appears twice")
        encoded = encoded.strip()
        try:
            raw = bytes.fromhex(encoded)
        except ValueError:
            try:
                raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except ValueError:
                raise ValueError(f"master key {key_id!r} is neither hex nor base64") from None
        if len(raw) != 32:
            raise ValueError(f"master key {key_id!r} must be 32 bytes (64 hex digits)")
        keys[key_id] = raw
    return keys
