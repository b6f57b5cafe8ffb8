"""Resource bodies.

* Twilio's resources (``twilio_api_v2010.json``): dicts in Twilio's shape, every
  property present, dates RFC 2822, ``num_media``/``num_segments`` strings. Their
  schemas are Twilio's own, copied into ``/openapi.json``.
* Our own ``/v1`` resources: pydantic models, each declared once. The handler
  builds the model and answers ``model_dump(mode="json")``; ``/openapi.json``
  takes the model's JSON Schema (``mediagate.http.openapi.ours``), and a unit test
  checks real answers against it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from mediagate.accounts import accounts
from mediagate.accounts.keys import policy_of
from mediagate.api import forms
from mediagate.core.timefmt import iso, iso_z, rfc2822
from mediagate.db.records import (
    AccessEventRecord,
    AccountRecord,
    ApiKeyRecord,
    MediaRecord,
    MessageRecord,
    NumberRecord,
    WebhookAttemptRecord,
    WebhookDeliveryRecord,
)
from mediagate.media import access_audit, direct_delivery, revocation
from mediagate.media.media import media_path
from mediagate.messaging.messages import message_path
from mediagate.messaging.numbers import number_path
from mediagate.retention import rules as retention


def message(m: MessageRecord) -> dict[str, Any]:
    base = f"/2010-04-01/Accounts/{m.account_sid}/Messages/{m.sid}"
    return {
        "account_sid": m.account_sid,
        "api_version": "2010-04-01",
        "body": m.body,
        "date_created": rfc2822(m.date_created),
        "date_sent": rfc2822(m.date_sent),
        "date_updated": rfc2822(m.date_updated),
        "direction": m.direction,
        "error_code": m.error_code,
        "error_message": m.error_message,
        "from": m.from_,
        "messaging_service_sid": m.messaging_service_sid,
        "num_media": str(m.num_media),
        "num_segments": str(m.num_segments),
        "price": None,
        "price_unit": "USD",
        "sid": m.sid,
        "status": m.status,
        "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
        "to": m.to,
        "uri": message_path(m.account_sid, m.sid),
    }


def media(m: MediaRecord) -> dict[str, Any]:
    return {
        "account_sid": m.account_sid,
        "content_type": m.content_type,
        "date_created": rfc2822(m.date_created),
        "date_updated": rfc2822(m.date_updated),
        "parent_sid": m.message_sid,
        "sid": m.sid,
        "uri": media_path(m.account_sid, m.message_sid, m.sid),
    }


def key(k: ApiKeyRecord) -> dict[str, Any]:
    return {
        "sid": k.sid,
        "friendly_name": k.friendly_name,
        "date_created": rfc2822(k.date_created),
        "date_updated": rfc2822(k.date_updated),
    }


def new_key(k: ApiKeyRecord, secret: str) -> dict[str, Any]:
    return {**key(k), "secret": secret}


def account(a: AccountRecord, *, include_token: str | None) -> dict[str, Any]:
    base = f"/2010-04-01/Accounts/{a.sid}"
    return {
        "auth_token": include_token,
        "date_created": rfc2822(a.date_created),
        "date_updated": rfc2822(a.date_updated),
        "friendly_name": a.friendly_name,
        "owner_account_sid": a.owner_account_sid or a.sid,
        "sid": a.sid,
        "status": a.status,
        "subresource_uris": {
            "messages": f"{base}/Messages.json",
            "keys": f"{base}/Keys.json",
            "incoming_phone_numbers": f"{base}/IncomingPhoneNumbers.json",
            "signing_keys": f"{base}/SigningKeys.json",
        },
        "type": "Full",
        "uri": f"{base}.json",
    }


def incoming_phone_number(n: NumberRecord) -> dict[str, Any]:
    """Every property of ``api.v2010.account.incoming_phone_number``; what we do
    not model (voice, emergency, bundles) is null or Twilio's default."""
    return {
        "account_sid": n.account_sid,
        "address_sid": None,
        "address_requirements": "none",
        "api_version": "2010-04-01",
        "beta": False,
        "capabilities": {"voice": False, "sms": True, "mms": True, "fax": False},
        "date_created": rfc2822(n.date_created),
        "date_updated": rfc2822(n.date_updated),
        "friendly_name": n.friendly_name,
        "identity_sid": None,
        "phone_number": n.phone_number,
        "origin": "twilio",
        "sid": n.sid,
        "sms_application_sid": None,
        "sms_fallback_method": n.sms_fallback_method,
        "sms_fallback_url": n.sms_fallback_url or "",
        "sms_method": n.sms_method,
        "sms_url": n.sms_url or "",
        "status_callback": n.status_callback or "",
        "status_callback_method": n.status_callback_method,
        "trunk_sid": None,
        "uri": number_path(n.account_sid, n.sid),
        "voice_receive_mode": "voice",
        "voice_application_sid": None,
        "voice_caller_id_lookup": False,
        "voice_fallback_method": "POST",
        "voice_fallback_url": None,
        "voice_method": n.voice_method,
        "voice_url": n.voice_url or None,
        "emergency_status": "Inactive",
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "bundle_sid": None,
        "status": "in-use",
        "type": "local",
    }


