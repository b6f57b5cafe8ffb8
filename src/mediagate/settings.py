"""One typed settings object, read once from ``MEDIAGATE_*`` at start-up.

Derived URLs (the two media hosts) default to path prefixes of the API's own
base URL so that the embedded default works from a single port; production
deployments point them at their own hostnames.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("mediagate")

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
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

    @field_validator("public_url", "secure_media_url", "public_media_url")
    @classmethod
    def _valid_base_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"must be an http(s) base URL without query or fragment, got {value!r}")
        return value.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _valid_log_level(cls, value: str) -> str:
        # uvicorn's names; a typo used to surface as a traceback from logging.
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.lower()

    @field_validator("accel_redirect_prefix")
    @classmethod
    def _valid_accel_prefix(cls, value: str) -> str:
        if not value:
            return value
        prefix = value.rstrip("/")
        if not prefix.startswith("/") or any(c in prefix for c in "?#% \t\r\n"):
            raise ValueError(f"must be an absolute path prefix such as /_protected, got {value!r}")
        return prefix

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
        return self

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    def warn_if_unsafe(self) -> None:
        if self.allow_private_media_urls:
            log.warning(
                "!!! MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS=true: MediaUrl may point at loopback and private "
                "addresses. This is for local development and tests only; never run it in production. !!!"
            )


# --- Reading the environment for the CLI and the server --------------------------------------
# A bad value stops with one line that names the variable and what it accepts
# (not pydantic's multi-line report or a traceback), and a MEDIAGATE_* name that
# is no setting (a typo, so the setting silently keeps its default) is warned about.

ENV_PREFIX = "MEDIAGATE_"
# MEDIAGATE_* variables read by something other than Settings.
OTHER_VARIABLES = frozenset({"MEDIAGATE_TWILIO_OAI"})


class SettingsError(Exception):
    """A setting from the environment that cannot be used; the message is one line."""


def _accepts(name: str) -> str:
    field = Settings.model_fields[name]
    bounds = {}
    for rule in field.metadata:
        for attr, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(rule, attr, None) is not None:
                bounds[word] = getattr(rule, attr)
    kind = getattr(field.annotation, "__name__", str(field.annotation))
    words = {
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "str": "text",
        "Path": "a path",
    }
    text = words.get(kind, kind)
    if bounds:
        text += " " + " and ".join(f"{op} {value}" for op, value in bounds.items())
    return text


def _describe(error: Mapping[str, Any]) -> str:
    loc = error.get("loc") or ()
    if not loc:  # a check across settings (model validator)
        return str(error["msg"]).removeprefix("Value error, ")
    name = str(loc[0])
    variable = ENV_PREFIX + name.upper()
    reason = str(error["msg"]).removeprefix("Value error, ")
    accepts = "" if reason.startswith("must be") else f" (accepts {_accepts(name)})"
    shown = error.get("input")
    value = f"={shown!r}" if isinstance(shown, str) and len(shown) <= 80 else ""
    if name == "secret_key":
        value = ""  # never echo a secret
    return f"{variable}{value} is not valid: {reason}{accepts}"


def load(**overrides: Any) -> Settings:
    """``Settings()`` from the environment, with ``SettingsError`` instead of pydantic's report."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError("; ".join(_describe(e) for e in exc.errors())) from None


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each ``MEDIAGATE_*`` name that is no setting, with the nearest valid one."""
    valid = [name.upper() for name in Settings.model_fields]
    warnings = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in OTHER_VARIABLES:
            continue
        suffix = name.removeprefix(ENV_PREFIX).upper()
        if suffix in valid:
            continue
        # Compared without the shared prefix, which would make every name look close.
        near = difflib.get_close_matches(suffix, valid, n=1, cutoff=0.6)
        hint = f"; did you mean {ENV_PREFIX}{near[0]}?" if near else ""
        warnings.append(f"{name} is not a mediagate setting and is ignored{hint}")
    return warnings
