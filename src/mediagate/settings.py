"""One typed settings object, read once from ``MEDIAGATE_*`` at start-up.

Derived URLs (the two media hosts) default to path prefixes of the API's own
base URL so that the embedded default works from a single port; production
deployments point them at their own hostnames.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("mediagate")

SECURE_PREFIX = "/_media/secure"
PUBLIC_PREFIX = "/_media/public"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIAGATE_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    secure_media_url: str = ""
    public_media_url: str = ""
    signed_url_ttl: int = Field(default=14400, ge=1, le=7 * 24 * 3600)
    # How often each process re-reads signing keys, i.e. how long a key
    # retired by another process may still verify here.
    signing_key_refresh: float = Field(default=5.0, gt=0, le=300)
    allow_private_media_urls: bool = False
    secret_key: str = ""
    # Upper bound on a single stored object, whatever the channel allows.
    max_media_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    log_level: str = "info"
    # Webhook retries wait base, 2*base, 4*base, ... (capped at 10 minutes) between attempts.
    webhook_retry_base: float = Field(default=1.0, gt=0, le=600)
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    # Web console sessions: signed out after this long without a request, and
    # after this long in any case.
    console_idle_timeout: int = Field(default=30 * 60, ge=1)
    console_session_max_age: int = Field(default=12 * 3600, ge=1)
    # Zero-copy delivery through a front nginx (the X-Accel-Redirect pattern).
    # When set (e.g. "/_protected"), the media hosts still check the signature,
    # expiry and the media row, then answer with all their headers plus
    # ``X-Accel-Redirect: {prefix}/{path under the media dir}`` and no body; the
    # front nginx sends the file from an ``internal`` location with sendfile
    # (Range and HEAD included). Python never touches the bytes, which granian
    # otherwise copies through user space (bench/analysis.md, target 2).
    # Empty = off: mediagate sends the bytes itself. Only enable it behind such
    # an nginx: a client talking to mediagate directly would get empty bodies.
    accel_redirect_prefix: str = ""

    # --- Storage and delivery (issue 11: the storage seam) ---
    # Where media bytes live: empty or ``file:///abs/path`` = the local disk
    # (default ``{data_dir}/media``); ``s3://BUCKET/PREFIX`` = an S3 bucket
    # (credentials from the standard AWS chain: env, profile, instance role).
    storage_url: str = ""
    # S3 endpoint for SeaweedFS/MinIO/..., empty = AWS itself.
    s3_endpoint_url: str = ""
    # How the content URL's 307 delivers secured media: ``edge`` = our secured
    # host (verifies our signature, streams from disk or S3, key-id revocation);
    # ``presign`` = straight to an S3 presigned GET (S3 storage only).
    delivery: Literal["edge", "presign"] = "edge"

    @field_validator("public_url", "secure_media_url", "public_media_url")
    @classmethod
    def _valid_base_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"must be an http(s) base URL without query or fragment, got {value!r}")
        return value.rstrip("/")

    @field_validator("accel_redirect_prefix")
    @classmethod
    def _valid_accel_prefix(cls, value: str) -> str:
        if not value:
            return value
        prefix = value.rstrip("/")
        if not prefix.startswith("/") or any(c in prefix for c in "?#% \t\r\n"):
            raise ValueError(f"must be an absolute path prefix such as /_protected, got {value!r}")
        return prefix

    @field_validator("storage_url")
    @classmethod
    def _valid_storage_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme == "s3" and parts.netloc and not parts.query and not parts.fragment:
            return value.rstrip("/")
        if parts.scheme == "file" and parts.path.startswith("/") and not parts.netloc:
            return value
        raise ValueError(f"must be s3://BUCKET[/PREFIX] or file:///absolute/path, got {value!r}")

    @field_validator("s3_endpoint_url")
    @classmethod
    def _valid_endpoint(cls, value: str) -> str:
        if value and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        if not self.public_url:
            shown = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
            self.public_url = f"http://{shown}:{self.port}"
        if not self.secure_media_url:
            self.secure_media_url = self.public_url + SECURE_PREFIX
        if not self.public_media_url:
            self.public_media_url = self.public_url + PUBLIC_PREFIX
        if self.secure_media_url == self.public_media_url:
            raise ValueError("MEDIAGATE_SECURE_MEDIA_URL and MEDIAGATE_PUBLIC_MEDIA_URL must differ")
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'mediagate.db').resolve()}"
        if self.delivery == "presign" and not self.uses_s3:
            raise ValueError("MEDIAGATE_DELIVERY=presign needs MEDIAGATE_STORAGE_URL=s3://BUCKET/...")
        return self

    @property
    def uses_s3(self) -> bool:
        return self.storage_url.startswith("s3://")

    def startup_problem(self) -> str | None:
        """A one-line reason the server must not start, or ``None``.

        With S3 or a database server (anything but SQLite) the deployment is
        meant to be shared by several processes or hosts; a key file generated in one host's data folder
        would give each its own master secret (sealed credentials and signed
        URLs unreadable elsewhere), so the secret must be configured."""
        shared = self.uses_s3 or not self.database_url.startswith("sqlite")
        if shared and not self.secret_key:
            what = "S3 storage" if self.uses_s3 else "a database server (not SQLite)"
            return (
                f"MEDIAGATE_SECRET_KEY is required with {what}: every process must share one master "
                "secret (generate one with: python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        return None

    @property
    def media_dir(self) -> Path:
        if self.storage_url.startswith("file://"):
            return Path(urlsplit(self.storage_url).path)
        return self.data_dir / "media"

    def warn_if_unsafe(self) -> None:
        if self.allow_private_media_urls:
            log.warning(
                "!!! MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS=true: MediaUrl may point at loopback and private "
                "addresses. This is for local development and tests only; never run it in production. !!!"
            )
