"""Resource bodies in Twilio's shape (``twilio_api_v2010.json``): every
property present, dates RFC 2822, ``num_media``/``num_segments`` strings."""

from __future__ import annotations

from typing import Any

from mediagate.db.models import Account, ApiKey, Media, Message
from mediagate.services.keys import policy_of
from mediagate.services.media import media_path
from mediagate.services.messages import message_path
from mediagate.timefmt import rfc2822


def message(m: Message) -> dict[str, Any]:
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


def media(m: Media) -> dict[str, Any]:
    return {
        "account_sid": m.account_sid,
        "content_type": m.content_type,
        "date_created": rfc2822(m.date_created),
        "date_updated": rfc2822(m.date_updated),
        "parent_sid": m.message_sid,
        "sid": m.sid,
        "uri": media_path(m.account_sid, m.message_sid, m.sid),
    }


def key(k: ApiKey) -> dict[str, Any]:
    return {
        "sid": k.sid,
        "friendly_name": k.friendly_name,
        "date_created": rfc2822(k.date_created),
        "date_updated": rfc2822(k.date_updated),
    }


def new_key(k: ApiKey, secret: str) -> dict[str, Any]:
    return {**key(k), "secret": secret}


def account(a: Account, *, include_token: str | None) -> dict[str, Any]:
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


def iam_key(k: ApiKey, public_url: str, *, secret: str | None = None) -> dict[str, Any]:
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
