"""Property-based fuzzing of the parsers an attacker reaches first (issue 8).

For each: any input gives a value or one of the documented 4xx error types,
never another exception; round trips hold where they exist (sign -> verify,
page token encode -> decode, day -> ISO -> day); only canonical spellings are
accepted (ASCII digits, no leading zero, sign or whitespace).
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from starlette.datastructures import FormData
from starlette.requests import Request

from mediagate.accounts import auth
from mediagate.core import sids
from mediagate.core.errors import BadRequest
from mediagate.core.inputs import FIRST_DAY, LAST_DAY, canonical_int, parse_day
from mediagate.core.paging import page_token, parse_page_request
from mediagate.edge.ranges import MAX_PARTS, RangeError, parse_range
from mediagate.http.common import MAX_FORM_BYTES, form
from mediagate.media.signing import SignatureError, SignatureInvalid, Signer, SigningKeyMaterial
from mediagate.messaging import channels
from mediagate.messaging.channels import normalize_number
from tests.support.clients import basic

DIGITS = "0123456789"
# Characters that look like digits to str.isdigit(), int() or \d: the bypasses we refuse.
LOOKALIKE_DIGITS = "²³¹٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹०१२३४५६७८९０１２３４５６７８９"
NUMBERISH = st.text(alphabet=DIGITS + LOOKALIKE_DIGITS + "+- _\t\n\x00.,e", max_size=24)
ANY_TEXT = st.one_of(st.text(max_size=64), NUMBERISH)


def respell(value: int) -> st.SearchStrategy[str]:
    """Other spellings of ``value`` that int() accepts as the same number."""
    text = str(value)
    lookalike = st.sampled_from([0x660, 0x6F0, 0x966, 0xFF10]).map(
        lambda base: "".join(chr(base + int(d)) for d in text)
    )
    return st.one_of(
        st.just("0" + text),
        st.just("+" + text),
        st.just(f" {text}"),
        st.just(f"{text}\n"),
        lookalike,
        st.just(text[:1] + "_" + text[1:]) if len(text) > 1 else st.just("00" + text),
    )


# --------------------------------------------------------------------------- canonical integers


@given(NUMBERISH)
@example("²")
@example("٣")
def test_canonical_int_accepts_exactly_the_canonical_spelling(raw: str) -> None:
    value = canonical_int(raw)
    if value is None:
        assert not (raw.isascii() and raw.isdigit() and str(int(raw)) == raw and len(raw) <= 18)
    else:
        assert str(value) == raw


@given(st.integers(min_value=0, max_value=10**12), st.data())
def test_canonical_int_refuses_every_respelling(value: int, data: st.DataObject) -> None:
    assert canonical_int(str(value)) == value
    assert canonical_int(data.draw(respell(value))) is None


# --------------------------------------------------------------------------- Basic auth


@given(st.one_of(st.none(), ANY_TEXT, st.binary(max_size=64).map(lambda b: "Basic " + b.decode("latin-1"))))
def test_parse_basic_never_raises(header: str | None) -> None:
    parsed = auth.parse_basic(header)
    assert parsed is None or (isinstance(parsed, tuple) and all(isinstance(p, str) for p in parsed))


@given(st.text(max_size=40).filter(lambda u: ":" not in u), st.text(max_size=40))
def test_parse_basic_round_trips(user: str, password: str) -> None:
    assume("\x00" not in user + password)
    assert auth.parse_basic(basic(user, password)) == (user, password)


# --------------------------------------------------------------------------- signed URLs

KEY = SigningKeyMaterial(kid=sids.new_sid(sids.SIGNING_KEY), secret=secrets.token_bytes(32), active=True)
SIGNER = Signer(lambda: [KEY], ttl=14400, refresh_seconds=3600)
NOW = 1_700_000_000
PATHS = st.builds(lambda a, m: f"/AC{a}/ME{m}", st.text("0123456789abcdef", min_size=32, max_size=32),
                  st.text("0123456789abcdef", min_size=32, max_size=32))  # fmt: skip


def query(signed: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in signed.split("&"))


@given(PATHS, st.integers(min_value=1, max_value=7 * 24 * 3600))
def test_sign_then_verify(path: str, ttl: int) -> None:
    q = query(SIGNER.sign(path, now=NOW, ttl=ttl))
    SIGNER.verify(path, q["Expires"], q["Signature"], q["Key-Pair-Id"], q["Issued"], now=NOW)


@given(PATHS, ANY_TEXT, ANY_TEXT, st.one_of(ANY_TEXT, st.just(KEY.kid)))
def test_verify_only_raises_signature_errors(path: str, expires: str, signature: str, kid: str) -> None:
    with pytest.raises(SignatureError):
        SIGNER.verify(path, expires, signature, kid, now=NOW)


@given(PATHS, st.data())
def test_a_respelled_expires_never_verifies(path: str, data: st.DataObject) -> None:
    q = query(SIGNER.sign(path, now=NOW))
    spelled = data.draw(respell(int(q["Expires"])))
    with pytest.raises(SignatureInvalid):
        SIGNER.verify(path, spelled, q["Signature"], q["Key-Pair-Id"], q["Issued"], now=NOW)


# --------------------------------------------------------------------------- paging

PAGE_KEYS = st.sampled_from(["PageSize", "Page", "PageToken", "Other"])


@given(st.dictionaries(PAGE_KEYS, st.one_of(ANY_TEXT, st.integers().map(str)), max_size=4))
def test_page_request_is_a_value_or_a_400(q: dict[str, str]) -> None:
    try:
        req = parse_page_request(q)
    except BadRequest as exc:
        assert exc.status == 400
        return
    assert 1 <= req.size <= 1000 and 0 <= req.number <= 10**9
    for name in ("PageSize", "Page"):
        if q.get(name):
            assert q[name] == str(int(q[name]))


WHEN = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC))
SIDS = st.builds(lambda p, h: p + h, st.sampled_from(["SM", "MM", "ME", "PN", "SK", "AC"]),
                 st.text("0123456789abcdef", min_size=32, max_size=32))  # fmt: skip


@given(st.booleans(), WHEN, SIDS)
def test_page_token_round_trips(forward: bool, when: datetime, sid: str) -> None:
    token = page_token(forward, when, sid)
    cursor = parse_page_request({"PageToken": token}).cursor
    assert cursor is not None
    assert (cursor.forward, cursor.when, cursor.sid) == (forward, when, sid)


@given(st.booleans(), WHEN, SIDS)
def test_page_token_with_leading_zero_is_refused(forward: bool, when: datetime, sid: str) -> None:
    token = page_token(forward, when, sid)
    with pytest.raises(BadRequest):
        parse_page_request({"PageToken": token[:2] + "0" + token[2:]})


# --------------------------------------------------------------------------- dates


@given(ANY_TEXT)
@example("9999-12-31")
@example("2024-02-30")
def test_parse_day_is_a_day_or_a_400(raw: str) -> None:
    try:
        day = parse_day(raw, "DateSent")
    except BadRequest as exc:
        assert exc.status == 400
        return
    assert day.isoformat()[:10] == raw[:10]  # only the one spelling of the day
    assert len(raw) == 10 or (len(raw) == 20 and raw[10] == "T" and raw.endswith("Z"))
    assert day + timedelta(days=1) > day  # filters add a day: no overflow


@given(st.dates(min_value=FIRST_DAY, max_value=LAST_DAY), st.times())
def test_parse_day_round_trips(d: date, t: time) -> None:
    midnight = datetime(d.year, d.month, d.day, tzinfo=UTC)
    assert parse_day(d.isoformat(), "DateSent") == midnight
    # twilio-python's serialize.iso8601_datetime form for date filters.
    stamp = datetime.combine(d, t).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert parse_day(stamp, "DateSent") == midnight


@given(st.dates(min_value=LAST_DAY + timedelta(days=1)))
def test_days_past_the_range_are_400(d: date) -> None:
    with pytest.raises(BadRequest):
        parse_day(d.isoformat(), "DateSent")


# --------------------------------------------------------------------------- phone numbers

ADDRESSES = st.one_of(
    ANY_TEXT,
    st.builds(lambda p, n: p + n, st.sampled_from(["", "+", "+1", "whatsapp:+", "rcs:", "fax:+"]), NUMBERISH),
)


@given(ADDRESSES)
@example("+1555" + "١٢٣٤٥٦٧")
@example("+15551234567\n")
def test_e164_is_ascii_and_canonical(raw: str) -> None:
    try:
        number = normalize_number(raw)
    except BadRequest as exc:
        assert exc.code == 21421
        return
    assert number[0] == "+" and number[1:].isascii() and number[1:].isdigit() and number[1] != "0"
    assert 3 <= len(number) <= 16


@given(ADDRESSES, ADDRESSES)
def test_to_and_from_are_a_channel_or_a_400(to: str, from_: str) -> None:
    try:
        channel = channels.parse_to(to)
        channels.parse_from(from_, channel)
    except BadRequest as exc:
        assert exc.status == 400 and exc.code in (21604, 21211, 21603, 21212, 21910)
        return
    number = to.strip().partition(":")[2] if ":" in to else to.strip()
    if not to.strip().lower().startswith(("messenger:", "rcs:")):
        # SMS and WhatsApp addresses: "+" and ASCII digits, in E.164's one spelling.
        assert number[0] == "+" and number[1:].isascii() and number[1:].isdigit() and number[1] != "0"


# --------------------------------------------------------------------------- form bodies


def run_form(body: bytes, content_type: str) -> FormData:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [
            (b"content-type", content_type.encode("latin-1")),
            (b"content-length", str(len(body)).encode()),
        ],
        "query_string": b"",
    }
    return asyncio.run(form(Request(scope, receive)))


FORM_BYTES = st.one_of(
    st.binary(max_size=512),
    st.lists(st.tuples(st.text(max_size=12), st.text(max_size=24)), max_size=8).map(
        lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass")
    ),
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "multipart/form-data",
        "text/plain",
        "",
    ]
)


@given(FORM_BYTES, CONTENT_TYPES)
@example(b"Body=a%00b", "application/x-www-form-urlencoded")
@example(b"Body=%ED%A0%80", "application/x-www-form-urlencoded")
@example(b"--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\xed\xa0\x80\r\n--xyz--\r\n",
         "multipart/form-data; boundary=xyz")  # fmt: skip
def test_form_is_clean_text_or_a_400(body: bytes, content_type: str) -> None:
    assume(len(body) <= MAX_FORM_BYTES)
    try:
        data = run_form(body, content_type)
    except BadRequest as exc:
        assert exc.status == 400
        return
    for name, value in data.multi_items():
        for text in (name, value):
            assert isinstance(text, str) and "\x00" not in text
            text.encode("utf-8")  # no lone surrogate


# --------------------------------------------------------------------------- Range


RANGE_PART = st.one_of(
    st.builds(lambda a, b: f"{a}-{b}", st.integers(0, 10**6), st.integers(0, 10**6)),
    st.builds(lambda a: f"{a}-", st.integers(0, 10**6)),
    st.builds(lambda b: f"-{b}", st.integers(0, 10**6)),
    NUMBERISH,
)
RANGES = st.one_of(
    ANY_TEXT,
    st.lists(RANGE_PART, min_size=1, max_size=MAX_PARTS + 2).map(lambda parts: "bytes=" + ",".join(parts)),
)


@given(RANGES)
@example("bytes=0-1_0")
@example("bytes=+1-2")
def test_range_is_canonical_or_a_range_error(header: str) -> None:
    try:
        specs = parse_range(header)
    except RangeError:
        return
    assert 1 <= len(specs) <= MAX_PARTS
    canonical = ",".join(f"{'' if a is None else a}-{'' if b is None else b}" for a, b in specs)
    spec = header.partition("=")[2]
    assert canonical == ",".join(p.strip(" \t") for p in spec.split(","))
    assert all(a is None or b is None or a <= b for a, b in specs)
