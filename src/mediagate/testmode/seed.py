"""``MEDIAGATE_SEED_FILE``: fixed accounts, tokens, API keys, numbers and settings for a test suite.

Read at start (a bad file stops the server with one line) and applied at
start and after each ``POST /v1/Testing/Reset``, so a suite can hard-code its
credentials. JSON or TOML, one shape::

    [[accounts]]
    sid = "AC00000000000000000000000000000001"
    auth_token = "0123456789abcdef0123456789abcdef"
    friendly_name = "CI"                  # optional
    enforce_media_http_auth = true        # optional (new accounts: true)

    [[accounts.keys]]
    sid = "SK00000000000000000000000000000001"
    secret = "a-secret-of-16-or-more-chars"
    friendly_name = "CI key"              # optional

    [[accounts.numbers]]
    phone_number = "+15005550006"
    sms_url = "http://127.0.0.1:9000/sms" # optional, as the number's SmsUrl
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mediagate.core import sids

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

_PRINTABLE = r"^[\x21-\x7e]{16,128}$"  # printable, no spaces: it travels in Basic auth


class SeedError(Exception):
    """A seed file that cannot be used; the message is one line."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeedKey(_Model):
    sid: str = Field(pattern=rf"^{sids.KEY}[0-9a-f]{{32}}$")
    secret: str = Field(pattern=_PRINTABLE)
    friendly_name: str | None = Field(default=None, max_length=64)


class SeedNumber(_Model):
    phone_number: str
    friendly_name: str | None = None
    sms_url: str | None = None
    sms_method: str | None = None
    status_callback: str | None = None
    status_callback_method: str | None = None

    def fields(self) -> dict[str, str]:
        names = {
            "FriendlyName": self.friendly_name,
            "SmsUrl": self.sms_url,
            "SmsMethod": self.sms_method,
            "StatusCallback": self.status_callback,
            "StatusCallbackMethod": self.status_callback_method,
        }
        return {"PhoneNumber": self.phone_number, **{k: v for k, v in names.items() if v is not None}}


class SeedAccount(_Model):
    sid: str = Field(pattern=rf"^{sids.ACCOUNT}[0-9a-f]{{32}}$")
    auth_token: str = Field(pattern=_PRINTABLE)
    friendly_name: str = Field(default="Seeded account", min_length=1, max_length=64)
    enforce_media_http_auth: bool | None = None
    keys: list[SeedKey] = []
    numbers: list[SeedNumber] = []


class Seed(_Model):
    accounts: list[SeedAccount] = []


def load(path: Path) -> Seed:
    """The seed in ``path`` (``.toml`` is TOML, anything else JSON), or ``SeedError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError(f"MEDIAGATE_SEED_FILE={path}: cannot read it ({exc.strerror})") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise SeedError(f"MEDIAGATE_SEED_FILE={path}: not valid {kind}: {exc}") from None
    try:
        seed = Seed.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SeedError(f"MEDIAGATE_SEED_FILE={path}: {where}: {first['msg']}") from None
    account_sids = [a.sid for a in seed.accounts]
    key_sids = [k.sid for a in seed.accounts for k in a.keys]
    numbers = [n.phone_number for a in seed.accounts for n in a.numbers]
    for label, values in (("account sid", account_sids), ("key sid", key_sids), ("phone number", numbers)):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise SeedError(f"MEDIAGATE_SEED_FILE={path}: {label} {repeated[0]} is given twice")
    return seed


def apply(rt: Runtime, seed: Seed) -> None:
    """Create what ``seed`` describes on an empty server (at start: only what is not there yet)."""
    from mediagate.accounts import accounts, keys
    from mediagate.core.errors import NotFound
    from mediagate.messaging import number_pool, numbers

    for item in seed.accounts:
        try:
            accounts.get(rt, item.sid)
            continue  # seeded at an earlier start (the data dir is kept): leave it as the tests left it
        except NotFound:
            pass
        accounts.create(rt, item.friendly_name, sid=item.sid, auth_token=item.auth_token)
        if item.enforce_media_http_auth is not None:
            accounts.set_enforcement(rt, item.sid, item.enforce_media_http_auth, actor="seed", via="seed")
        for key in item.keys:
            keys.create(rt, item.sid, key.friendly_name, actor="seed", sid=key.sid, secret=key.secret)
        for number in item.numbers:
            number_pool.assign(rt, number.phone_number, item.sid, actor="seed")
            numbers.create(rt, item.sid, number.fields(), actor="seed")
