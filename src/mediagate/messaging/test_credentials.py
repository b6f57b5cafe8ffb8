"""What ``POST Messages.json`` and ``POST IncomingPhoneNumbers.json`` answer to
Twilio's test credentials: the magic numbers and their errors, nothing sent or
stored.

Twilio's "Test Credentials" page (https://www.twilio.com/docs/iam/test-credentials)
lists them. With test credentials Twilio "will validate all input as though the
request were made with your real credentials", then answers the resource that
would have been created (a fresh SID, never stored: a later GET finds nothing,
and test credentials cannot GET anyway) or the magic number's error. No status
callback is ever made for it, as at Twilio.

Messages, ``From``:
  +15005550006 passes; +15005550001 -> 21212 (invalid), +15005550007 -> 21606
  (not owned / not SMS-capable), +15005550008 -> 21611 (queue full); every other
  From -> 21606 (test credentials own no number of the live account).
Messages, ``To`` (checked after From):
  +15005550001 -> 21211 (invalid), +15005550002 -> 21612 (cannot route),
  +15005550003 -> 21408 (no international permission), +15005550004 -> 21610
  (blocked), +15005550009 -> 21614 (not SMS-capable); any other valid number passes.
IncomingPhoneNumbers, ``PhoneNumber``:
  +15005550006 is bought; +15005550000 -> 21422 (unavailable), +15005550001 ->
  21421 (invalid). ``AreaCode`` 500 buys +15005550006, 533 -> 21452 (none
  available). Any other number -> 21422: nothing is stored, so no other number
  can be shown as bought.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Final

from mediagate.core import sids
from mediagate.core.errors import BadRequest
from mediagate.db.models import IncomingPhoneNumber
from mediagate.db.records import MessageRecord, NumberRecord
from mediagate.media import ingest
from mediagate.media.fetch import BlockedAddress, InvalidMediaUrl
from mediagate.messaging import channels, numbers
from mediagate.messaging.messages import MAX_BODY, MAX_MEDIA_URLS, NewMessage, count_segments

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

VALID_FROM: Final = "+15005550006"
FROM_ERRORS: Final[Mapping[str, int]] = {"+15005550001": 21212, "+15005550007": 21606, "+15005550008": 21611}
TO_ERRORS: Final[Mapping[str, int]] = {
    "+15005550001": 21211,
    "+15005550002": 21612,
    "+15005550003": 21408,
    "+15005550004": 21610,
    "+15005550009": 21614,
}
VALID_NUMBER: Final = "+15005550006"
NUMBER_ERRORS: Final[Mapping[str, int]] = {"+15005550000": 21422, "+15005550001": 21421}
AREA_CODE_AVAILABLE: Final = "500"
AREA_CODE_EMPTY: Final = "533"


def _from_error(code: int, number: str) -> BadRequest:
    messages = {
        21212: f"The 'From' number {number} is not a valid phone number, shortcode, or alphanumeric "
        "sender ID.",
        21606: f"The From phone number {number} is not a valid, SMS-capable inbound phone number or short "
        "code for your account.",
        21611: f"This 'From' number {number} has exceeded the maximum number of queued messages.",
    }
    return BadRequest(messages[code], code=code)


def _to_error(code: int, to: str, from_: str) -> BadRequest:
    messages = {
        21211: f"The 'To' number {to} is not a valid phone number.",
        21612: f"The 'To' phone number: {to}, is not currently reachable using the 'From' phone number: "
        f"{from_} via SMS.",
        21408: f"Permission to send an SMS has not been enabled for the region indicated by the 'To' number: "
        f"{to}.",
        21610: "Attempt to send to unsubscribed recipient",
        21614: f"'To' number {to} is not a valid mobile number",
    }
    return BadRequest(messages[code], code=code)


def message(rt: Runtime, test_account_sid: str, new: NewMessage) -> MessageRecord:
    """The message Twilio would have queued for these test credentials, or the
    error its magic numbers stand for. Nothing is fetched, sent or stored."""
    to_channel = channels.parse_to(new.to)  # 21604 without To, 21211 for a malformed one
    if not new.from_:
        raise BadRequest("A 'From' phone number is required.", code=21603)
    to, from_ = (new.to or "").strip(), new.from_.strip()
    if from_ != VALID_FROM:
        raise _from_error(FROM_ERRORS.get(from_, 21606), from_)
    if to in TO_ERRORS:
        raise _to_error(TO_ERRORS[to], to, from_)
    if not new.body and not new.media_urls:
        raise BadRequest("Message body is required.", code=21602)
    if len(new.body) > MAX_BODY:
        raise BadRequest(f"The message body exceeds the {MAX_BODY} character limit.", code=21617)
    if len(new.media_urls) > MAX_MEDIA_URLS:
        raise BadRequest(f"Too many media urls. Message may have at most {MAX_MEDIA_URLS}.", code=21623)
    try:
        ingest.validate_urls(new.media_urls[: to_channel.max_media], rt)  # the URL's form only: never fetched
    except (InvalidMediaUrl, BlockedAddress) as exc:
        raise BadRequest(exc.message, code=21620) from exc
    if new.status_callback:
        numbers.validate_webhook_url(rt, new.status_callback, "StatusCallback")  # never called back
    now = rt.clock.now()
    return MessageRecord(
        # MM when it carries media, as Twilio names it at creation; num_media counts
        # media stored, and none is (Twilio's create answer says "0" too).
        sid=sids.new_sid(sids.MMS if new.media_urls else sids.SMS),
        account_sid=test_account_sid,
        to=to,
        from_=from_,
        body=new.body,
        status="queued",
        direction="outbound-api",
        num_media=0,
        num_segments=count_segments(new.body),
        error_code=None,
        error_message=None,
        messaging_service_sid=None,
        status_callback=None,
        date_created=now,
        date_updated=now,
        date_sent=None,
    )


def _number_to_buy(fields: Mapping[str, str]) -> str:
    phone_number = fields.get("PhoneNumber", "").strip()
    if not phone_number:
        area_code = fields.get("AreaCode", "").strip()
        if area_code == AREA_CODE_AVAILABLE:
            return VALID_NUMBER
        if area_code:
            raise BadRequest(f"No phone numbers found in area code {area_code}.", code=21452)
        raise BadRequest("A PhoneNumber or AreaCode is required.", code=21421)
    if NUMBER_ERRORS.get(phone_number) == 21421:
        raise BadRequest(f"PhoneNumber {phone_number} is invalid.", code=21421)
    number = channels.normalize_number(phone_number)  # 21421 for anything but E.164
    if number != VALID_NUMBER:
        raise BadRequest(f"PhoneNumber {number} is not available.", code=21422)
    return number


def number(rt: Runtime, test_account_sid: str, fields: Mapping[str, str]) -> NumberRecord:
    """The IncomingPhoneNumber Twilio would have bought for these test
    credentials, or the magic number's error. Nothing is claimed or stored."""
    phone_number = _number_to_buy(fields)
    now: datetime = rt.clock.now()
    # A transient row, never added to a session: the live path's field rules apply to it.
    row = IncomingPhoneNumber(
        sid=sids.new_sid(sids.PHONE_NUMBER),
        account_sid=test_account_sid,
        phone_number=phone_number,
        friendly_name=phone_number,
        sms_method="POST",
        sms_fallback_method="POST",
        status_callback_method="POST",
        voice_method="POST",
        date_created=now,
        date_updated=now,
    )
    numbers.apply_fields(rt, row, fields)
    return NumberRecord.of(row)
