"""What services hand to the API, the console and the CLI: frozen copies of rows.

Only services and ``db/`` know the ORM models. A record is built inside the
service, while the row is still fresh, so a route can neither lazy-load through
a closed session nor write a row back by accident. Field names are the column
names, so a record reads like the row it copies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self

from mediagate.core.paging import Page
from mediagate.db.models import (
    Account,
    ApiKey,
    IncomingPhoneNumber,
    Media,
    MediaAccessEvent,
    Message,
    SettingChange,
    WebhookAttempt,
    WebhookDelivery,
)


def _copy(cls: type[Any], row: object) -> dict[str, Any]:
    return {f.name: getattr(row, f.name) for f in fields(cls)}


@dataclass(frozen=True)
class AccountRecord:
    sid: str
    owner_account_sid: str | None
    friendly_name: str
    status: str
    auth_token_hash: str
    auth_token_sealed: str
    secondary_token_hash: str | None
    secondary_token_sealed: str | None
    secondary_token_created: datetime | None
    enforce_media_http_auth: bool
    media_urls_revoked_before: int | None
    test_account_sid: str
    test_auth_token_hash: str | None
    test_auth_token_sealed: str | None
    date_created: datetime
    date_updated: datetime

    @classmethod
    def of(cls, row: Account) -> Self:
        return cls(**_copy(cls, row))


@dataclass(frozen=True)
class SettingChangeRecord:
    id: int
    account_sid: str
    setting: str
    old_value: str
    new_value: str
    actor: str
    via: str
    date_created: datetime

    @classmethod
    def of(cls, row: SettingChange) -> Self:
        return cls(**_copy(cls, row))


@dataclass(frozen=True)
class ApiKeyRecord:
    sid: str
    account_sid: str
    friendly_name: str
    kind: str
    permissions: str | None
    secret_hash: str
    date_created: datetime
    date_updated: datetime

    @classmethod
    def of(cls, row: ApiKey) -> Self:
        return cls(**_copy(cls, row))


@dataclass(frozen=True)
class MessageRecord:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status: str
    direction: str
    num_media: int
    num_segments: int
    error_code: int | None
    error_message: str | None
    messaging_service_sid: str | None
    status_callback: str | None
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None

    @classmethod
    def of(cls, row: Message) -> Self:
        return cls(**_copy(cls, row))


@dataclass(frozen=True)
class MediaRecord:
    """A media's metadata; where its bytes live (``storage_key``) stays in the service."""

    sid: str
    account_sid: str
    message_sid: str
    content_type: str
    size: int
    sha256: str
    filename: str | None
    auth_required: bool
    date_created: datetime
    date_updated: datetime

    @classmethod
    def of(cls, row: Media) -> Self:
        return cls(**_copy(cls, row))


@dataclass(frozen=True)
class NumberRecord:
    sid: str
    account_sid: str
    phone_number: str
    friendly_name: str
    sms_url: str | None
    sms_method: str
    sms_fallback_url: str | None
    sms_fallback_method: str
    status_callback: str | None
    status_callback_method: str
    voice_url: str | None
    voice_method: str
    date_created: datetime
    date_updated: datetime

    @classmethod
    def of(cls, row: IncomingPhoneNumber) -> Self:
        return cls(**_copy(cls, row))


@dataclass(frozen=True)
class WebhookDeliveryRecord:
    sid: str
    account_sid: str
    message_sid: str | None
    kind: str
    url: str
    method: str
    params: tuple[tuple[str, str], ...]  # ordered (name, value) pairs
    status: str
    attempts: int
    max_attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    date_created: datetime
    date_updated: datetime

    @classmethod
    def of(cls, row: WebhookDelivery) -> Self:
        values = _copy(cls, row)
        values["params"] = tuple((k, v) for k, v in row.params)
        return cls(**values)


@dataclass(frozen=True)
class WebhookAttemptRecord:
    delivery_sid: str
    number: int
    status_code: int | None
    error: str | None
    duration_ms: int
    date_created: datetime

    @classmethod
    def of(cls, row: WebhookAttempt) -> Self:
        return cls(**_copy(cls, row))


@dataclass(frozen=True)
class AccessEventRecord:
    sid: str
    account_sid: str
    media_sid: str
    host: str
    method: str
    credential_kind: str
    credential_sid: str | None
    allowed: bool
    reason: str
    client_ip: str | None
    date_created: datetime  # the first of ``count`` identical accesses in one second
    date_updated: datetime  # the last of them
    count: int

    @classmethod
    def of(cls, row: MediaAccessEvent) -> Self:
        values = _copy(cls, row)
        # Rows of single accesses written before counts existed have no date_updated.
        values["date_updated"] = row.date_updated or row.date_created
        return cls(**values)


def page_of(page: Page, of: Callable[[Any], object]) -> Page:
    """The same page with every row replaced by its record."""
    return Page([of(row) for row in page.rows], page.has_next, page.has_previous)
