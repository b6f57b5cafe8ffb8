"""Incoming phone numbers: claim, list, fetch, update, release.

A number belongs to exactly one account across the whole service (a unique
index on ``phone_number``), so the loopback carrier and the ingress always
know which account an inbound message is for; which account may claim it is
the operator's decision (``messaging/number_pool.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mediagate.core import sids
from mediagate.core.errors import BadRequest, NotFound
from mediagate.core.paging import Page, PageRequest, fetch_page
from mediagate.db.models import AuditEvent, IncomingPhoneNumber, NumberAssignment
from mediagate.db.records import NumberRecord, page_of
from mediagate.media.fetch import BlockedAddress, InvalidMediaUrl, validate_media_url
from mediagate.messaging import number_pool
from mediagate.messaging.channels import E164, normalize_number

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

METHODS = ("GET", "POST")
# Form field -> column, for the fields create and update both accept.
_URL_FIELDS = {
    "SmsUrl": "sms_url",
    "SmsFallbackUrl": "sms_fallback_url",
    "StatusCallback": "status_callback",
    "VoiceUrl": "voice_url",
}
_METHOD_FIELDS = {
    "SmsMethod": "sms_method",
    "SmsFallbackMethod": "sms_fallback_method",
    "StatusCallbackMethod": "status_callback_method",
    "VoiceMethod": "voice_method",
}


def number_path(account_sid: str, number_sid: str) -> str:
    return f"/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers/{number_sid}.json"


def e164_part(address: str) -> str:
    """``whatsapp:+14155550100`` -> ``+14155550100``; an SMS address is returned as is."""
    prefix, sep, rest = address.strip().partition(":")
    return rest if sep and prefix.lower() == "whatsapp" else address.strip()


def validate_webhook_url(rt: Runtime, value: str, field: str) -> str | None:
    """A webhook URL follows the MediaUrl policy: http(s) only, and no private
    or loopback literal unless MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS is on (the
    address behind a host name is checked again on every delivery)."""
    value = value.strip()
    if not value:
        return None
    try:
        validate_media_url(value, rt.fetcher.policy)
    except (InvalidMediaUrl, BlockedAddress) as exc:
        raise BadRequest(f"{field} is not a valid URL: {exc.message.replace('MediaUrl', field)}") from exc
    return value


def _method(value: str, field: str) -> str:
    method = value.strip().upper()
    if method not in METHODS:
        raise BadRequest(f"{field} must be GET or POST.", code=20001)
    return method


def _friendly_name(value: str) -> str:
    name = value.strip()
    if len(name) > 64:
        raise BadRequest("FriendlyName must be at most 64 characters.", code=20001)
    return name


def apply_fields(rt: Runtime, row: IncomingPhoneNumber, fields: Mapping[str, str]) -> None:
    """The form fields create and update share, validated onto ``row`` (also a transient row:
    messaging/test_credentials.py)."""
    for name, column in _URL_FIELDS.items():
        if name in fields:
            setattr(row, column, validate_webhook_url(rt, fields[name], name))
    for name, column in _METHOD_FIELDS.items():
        if name in fields:
            setattr(row, column, _method(fields[name], name))
    if "FriendlyName" in fields:
        row.friendly_name = _friendly_name(fields["FriendlyName"])


@dataclass(frozen=True)
class Owner:
    number_sid: str
    account_sid: str
    phone_number: str
    sms_url: str | None
    sms_method: str


def create(rt: Runtime, account_sid: str, fields: Mapping[str, str], *, actor: str) -> NumberRecord:
    if not fields.get("PhoneNumber"):
        if fields.get("AreaCode"):
            raise BadRequest("Claiming by AreaCode is not supported; give PhoneNumber.", code=21421)
        raise BadRequest("A PhoneNumber is required.", code=21421)
    number = normalize_number(fields["PhoneNumber"])
    now = rt.clock.now()
    row = IncomingPhoneNumber(
        sid=sids.new_sid(sids.PHONE_NUMBER),
        account_sid=account_sid,
        phone_number=number,
        friendly_name=number,
        sms_method="POST",
        sms_fallback_method="POST",
        status_callback_method="POST",
        voice_method="POST",
        date_created=now,
        date_updated=now,
    )
    apply_fields(rt, row, fields)
    try:
        with rt.tx() as session:
            taken = session.scalar(
                select(IncomingPhoneNumber.sid).where(IncomingPhoneNumber.phone_number == number)
            )
            if taken is not None:
                raise _not_available(number)
            number_pool.reserve_for_claim(rt, session, number, account_sid, actor=actor)
            session.add(row)
            session.add(
                AuditEvent(account_sid=account_sid, actor=actor, action="number.create", target=row.sid)
            )
    except IntegrityError:  # two claims raced past the check; the unique index decided
        raise _not_available(number) from None
    return NumberRecord.of(row)


def _not_available(number: str) -> BadRequest:
    return number_pool.not_available(number)


def get(rt: Runtime, account_sid: str, number_sid: str) -> NumberRecord:
    with rt.sessions() as session:
        row = session.get(IncomingPhoneNumber, number_sid)
    if row is None or row.account_sid != account_sid:
        raise NotFound(number_path(account_sid, number_sid))
    return NumberRecord.of(row)


def page(rt: Runtime, account_sid: str, query: Mapping[str, str], req: PageRequest) -> Page:
    stmt = select(IncomingPhoneNumber).where(IncomingPhoneNumber.account_sid == account_sid)
    if query.get("PhoneNumber"):
        stmt = stmt.where(IncomingPhoneNumber.phone_number.contains(query["PhoneNumber"].strip()))
    if query.get("FriendlyName"):
        stmt = stmt.where(IncomingPhoneNumber.friendly_name == query["FriendlyName"])
    with rt.sessions() as session:
        found = fetch_page(session, stmt, IncomingPhoneNumber.date_created, IncomingPhoneNumber.sid, req)
        return page_of(found, NumberRecord.of)


def update(
    rt: Runtime, account_sid: str, number_sid: str, fields: Mapping[str, str], *, actor: str
) -> NumberRecord:
    if fields.get("AccountSid") and fields["AccountSid"] != account_sid:
        raise BadRequest("Moving a number to another account is not supported.", code=20001)
    with rt.tx() as session:
        row = session.get(IncomingPhoneNumber, number_sid)
        if row is None or row.account_sid != account_sid:
            raise NotFound(number_path(account_sid, number_sid))
        apply_fields(rt, row, fields)
        row.date_updated = rt.clock.now()
        session.add(
            AuditEvent(account_sid=account_sid, actor=actor, action="number.update", target=number_sid)
        )
    return NumberRecord.of(row)


def delete(rt: Runtime, account_sid: str, number_sid: str, *, actor: str) -> None:
    with rt.tx() as session:
        row = session.get(IncomingPhoneNumber, number_sid)
        if row is None or row.account_sid != account_sid:
            raise NotFound(number_path(account_sid, number_sid))
        session.delete(row)
        session.add(
            AuditEvent(account_sid=account_sid, actor=actor, action="number.delete", target=number_sid)
        )


def owner_of(rt: Runtime, address: str) -> Owner | None:
    """The number (and so the account) an address like ``+1...`` or
    ``whatsapp:+1...`` reaches, or None when no account here owns it."""
    number = e164_part(address)
    if not E164.match(number):
        return None
    # Only a claim that matches the number's assignment reaches anyone (see
    # messaging/number_pool.py): a claim left over from before a release/re-assign
    # delivers nothing.
    stmt = select(IncomingPhoneNumber).join(
        NumberAssignment,
        (NumberAssignment.phone_number == IncomingPhoneNumber.phone_number)
        & (NumberAssignment.account_sid == IncomingPhoneNumber.account_sid),
    )
    with rt.sessions() as session:
        row = session.scalar(stmt.where(IncomingPhoneNumber.phone_number == number))
    if row is None:
        return None
    return Owner(row.sid, row.account_sid, row.phone_number, row.sms_url, row.sms_method)