# --- our own /v1 resources -------------------------------------------------------------------


AccountSid = Annotated[str, forms.sid("AC")]
MediaSid = Annotated[str, forms.sid("ME")]
KeySid = Annotated[str, forms.sid("SK")]
# Written as text: the models hold the datetimes the services return.
Rfc2822 = Annotated[
    datetime,
    PlainSerializer(rfc2822, return_type=str),
    WithJsonSchema({"type": "string", "description": "RFC 2822, as Twilio's v2010 dates"}),
]
IsoSeconds = Annotated[
    datetime,
    PlainSerializer(iso_z, return_type=str),
    WithJsonSchema({"type": "string", "description": "ISO 8601, whole seconds, as Twilio's v1 dates"}),
]
IsoMicros = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "description": "ISO 8601"}),
]


class Resource(BaseModel):
    # A body of ours: every property always present (null when unset), nothing
    # else. A body's docstring is its description in /openapi.json.

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_serialization_defaults_required=True)
    # The component name in /openapi.json (its names before the models, kept for clients).
    schema_name: ClassVar[str]

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class TwilioError(Resource):
    """Twilio's error body, as twilio-python's TwilioRestException parses it."""

    # Written by errors.twilio_error_body, for every error of the API.

    schema_name = "mediagate.error"
    code: int
    message: str
    more_info: str
    status: int


class MediaHostError(Resource):
    """The media hosts' error body. Twilio's media hosts are object stores with
    their own (XML) errors, so this is not Twilio's API error body either."""

    schema_name = "mediagate.media_host_error"
    status: int
    reason: str = Field(description="e.g. expired, bad_signature, not_found")
    message: str


class MessagingSettings(Resource):
    schema_name = "mediagate.messaging_settings"
    account_sid: AccountSid
    enforce_media_http_auth: bool
    date_updated: Rfc2822 | None
    url: str

    @classmethod
    def of(cls, public_url: str, s: accounts.MessagingSettings) -> MessagingSettings:
        return cls(
            account_sid=s.account_sid,
            enforce_media_http_auth=s.enforce_media_http_auth,
            date_updated=s.date_updated,
            url=f"{public_url}/v1/Accounts/{s.account_sid}/MessagingSettings",
        )


class MediaDelivery(Resource):
    schema_name = "mediagate.media_delivery"
    account_sid: AccountSid
    mode: Literal["redirect", "direct"]
    date_updated: Rfc2822
    url: str

    @classmethod
    def of(cls, public_url: str, s: direct_delivery.DeliverySetting) -> MediaDelivery:
        return cls(
            account_sid=s.account_sid,
            mode="direct" if s.direct else "redirect",
            date_updated=s.date_updated,
            url=f"{public_url}/v1/Accounts/{s.account_sid}/MediaDelivery",
        )


class MediaRetention(Resource):
    """An account's retention rule (ours; docs/retention.md). Any condition that
    is set deletes the media; null/false = that condition is off."""

    schema_name = "mediagate.media_retention"
    account_sid: AccountSid
    days_after_creation: int | None
    days_after_last_access: int | None
    after_first_download: bool
    after_webhook_delivered: bool
    effective_days_after_creation: int | None = Field(
        description="The account's days, else the deployment default; capped by the maximum"
    )
    deployment_default_days: int | None
    deployment_max_days: int | None
    date_created: IsoSeconds | None
    date_updated: IsoSeconds | None
    url: str

    @classmethod
    def of(cls, public_url: str, rule: retention.Rule) -> MediaRetention:
        return cls.model_validate(
            {
                # The fields the CLI's --json shows too.
                **retention.rule_fields(rule),
                "date_created": rule.date_created,
                "date_updated": rule.date_updated,
                "url": f"{public_url}{retention.resource_path(rule.account_sid)}",
            }
        )


