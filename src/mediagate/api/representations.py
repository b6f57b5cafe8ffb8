"""Resource bodies in Twilio's shape (``twilio_api_v2010.json``): every
property present, dates RFC 2822, ``num_media``/``num_segments`` strings."""

from __future__ import annotations

from typing import Any

from mediagate.services.keys import policy_of
from mediagate.services.media import media_path
from mediagate.services.messages import message_path
from mediagate.services.numbers import number_path
from mediagate.services.records import (
    AccountRecord,
    ApiKeyRecord,
    MediaRecord,
    MessageRecord,
    NumberRecord,
    WebhookAttemptRecord,
    WebhookDeliveryRecord,
)
from mediagate.timefmt import iso, rfc2822


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


def iam_key(k: ApiKeyRecord, public_url: str, *, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sid": k.sid,
        "friendly_name": k.friendly_name,
        "date_created": rfc2822(k.date_created),
        "date_updated": rfc2822(k.date_updated),
        "policy": policy_of(k),
        "url": f"{public_url}/v1/Keys/{k.sid}",
    }
    if secret is not None:
        body["secret"] = secret
    return body


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


def webhook_attempt(a: WebhookAttemptRecord) -> dict[str, Any]:
    return {
        "number": a.number,
        "status_code": a.status_code,
        "error": a.error,
        "duration_ms": a.duration_ms,
        "date_created": iso(a.date_created),
    }


def _is_media_param(name: str) -> bool:
    return name.startswith(("MediaUrl", "MediaContentType")) and name[-1:].isdigit()


def webhook_delivery(
    d: WebhookDeliveryRecord, attempts: list[WebhookAttemptRecord], *, show_media: bool = True
) -> dict[str, Any]:
    """Our own resource (Twilio shows this only in its console's debugger).

    ``show_media=False`` (a credential without media read) drops the media
    parameters (``MediaUrl{N}``, ``MediaContentType{N}``): they name media SIDs
    and types that the Media API would refuse that credential; ``NumMedia`` stays,
    as on the message itself."""
    params = dict(d.params)
    if not show_media:
        params = {k: v for k, v in params.items() if not _is_media_param(k)}
    return {
        "sid": d.sid,
        "account_sid": d.account_sid,
        "message_sid": d.message_sid,
        "kind": d.kind,
        "url": d.url,
        "method": d.method,
        "params": params,
        "status": d.status,
        "attempts": d.attempts,
        "max_attempts": d.max_attempts,
        "next_attempt_at": iso(d.next_attempt_at) if d.status == "pending" else None,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "date_created": iso(d.date_created),
        "date_updated": iso(d.date_updated),
        "attempt_log": [webhook_attempt(a) for a in attempts],
    }
