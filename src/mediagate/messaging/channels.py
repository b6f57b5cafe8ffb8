"""Addresses and per-channel media rules, as Twilio documents them
(docs/media-urls.md cites each rule's source).

* SMS/MMS (E.164 numbers): up to 10 media, 5 MB per message; JPEG/PNG/GIF up
  to 5 MB, other accepted types (HEIC/HEIF, TIFF, BMP, audio, video, text,
  PDF) up to 500 KB.
* WhatsApp (``whatsapp:+E164``): one media per message, 16 MB per message;
  images 5 MB.
* RCS: up to 10 media, 16 MB per message; the types Twilio's table marks for RCS.
* Messenger: MMS-like limits (10 media, 5 MB).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mediagate.core.errors import BadRequest

# ASCII digits only and ``\Z``, not ``\d`` and ``$``: ``\d`` matches any Unicode
# digit (Arabic-Indic, fullwidth, ...) and ``$`` also matches before a trailing newline, so each
# number had many spellings that all passed and were stored as different strings.
E164 = re.compile(r"\+[1-9][0-9]{1,14}\Z", re.ASCII)


def normalize_number(value: str | None) -> str:
    """An operator's or owner's phone number: E.164 exactly, or Twilio's 21421."""
    number = (value or "").strip()
    if not E164.match(number):
        raise BadRequest(f"Phone number {number[:40]!r} is not a valid E.164 phone number.", code=21421)
    return number


SHORT_CODE = re.compile(r"[0-9]{3,8}\Z", re.ASCII)
ALPHANUMERIC = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}\Z", re.ASCII)
CHANNEL_ID = re.compile(r"[A-Za-z0-9._@+\-]{1,128}\Z", re.ASCII)

MB = 1024 * 1024
KB = 1024

# Twilio's table of accepted content types
# (https://www.twilio.com/docs/messaging/guides/accepted-mime-types): the images it
# formats for delivery, up to the 5 MB of a message.
MMS_IMAGE_TYPES = frozenset({"image/jpeg", "image/jpg", "image/png", "image/gif"})
# Accepted as they are; carriers take 500 KB of these (the page's Help Center link).
MMS_OTHER_TYPES = frozenset(
    {
        "image/heic", "image/heif", "image/bmp", "image/tiff", "image/webp", "video/mpeg4",
        "audio/basic", "audio/l24", "audio/mp4", "audio/mpeg", "audio/ogg", "audio/vnd.wave",
        "audio/3gpp", "audio/3gpp2", "audio/ac3", "audio/webm", "audio/amr-nb", "audio/amr", "audio/wav",
        "video/mpeg", "video/mp4", "video/quicktime", "video/webm", "video/3gpp", "video/3gpp2",
        "video/3gpp-tt", "video/h261", "video/h263", "video/h263-1998", "video/h263-2000", "video/h264",
        "text/vcard", "text/x-vcard", "text/csv", "text/rtf", "text/richtext", "text/calendar",
        "text/directory", "application/pdf", "application/vcard",
    }
)  # fmt: skip
WHATSAPP_DOCUMENT_TYPES = frozenset(
    {
        "application/pdf", "text/plain", "application/msword", "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "text/vcard",
    }
)  # fmt: skip
# The table's WhatsApp column adds these images to JPEG/PNG (image/webp is for stickers only).
WHATSAPP_IMAGE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/jpg",
        "image/png",
        "image/gif",
        "image/heic",
        "image/heif",
        "image/tiff",
        "image/bmp",
    }
)
# The table's RCS column: the four formatted image types and MPEG-4/MPEG video (not HEIC, HEIF, TIFF or BMP).
RCS_TYPES = frozenset(
    {"image/jpeg", "image/jpg", "image/png", "image/gif", "video/mpeg4", "video/mp4", "video/mpeg"}
)


@dataclass(frozen=True)
class Channel:
    name: str  # "sms" | "whatsapp" | "messenger" | "rcs"
    max_media: int
    max_message_bytes: int | None

    def limit_for(self, content_type: str) -> int | None:
        """Largest accepted size for one file of this type, or ``None`` if the type is refused."""
        if self.name == "whatsapp":
            if content_type in WHATSAPP_IMAGE_TYPES:
                return 5 * MB  # "The size limit for images is only 5 MB"
            if content_type.startswith(("audio/", "video/")) or content_type in WHATSAPP_DOCUMENT_TYPES:
                return 16 * MB
            return None
        if self.name == "rcs":
            return 16 * MB if content_type in RCS_TYPES else None
        if content_type in MMS_IMAGE_TYPES:
            return 5 * MB
        if content_type in MMS_OTHER_TYPES:
            return 500 * KB
        return None


SMS = Channel("sms", 10, 5 * MB)
WHATSAPP = Channel("whatsapp", 1, 16 * MB)
MESSENGER = Channel("messenger", 10, 5 * MB)
RCS = Channel("rcs", 10, 16 * MB)
_BY_PREFIX = {"whatsapp": WHATSAPP, "messenger": MESSENGER, "rcs": RCS}
_BY_NAME = {c.name: c for c in (SMS, WHATSAPP, MESSENGER, RCS)}


def by_name(name: str) -> Channel:
    """The channel a queued media fetch was written for (``Channel.name``)."""
    return _BY_NAME[name]


def _channel_of(address: str) -> tuple[Channel, str] | None:
    prefix, sep, rest = address.partition(":")
    if sep:
        channel = _BY_PREFIX.get(prefix.lower())
        if channel is None:
            return None
        if channel is WHATSAPP:
            return (channel, rest) if E164.match(rest) else None
        return (channel, rest) if CHANNEL_ID.match(rest) else None
    return SMS, address


def parse_to(address: str | None) -> Channel:
    if not address:
        raise BadRequest("A 'To' phone number is required.", code=21604)
    found = _channel_of(address.strip())
    if found is None or (found[0] is SMS and not E164.match(found[1])):
        raise BadRequest(f"The 'To' number {address} is not a valid phone number.", code=21211)
    return found[0]


def parse_from(address: str | None, to_channel: Channel) -> None:
    if not address:
        raise BadRequest("A 'From' phone number is required.", code=21603)
    found = _channel_of(address.strip())
    valid = found is not None and (
        found[0] is not SMS
        or E164.match(found[1]) is not None
        or SHORT_CODE.match(found[1]) is not None
        or ALPHANUMERIC.match(found[1]) is not None
    )
    if found is None or not valid:
        raise BadRequest(
            f"The 'From' number {address} is not a valid phone number, shortcode, or alphanumeric sender ID.",
            code=21212,
        )
    if found[0] is not to_channel:
        raise BadRequest("Invalid 'To' and 'From' pair: both must use the same channel.", code=21910)