class Revocation(Resource):
    schema_name = "mediagate.revocation"
    account_sid: AccountSid
    media_sid: MediaSid | None
    scope: Literal["media", "account"]
    revoked_before: str = Field(description="ISO 8601, milliseconds")
    objects_moved: int = Field(description="presign delivery: objects moved to a new key")
    url: str

    @classmethod
    def of(cls, public_url: str, r: revocation.Revocation) -> Revocation:
        where = f"Media/{r.media_sid}/Revocations" if r.media_sid else "MediaRevocations"
        return cls(
            account_sid=r.account_sid,
            media_sid=r.media_sid,
            scope="media" if r.media_sid else "account",
            # Millisecond precision: it is compared with a URL's millisecond issue time.
            revoked_before=datetime.fromtimestamp(r.revoked_before_ms / 1000, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            objects_moved=r.objects_moved,
            url=f"{public_url}/v1/Accounts/{r.account_sid}/{where}",
        )


class MediaAccessEvent(Resource):
    schema_name = "mediagate.media_access_event"
    sid: Annotated[str, forms.sid(access_audit.SID_PREFIX)]
    account_sid: AccountSid
    media_sid: MediaSid
    host: str = Field(description="api (the content URL), secure or public (the media hosts)")
    method: str
    credential_kind: str = Field(description="auth_token, secondary_auth_token, api_key, signed_url or none")
    credential_sid: str | None
    allowed: bool
    reason: str
    client_ip: str | None
    count: int = Field(
        ge=1, description="Identical accesses (every other field) in one second, as one event."
    )
    date_created: IsoSeconds = Field(description="The first of the counted accesses.")
    date_updated: IsoSeconds = Field(description="The last of the counted accesses.")
    url: str

    @classmethod
    def of(cls, public_url: str, e: AccessEventRecord) -> MediaAccessEvent:
        return cls(
            sid=e.sid,
            account_sid=e.account_sid,
            media_sid=e.media_sid,
            host=e.host,
            method=e.method,
            credential_kind=e.credential_kind,
            credential_sid=e.credential_sid,
            allowed=e.allowed,
            reason=e.reason,
            client_ip=e.client_ip,
            count=e.count,
            date_created=e.date_created,
            date_updated=e.date_updated,
            url=f"{public_url}/v1/Accounts/{e.account_sid}/MediaAccessEvents?MediaSid={e.media_sid}",
        )


class WebhookAttempt(Resource):
    schema_name = "mediagate.webhook_attempt"
    number: int
    status_code: int | None
    error: str | None
    duration_ms: int
    date_created: IsoMicros

    @classmethod
    def of(cls, a: WebhookAttemptRecord) -> WebhookAttempt:
        return cls(
            number=a.number,
            status_code=a.status_code,
            error=a.error,
            duration_ms=a.duration_ms,
            date_created=a.date_created,
        )


def _is_media_param(name: str) -> bool:
    return name.startswith(("MediaUrl", "MediaContentType")) and name[-1:].isdigit()


class WebhookDelivery(Resource):
    """A webhook (inbound message, status callback) and its attempts. Our own
    resource: Twilio shows this only in its console's debugger."""

    schema_name = "mediagate.webhook_delivery"
    sid: str
    account_sid: AccountSid
    message_sid: str | None
    kind: str = Field(description="inbound or status_callback")
    url: str
    method: str
    params: dict[str, str] = Field(description="The form parameters sent")
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    max_attempts: int
    next_attempt_at: IsoMicros | None = Field(description="While pending")
    last_status_code: int | None
    last_error: str | None
    date_created: IsoMicros
    date_updated: IsoMicros
    attempt_log: list[WebhookAttempt]

    @classmethod
    def of(
        cls, d: WebhookDeliveryRecord, attempts: list[WebhookAttemptRecord], *, show_media: bool = True
    ) -> WebhookDelivery:
        """``show_media=False`` (a credential without media read) drops the media
        parameters (``MediaUrl{N}``, ``MediaContentType{N}``): they name media SIDs
        and types that the Media API would refuse that credential; ``NumMedia`` stays,
        as on the message itself."""
        params = dict(d.params)
        if not show_media:
            params = {k: v for k, v in params.items() if not _is_media_param(k)}
        return cls(
            sid=d.sid,
            account_sid=d.account_sid,
            message_sid=d.message_sid,
            kind=d.kind,
            url=d.url,
            method=d.method,
            params=params,
            status=d.status,
            attempts=d.attempts,
            max_attempts=d.max_attempts,
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            date_created=d.date_created,
            date_updated=d.date_updated,
            attempt_log=[WebhookAttempt.of(a) for a in attempts],
        )


def webhook_delivery(
    d: WebhookDeliveryRecord, attempts: list[WebhookAttemptRecord], *, show_media: bool = True
) -> dict[str, Any]:
    """The CLI's ``--json`` shows what the API shows."""
    return WebhookDelivery.of(d, attempts, show_media=show_media).body()


class V2010Page(Resource):
    """Twilio's v2010 list envelope (``paging.envelope`` writes it, for Twilio's
    lists and ours); a list of ours adds its items under its own key."""

    first_page_uri: str
    end: int
    previous_page_uri: str | None
    uri: str
    page_size: int
    start: int
    next_page_uri: str | None
    page: int


class MediaAccessEventPage(V2010Page):
    schema_name = "mediagate.media_access_event_page"
    media_access_events: list[MediaAccessEvent]


class WebhookDeliveryPage(V2010Page):
    schema_name = "mediagate.webhook_delivery_page"
    webhook_deliveries: list[WebhookDelivery]


class IamKey(Resource):
    """A key of Twilio's IAM v1 API, including restricted keys."""

    schema_name = "mediagate.iam_key"
    sid: KeySid
    friendly_name: str | None
    date_created: Rfc2822
    date_updated: Rfc2822
    policy: dict[str, list[str]] | None = Field(description="Restricted keys' permissions")
    url: str

    @classmethod
    def of(cls, public_url: str, k: ApiKeyRecord) -> IamKey:
        return cls(**cls._fields_of(public_url, k))

    @staticmethod
    def _fields_of(public_url: str, k: ApiKeyRecord) -> dict[str, Any]:
        return {
            "sid": k.sid,
            "friendly_name": k.friendly_name,
            "date_created": k.date_created,
            "date_updated": k.date_updated,
            "policy": policy_of(k),
            "url": f"{public_url}/v1/Keys/{k.sid}",
        }


class NewIamKey(IamKey):
    """The answer that creates a key: the only one that shows its secret."""

    schema_name = "mediagate.new_iam_key"
    secret: str

    @classmethod
    def created(cls, public_url: str, k: ApiKeyRecord, secret: str) -> NewIamKey:
        return cls(**cls._fields_of(public_url, k), secret=secret)


class IamKeyListItem(Resource):
    schema_name = "mediagate.iam_key_list_item"
    sid: KeySid
    friendly_name: str | None
    date_created: Rfc2822
    date_updated: Rfc2822
    flags: list[str] = Field(description="The key's kind: standard, restricted or main")

    @classmethod
    def of(cls, k: ApiKeyRecord) -> IamKeyListItem:
        return cls(
            sid=k.sid,
            friendly_name=k.friendly_name,
            date_created=k.date_created,
            date_updated=k.date_updated,
            flags=[k.kind],
        )


class IamKeyListMeta(Resource):
    """Twilio's v1 paging meta (absolute URLs, unlike v2010's relative URIs)."""

    schema_name = "mediagate.iam_key_list_meta"
    page: int
    page_size: int
    first_page_url: str
    previous_page_url: str | None
    url: str
    next_page_url: str | None
    key: Literal["keys"]


class IamKeyList(Resource):
    schema_name = "mediagate.iam_key_list"
    keys: list[IamKeyListItem]
    meta: IamKeyListMeta


# Every body of ours, for the document and its test (nested models come along).
RESOURCES: tuple[type[Resource], ...] = (
    TwilioError,
    MediaHostError,
    MessagingSettings,
    MediaDelivery,
    MediaRetention,
    Revocation,
    MediaAccessEventPage,
    WebhookDeliveryPage,
    IamKey,
    NewIamKey,
    IamKeyList,
)
