"""Addresses and per-channel media rules (``messaging/channels.py``)."""

from __future__ import annotations

import pytest

from mediagate.core.errors import BadRequest
from mediagate.messaging.channels import KB, MB, MESSENGER, RCS, SMS, WHATSAPP, Channel, parse_from, parse_to

# --------------------------------------------------------------------------- To


@pytest.mark.parametrize(
    ("address", "channel"),
    [
        ("+15551230001", SMS),
        ("+447911123456", SMS),
        ("+12", SMS),  # E.164 allows very short national numbers
        ("+123456789012345", SMS),  # 15 digits, the E.164 maximum
        (" +15551230001 ", SMS),
        ("whatsapp:+15551230001", WHATSAPP),
        ("WhatsApp:+15551230001", WHATSAPP),
        ("messenger:1234567890", MESSENGER),
        ("rcs:brand.agent@example", RCS),
    ],
)
def test_parse_to_accepts(address: str, channel: Channel) -> None:
    assert parse_to(address) is channel


@pytest.mark.parametrize("address", [None, ""])
def test_parse_to_missing_is_21604(address: str | None) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_to(address)
    assert exc.value.code == 21604 and exc.value.status == 400


@pytest.mark.parametrize(
    "address",
    [
        "15551230001",  # no +
        "+",
        "+0155512300",  # country codes never start with 0
        "+1234567890123456",  # 16 digits
        "+1 555 123 0001",
        "+1-555-123-0001",
        "+1555abc0001",
        "12345",  # a short code can send but not receive here
        "MyBrand",
        "whatsapp:15551230001",
        "whatsapp:",
        "whatsapp:+",
        "messenger:",
        "messenger:has space",
        "rcs:" + "x" * 129,
        "fax:+15551230001",
        "sms:+15551230001",
        "tel:+15551230001",
        "   ",
    ],
)
def test_parse_to_invalid_is_21211(address: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_to(address)
    assert exc.value.code == 21211 and exc.value.status == 400
    assert address in exc.value.message


# --------------------------------------------------------------------------- From


@pytest.mark.parametrize(
    ("address", "to"),
    [
        ("+15557650001", SMS),
        ("12345", SMS),  # short codes: 3 to 8 digits
        ("123", SMS),
        ("12345678", SMS),
        ("MyBrand", SMS),  # alphanumeric sender id: up to 11, at least one letter
        ("My Brand 1", SMS),
        ("ABCDEFGHIJK", SMS),
        ("whatsapp:+15557650001", WHATSAPP),
        ("messenger:page.id", MESSENGER),
        ("rcs:agent_1", RCS),
    ],
)
def test_parse_from_accepts(address: str, to: Channel) -> None:
    parse_from(address, to)  # no exception


@pytest.mark.parametrize("address", [None, ""])
def test_parse_from_missing_is_21603(address: str | None) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_from(address, SMS)
    assert exc.value.code == 21603 and exc.value.status == 400


@pytest.mark.parametrize(
    "address",
    [
        "12",  # too short for a short code
        "123456789",  # too long for a short code, no letter for an alphanumeric id
        "ABCDEFGHIJKL",  # 12 characters
        "not a number!",
        "My-Brand",
        "+0155512300",
        "+1234567890123456",
        "whatsapp:15557650001",
        "fax:+15557650001",
        "Brand™",
    ],
)
def test_parse_from_invalid_is_21212(address: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_from(address, SMS)
    assert exc.value.code == 21212 and exc.value.status == 400


@pytest.mark.parametrize(
    ("address", "to"),
    [
        ("+15557650001", WHATSAPP),
        ("whatsapp:+15557650001", SMS),
        ("messenger:page", WHATSAPP),
        ("rcs:agent", SMS),
        ("MyBrand", WHATSAPP),
    ],
)
def test_parse_from_other_channel_is_21910(address: str, to: Channel) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_from(address, to)
    assert exc.value.code == 21910 and exc.value.status == 400


def test_invalid_from_is_reported_before_a_channel_mismatch() -> None:
    with pytest.raises(BadRequest) as exc:
        parse_from("whatsapp:nope", SMS)
    assert exc.value.code == 21212


# --------------------------------------------------------------------------- limits


def test_channel_shapes() -> None:
    assert (SMS.max_media, SMS.max_message_bytes) == (10, 5 * MB)
    # Twilio: "WhatsApp: 16 MB", "RCS: 16 MB" a message (docs/media-urls.md).
    assert (WHATSAPP.max_media, WHATSAPP.max_message_bytes) == (1, 16 * MB)
    assert (MESSENGER.max_media, MESSENGER.max_message_bytes) == (10, 5 * MB)
    assert (RCS.max_media, RCS.max_message_bytes) == (10, 16 * MB)


@pytest.mark.parametrize("channel", [SMS, MESSENGER], ids=lambda c: c.name)
@pytest.mark.parametrize(
    ("content_type", "limit"),
    [
        ("image/jpeg", 5 * MB),
        ("image/jpg", 5 * MB),
        ("image/png", 5 * MB),
        ("image/gif", 5 * MB),
        ("image/webp", 500 * KB),
        ("image/bmp", 500 * KB),
        ("image/heic", 500 * KB),
        ("image/heif", 500 * KB),
        ("image/tiff", 500 * KB),
        ("audio/mpeg", 500 * KB),
        ("audio/ogg", 500 * KB),
        ("video/mp4", 500 * KB),
        ("video/quicktime", 500 * KB),
        ("text/vcard", 500 * KB),
        ("application/pdf", 500 * KB),
        ("text/html", None),
        ("image/svg+xml", None),
        ("application/javascript", None),
        ("application/octet-stream", None),
        ("application/zip", None),
        ("text/plain", None),
        ("", None),
        ("IMAGE/PNG", None),  # callers normalise case first; the table is lower case
    ],
)
def test_mms_like_limits(channel: Channel, content_type: str, limit: int | None) -> None:
    assert channel.limit_for(content_type) == limit


@pytest.mark.parametrize(
    ("content_type", "limit"),
    [
        ("image/jpeg", 5 * MB),
        ("image/png", 5 * MB),
        # Twilio's table marks these images for WhatsApp too; webp is for stickers only.
        ("image/gif", 5 * MB),
        ("image/heic", 5 * MB),
        ("image/heif", 5 * MB),
        ("image/tiff", 5 * MB),
        ("image/bmp", 5 * MB),
        ("image/webp", None),
        ("image/jpg", 5 * MB),
        ("audio/ogg", 16 * MB),
        ("audio/mpeg", 16 * MB),
        ("video/mp4", 16 * MB),
        ("video/3gpp", 16 * MB),
        # A document is bounded by the 16 MB of a WhatsApp message on Twilio.
        ("application/pdf", 16 * MB),
        ("text/plain", 16 * MB),
        ("application/msword", 16 * MB),
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", 16 * MB),
        ("text/vcard", 16 * MB),
        ("text/html", None),
        ("image/svg+xml", None),
        ("application/zip", None),
        ("application/octet-stream", None),
        ("", None),
    ],
)
def test_whatsapp_limits(content_type: str, limit: int | None) -> None:
    assert WHATSAPP.limit_for(content_type) == limit


@pytest.mark.parametrize(
    ("content_type", "limit"),
    [
        ("image/jpeg", 16 * MB),
        ("image/jpg", 16 * MB),
        ("image/png", 16 * MB),
        ("image/gif", 16 * MB),
        ("video/mp4", 16 * MB),
        ("video/mpeg", 16 * MB),
        ("video/mpeg4", 16 * MB),
        # No in the table's RCS column.
        ("image/heic", None),
        ("image/heif", None),
        ("image/tiff", None),
        ("image/bmp", None),
        ("text/html", None),
        ("", None),
    ],
)
def test_rcs_limits(content_type: str, limit: int | None) -> None:
    assert RCS.limit_for(content_type) == limit
