"""The parameters Twilio sends: an incoming message (with its media URLs) and a status callback."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mediagate.core.uris import API_VERSION, media_path
from mediagate.db.models import Message

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime


log = logging.getLogger("mediagate.webhooks")  # one logger for the whole webhook machinery


def media_content_url(rt: Runtime, account_sid: str, message_sid: str, media_sid: str) -> str:
    return rt.settings.public_url + media_path(account_sid, message_sid, media_sid, "")


def incoming_params(rt: Runtime, message: Message, media: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Parameters of an inbound-message webhook. ``media``: (ME sid, content type) in order."""
    params = [
        ("SmsMessageSid", message.sid),
        ("NumMedia", str(len(media))),
        ("SmsSid", message.sid),
        ("SmsStatus", "received"),
        ("Body", message.body),
        ("To", message.to),
        ("NumSegments", str(message.num_segments)),
        ("MessageSid", message.sid),
        ("AccountSid", message.account_sid),
        ("From", message.from_),
        ("ApiVersion", API_VERSION),
    ]
    if message.messaging_service_sid:
        params.append(("MessagingServiceSid", message.messaging_service_sid))
    if message.from_.lower().startswith("whatsapp:"):
        params.append(("WaId", message.from_.split(":", 1)[1].lstrip("+")))
    for n, (media_sid, content_type) in enumerate(media):
        params.append((f"MediaContentType{n}", content_type))
        params.append((f"MediaUrl{n}", media_content_url(rt, message.account_sid, message.sid, media_sid)))
    return params


def status_params(message: Message) -> list[tuple[str, str]]:
    params = [
        ("SmsSid", message.sid),
        ("SmsStatus", message.status),
        ("MessageStatus", message.status),
        ("To", message.to),
        ("MessageSid", message.sid),
        ("AccountSid", message.account_sid),
        ("From", message.from_),
        ("ApiVersion", API_VERSION),
    ]
    if message.messaging_service_sid:
        params.append(("MessagingServiceSid", message.messaging_service_sid))
    if message.status in ("failed", "undelivered") and message.error_code is not None:
        params.append(("ErrorCode", str(message.error_code)))
    return params
