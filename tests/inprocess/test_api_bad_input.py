"""Malformed requests with the app in process (tests/support/api_inprocess.py), on SQLite and
PostgreSQL: each one gets Twilio's error body with the right status and code, and none of them
adds or removes a message, a media row or a stored file. Moved from tests/e2e/test_bad_input.py
with the assertions unchanged: these are the app's rules, which a real server reaches the same
way; what only the process shows (chunked bodies, a client leaving mid-upload, twilio-python,
argv bytes) stays there."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.api_bad_input import (
    ARABIC_INDIC_10,
    FROM,
    FULLWIDTH_10,
    HEX,
    TO,
    Snapshot,
    Victim,
    make_victim,
    snapshot,
    unchanged_around,
)
from tests.support.api_inprocess import LOCAL_SHAPES, ApiServer, shape_server
from tests.support.carrier import carrier_auth
from tests.support.clients import assert_twilio_error, settled_message
from tests.support.fileserver import FileServer, png_bytes
from tests.support.shapes import shape_id

RunningServer = ApiServer  # the moved tests' annotations


@pytest.fixture(scope="module", params=LOCAL_SHAPES, ids=shape_id)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with shape_server(request, tmp_path_factory) as srv:
        yield srv


@pytest.fixture(scope="module")
def victim(server: RunningServer, files: FileServer) -> Victim:
    return make_victim(server, files)


@pytest.fixture
def unchanged(server: RunningServer, victim: Victim) -> Iterator[None]:
    """Asserts after the test that the database and the media folder are exactly as before."""
    with unchanged_around(server, victim):
        yield


# --------------------------------------------------------------------------- message create

CREATE_CASES: list[tuple[str, dict[str, Any], int]] = [
    ("missing To", {"From": FROM, "Body": "x"}, 21604),
    ("empty To", {"To": "", "From": FROM, "Body": "x"}, 21604),
    ("To without +", {"To": "15551230001", "From": FROM, "Body": "x"}, 21211),
    ("To with letters", {"To": "+1555abc0001", "From": FROM, "Body": "x"}, 21211),
    ("To too long", {"To": "+1234567890123456", "From": FROM, "Body": "x"}, 21211),
    ("To leading zero", {"To": "+0155512300", "From": FROM, "Body": "x"}, 21211),
    ("To unknown channel", {"To": "fax:+15551230001", "From": FROM, "Body": "x"}, 21211),
    ("To whatsapp not E.164", {"To": "whatsapp:5551230001", "From": FROM, "Body": "x"}, 21211),
    ("missing From", {"To": TO, "Body": "x"}, 21603),
    ("empty From", {"To": TO, "From": "", "Body": "x"}, 21603),
    ("From punctuation", {"To": TO, "From": "not a number!", "Body": "x"}, 21212),
    ("From alphanumeric too long", {"To": TO, "From": "ABCDEFGHIJKL", "Body": "x"}, 21212),
    ("From nine digits", {"To": TO, "From": "123456789", "Body": "x"}, 21212),
    ("From two digits", {"To": TO, "From": "12", "Body": "x"}, 21212),
    ("neither Body nor MediaUrl", {"To": TO, "From": FROM}, 21602),
    ("empty Body", {"To": TO, "From": FROM, "Body": ""}, 21602),
    ("Body over 1600", {"To": TO, "From": FROM, "Body": "x" * 1601}, 21617),
    ("Body over 1600 non-GSM", {"To": TO, "From": FROM, "Body": "é" * 1601}, 21617),
    ("MediaUrl ftp", {"To": TO, "From": FROM, "MediaUrl": "ftp://x"}, 21620),
    ("MediaUrl javascript", {"To": TO, "From": FROM, "MediaUrl": "javascript:alert(1)"}, 21620),
    ("MediaUrl userinfo", {"To": TO, "From": FROM, "MediaUrl": "http://user:pw@host/x"}, 21620),
    ("MediaUrl relative", {"To": TO, "From": FROM, "MediaUrl": "/just/a/path.png"}, 21620),
    ("MediaUrl no host", {"To": TO, "From": FROM, "MediaUrl": "http:///x.png"}, 21620),
    ("MediaUrl with space", {"To": TO, "From": FROM, "MediaUrl": "http://exa mple.com/x.png"}, 21620),
    ("MediaUrl bad port", {"To": TO, "From": FROM, "MediaUrl": "http://example.com:99999/x"}, 21620),
    ("MediaUrl data", {"To": TO, "From": FROM, "MediaUrl": "data:image/png;base64,AAAA"}, 21620),
    ("MediaUrl file", {"To": TO, "From": FROM, "MediaUrl": "file:///etc/passwd"}, 21620),
    # Issue 8, items 6 and 7: one spelling per number, and text both databases can store.
    ("To Arabic-Indic digits", {"To": "+1" + ARABIC_INDIC_10, "From": FROM, "Body": "x"}, 21211),
    ("To fullwidth digits", {"To": "+1" + FULLWIDTH_10, "From": FROM, "Body": "x"}, 21211),
    ("From Arabic-Indic short code", {"To": TO, "From": ARABIC_INDIC_10[:5], "Body": "x"}, 21212),
    ("NUL in Body", {"To": TO, "From": FROM, "Body": "a\x00b"}, 20001),
    ("NUL in To", {"To": TO + "\x00", "From": FROM, "Body": "x"}, 20001),
    ("NUL in a parameter name", {"To": TO, "From": FROM, "Body": "x", "X\x00": "y"}, 20001),
    (
        "NUL in StatusCallback",
        {"To": TO, "From": FROM, "Body": "x", "StatusCallback": "http://a\x00b/"},
        20001,
    ),
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("data", "code"), [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES])
def test_invalid_create_is_refused(
    server: RunningServer, victim: Victim, data: dict[str, Any], code: int
) -> None:
    r = requests.post(victim.api(server, "/Messages.json"), data=data, auth=victim.auth, timeout=10)
    assert_twilio_error(r, 400, code)


@pytest.mark.usefixtures("unchanged")
def test_eleven_media_urls_fetch_nothing(server: RunningServer, victim: Victim, files: FileServer) -> None:
    paths = [f"/bad-input/{victim.acct.sid}/eleven/{i}.png" for i in range(11)]
    urls = [files.add(p, png_bytes(100)) for p in paths]
    r = requests.post(
        victim.api(server, "/Messages.json"),
        data={"To": TO, "From": FROM, "Body": "x", "MediaUrl": urls},
        auth=victim.auth,
        timeout=10,
    )
    assert_twilio_error(r, 400, 21623)
    assert sum(files.hits(p) for p in paths) == 0


@pytest.mark.usefixtures("unchanged")
def test_one_bad_media_url_refuses_all_before_fetching(
    server: RunningServer, victim: Victim, files: FileServer
) -> None:
    good = f"/bad-input/{victim.acct.sid}/good.png"
    r = requests.post(
        victim.api(server, "/Messages.json"),
        data={"To": TO, "From": FROM, "MediaUrl": [files.add(good, png_bytes(100)), "ftp://x"]},
        auth=victim.auth,
        timeout=10,
    )
    assert_twilio_error(r, 400, 21620)
    assert files.hits(good) == 0


def test_body_of_exactly_1600_characters_is_accepted(server: RunningServer) -> None:
    acct = server.new_account("bad-input-boundary")
    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": TO, "From": FROM, "Body": "x" * 1600},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    assert r.json()["num_segments"] == "11"  # ceil(1600 / 153)


# --------------------------------------------------------------------------- sids in paths


def bad_sids(prefix: str) -> list[str]:
    wrong = "XX" if prefix != "XX" else "YY"
    return [
        wrong + HEX,  # wrong prefix
        prefix + HEX[:31],  # short
        prefix + HEX + "0",  # long
        prefix + "g" * 32,  # not hex
        prefix.lower() + HEX,  # lowercase prefix
        prefix,  # prefix only
        "ME" + HEX if prefix != "ME" else "SM" + HEX,  # another resource's valid sid
    ]


# (label, method, path template); {AC}/{MM}/{ME}/{SK} are filled with good values except the one under test.
ROUTES: list[tuple[str, str, str]] = [
    ("messages list", "GET", "/2010-04-01/Accounts/{AC}/Messages.json"),
    ("messages create", "POST", "/2010-04-01/Accounts/{AC}/Messages.json"),
    ("message fetch", "GET", "/2010-04-01/Accounts/{AC}/Messages/{MM}.json"),
    ("message delete", "DELETE", "/2010-04-01/Accounts/{AC}/Messages/{MM}.json"),
    ("media list", "GET", "/2010-04-01/Accounts/{AC}/Messages/{MM}/Media.json"),
    ("media fetch", "GET", "/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}.json"),
    ("media delete", "DELETE", "/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}.json"),
    ("media content", "GET", "/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}"),
    ("media content head", "HEAD", "/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}"),
    ("keys list", "GET", "/2010-04-01/Accounts/{AC}/Keys.json"),
    ("key fetch", "GET", "/2010-04-01/Accounts/{AC}/Keys/{SK}.json"),
    ("key delete", "DELETE", "/2010-04-01/Accounts/{AC}/Keys/{SK}.json"),
    ("messaging settings", "GET", "/v1/Accounts/{AC}/MessagingSettings"),
    ("messaging settings set", "POST", "/v1/Accounts/{AC}/MessagingSettings"),
]
# Each sid slot of each route over HTTP with one of the malformed forms, turning through
# them, so every form crosses the process; path_sid itself is unit-tested on every form
# for every parameter (tests/unit/test_path_sid.py).
_SLOTS = [
    (label, method, template, slot)
    for label, method, template in ROUTES
    for slot in ("AC", "MM", "ME", "SK")
    if "{" + slot + "}" in template
]
SID_CASES = [
    pytest.param(method, template, slot, bad, id=f"{label}-{slot}-{i % 7}")
    for i, (label, method, template, slot) in enumerate(_SLOTS)
    for bad in [bad_sids("MM" if slot == "MM" else slot)[i % 7]]
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("method", "template", "slot", "bad"), SID_CASES)
def test_malformed_sid_in_path_is_400(
    server: RunningServer, victim: Victim, method: str, template: str, slot: str, bad: str
) -> None:
    good = {"AC": victim.acct.sid, "MM": victim.message_sid, "ME": victim.media_sid, "SK": "SK" + HEX}
    path = template.format(**{**good, slot: bad})
    r = requests.request(
        method,
        f"{server.base_url}{path}",
        data={"EnforceMediaHttpAuth": "false"} if method == "POST" else None,
        auth=victim.auth,
        timeout=10,
        allow_redirects=False,
    )
    if method == "HEAD":
        assert r.status_code == 400 and r.content == b""
    else:
        body = assert_twilio_error(r, 400, 20001)
        assert "32 hex digits" in body["message"]


@pytest.mark.usefixtures("unchanged")
def test_malformed_sid_is_400_even_without_credentials(server: RunningServer, victim: Victim) -> None:
    r = requests.get(f"{server.base_url}/2010-04-01/Accounts/ACnope/Messages.json", timeout=10)
    assert_twilio_error(r, 400, 20001)


@pytest.mark.usefixtures("unchanged")
def test_unknown_well_formed_sids_are_404(server: RunningServer, victim: Victim) -> None:
    mm, sm, me, sk = (prefix + secrets.token_hex(16) for prefix in ("MM", "SM", "ME", "SK"))
    cases = [
        ("GET", f"/Messages/{mm}.json"),
        ("GET", f"/Messages/{sm}.json"),
        ("DELETE", f"/Messages/{mm}.json"),
        ("GET", f"/Messages/{mm}/Media.json"),
        ("GET", f"/Messages/{victim.message_sid}/Media/{me}.json"),
        ("DELETE", f"/Messages/{victim.message_sid}/Media/{me}.json"),
        ("GET", f"/Messages/{victim.message_sid}/Media/{me}"),
        # A real media sid under the wrong (unknown) message is not found either.
        ("GET", f"/Messages/{mm}/Media/{victim.media_sid}.json"),
        ("DELETE", f"/Messages/{mm}/Media/{victim.media_sid}.json"),
        ("GET", f"/Messages/{mm}/Media/{victim.media_sid}"),
        ("GET", f"/Keys/{sk}.json"),
        ("DELETE", f"/Keys/{sk}.json"),
    ]
    for method, path in cases:
        r = requests.request(
            method, victim.api(server, path), auth=victim.auth, timeout=10, allow_redirects=False
        )
        body = assert_twilio_error(r, 404, 20404)
        assert f"/2010-04-01/Accounts/{victim.acct.sid}{path}" in body["message"], (method, path, body)
    # An account sid nobody has is answered like one we may not see: 401, never 404.
    r = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/AC{secrets.token_hex(16)}/Messages.json",
        auth=victim.auth,
        timeout=10,
    )
    assert_twilio_error(r, 401, 20003)
    assert r.headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'


def test_another_accounts_message_is_not_revealed(server: RunningServer, victim: Victim) -> None:
    """Another account's real message, named on that account's path with our credentials: 401;
    on our path: 404 like any unknown sid. Neither reveals whether it exists."""
    other = server.new_account("bad-input-other")
    theirs = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{other.sid}/Messages.json",
        data={"To": TO, "From": FROM, "Body": "theirs"},
        auth=(other.sid, other.token),
        timeout=10,
    ).json()["sid"]
    assert_twilio_error(
        requests.get(victim.api(server, f"/Messages/{theirs}.json"), auth=victim.auth, timeout=10), 404, 20404
    )
    r = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{other.sid}/Messages/{theirs}.json",
        auth=victim.auth,
        timeout=10,
    )
    assert_twilio_error(r, 401, 20003)
    gone = requests.delete(victim.api(server, f"/Messages/{theirs}.json"), auth=victim.auth, timeout=10)
    assert_twilio_error(gone, 404, 20404)
    still = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{other.sid}/Messages/{theirs}.json",
        auth=(other.sid, other.token),
        timeout=10,
    )
    assert still.status_code == 200 and still.json()["body"] == "theirs"


# --------------------------------------------------------------------------- routes and methods


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/2010-04-01/Accounts/{AC}/Calls.json",
        "/2010-04-01/Accounts/{AC}/Messages",
        "/2010-04-01/Accounts/{AC}/Messages.xml",
        "/2010-04-01/Accounts/{AC}/Messages/{MM}/Feedback.json",
        "/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}/extra",
        "/2010-04-02/Accounts/{AC}/Messages.json",
    ],
)
def test_unknown_route_is_twilio_404(server: RunningServer, victim: Victim, path: str) -> None:
    real = path.format(AC=victim.acct.sid, MM=victim.message_sid, ME=victim.media_sid)
    r = requests.get(f"{server.base_url}{real}", auth=victim.auth, timeout=10)
    body = assert_twilio_error(r, 404, 20404)
    assert body["message"] == f"The requested resource {real} was not found"


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/2010-04-01/Accounts/{AC}/Messages.json", {"GET", "POST"}),
        ("DELETE", "/2010-04-01/Accounts/{AC}/Messages.json", {"GET", "POST"}),
        ("PATCH", "/2010-04-01/Accounts/{AC}/Messages/{MM}.json", {"GET", "DELETE"}),
        ("PUT", "/2010-04-01/Accounts/{AC}/Messages/{MM}.json", {"GET", "DELETE"}),
        ("POST", "/2010-04-01/Accounts/{AC}/Messages/{MM}/Media.json", {"GET"}),
        ("POST", "/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}.json", {"GET", "DELETE"}),
        ("DELETE", "/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}", {"GET", "HEAD"}),
    ],
)
def test_wrong_method_is_twilio_405(
    server: RunningServer, victim: Victim, method: str, path: str, allowed: set[str]
) -> None:
    real = path.format(AC=victim.acct.sid, MM=victim.message_sid, ME=victim.media_sid)
    r = requests.request(
        method,
        f"{server.base_url}{real}",
        data={"To": TO, "From": FROM, "Body": "x"},
        auth=victim.auth,
        timeout=10,
    )
    assert_twilio_error(r, 405, 20004)
    # RFC 9110: a 405 says which methods the resource does allow.
    assert allowed <= {m.strip() for m in r.headers["Allow"].split(",")}
    assert method not in r.headers["Allow"]


# --------------------------------------------------------------------------- query parameters

PAGING_CASES = [
    {"PageSize": "0"},
    {"PageSize": "1001"},
    {"PageSize": "abc"},
    {"PageSize": "-5"},
    {"PageSize": "1.5"},
    {"PageSize": " 7"},
    {"PageSize": "²"},  # str.isdigit() is true for it; int() is not
    {"PageSize": "٣"},
    {"PageSize": "9" * 5000},  # over int()'s 4300-digit limit
    {"Page": "-1"},
    {"Page": "x"},
    {"PageToken": "garbage"},
    {"PageToken": "PC123_SM" + HEX},
    {"PageToken": "PA999999999999999999_SM" + HEX},  # past year 9999
    {"PageToken": "PB99999999999999999999_SM" + HEX},  # past timedelta's range
    {"PageToken": "PA123_SM" + HEX + "; DROP TABLE messages"},
    {"DateSent": "not-a-date"},
    {"DateSent<": "2024-13-01"},
    {"DateSent>": "yesterday"},
    # Issue 8, items 6 and 7: past datetime's range was an OverflowError 500 on both databases.
    {"DateSent": "9999-12-31"},
    {"DateSent<": "9999-12-31"},
    {"DateSent>": "9999-12-31"},
    {"DateSent": "2024-02-30"},
    {"DateSent": "2024-01-01junk"},  # used to be cut to its first 10 characters and accepted
    {"DateSent": "2024-01-01T25:00:00Z"},  # twilio-python's timestamp form, but no such time
    {"DateSent": "2024-01-01\n"},
    {"DateSent": "".join(chr(0x660 + int(d)) if d.isdigit() else d for d in "2024-01-01")},
    {"PageSize": "07"},
    {"PageSize": "+7"},
    {"Page": "00"},
    {"PageToken": "PA0123_SM" + HEX},  # leading zero: a second spelling of a real token
    {"PageToken": "PA123_SM" + HEX + "\n"},
    {"To": TO + "\x00"},
    {"From": "\x00"},
    {"X\x00": "1"},
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "params", PAGING_CASES, ids=[f"{k}={v[:40]}" for c in PAGING_CASES for k, v in c.items()]
)
def test_bad_list_parameters_are_400(server: RunningServer, victim: Victim, params: dict[str, str]) -> None:
    r = requests.get(victim.api(server, "/Messages.json"), params=params, auth=victim.auth, timeout=10)
    assert_twilio_error(r, 400, 20001)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "params",
    [
        {"PageSize": "0"},
        {"PageSize": "1001"},
        {"PageToken": "garbage"},
        {"DateCreated": "garbage"},
        {"DateCreated": "9999-12-31"},
        {"DateCreated<": "9999-12-31"},
        {"DateCreated>": "9999-12-31"},
    ],
    ids=[
        "PageSize=0",
        "PageSize=1001",
        "PageToken=garbage",
        "DateCreated=garbage",
        "DateCreated=9999-12-31",
        "DateCreated<=9999-12-31",
        "DateCreated>=9999-12-31",
    ],
)
def test_bad_media_list_parameters_are_400(
    server: RunningServer, victim: Victim, params: dict[str, str]
) -> None:
    r = requests.get(
        victim.api(server, f"/Messages/{victim.message_sid}/Media.json"),
        params=params,
        auth=victim.auth,
        timeout=10,
    )
    assert_twilio_error(r, 400, 20001)


def test_page_size_bounds_are_accepted(server: RunningServer, victim: Victim) -> None:
    for size in ("1", "1000"):
        r = requests.get(
            victim.api(server, "/Messages.json"), params={"PageSize": size}, auth=victim.auth, timeout=10
        )
        assert r.status_code == 200 and r.json()["page_size"] == int(size)


# --------------------------------------------------------------------------- request bodies


@pytest.mark.usefixtures("unchanged")
def test_json_body_is_400(server: RunningServer, victim: Victim) -> None:
    r = requests.post(
        victim.api(server, "/Messages.json"),
        json={"To": TO, "From": FROM, "Body": "json is not a form"},
        auth=victim.auth,
        timeout=10,
    )
    assert_twilio_error(r, 400, 20001)


@pytest.mark.usefixtures("unchanged")
def test_multipart_file_upload_is_400(server: RunningServer, victim: Victim) -> None:
    r = requests.post(
        victim.api(server, "/Messages.json"),
        data={"To": TO, "From": FROM, "Body": "x"},
        files={"MediaUrl": ("x.png", png_bytes(100), "image/png")},
        auth=victim.auth,
        timeout=10,
    )
    assert_twilio_error(r, 400)


@pytest.mark.usefixtures("unchanged")
def test_form_over_256_kb_is_400(server: RunningServer, victim: Victim) -> None:
    r = requests.post(
        victim.api(server, "/Messages.json"),
        data={"To": TO, "From": FROM, "Body": "x", "Padding": "a" * (256 * 1024)},
        auth=victim.auth,
        timeout=10,
    )
    body = assert_twilio_error(r, 400, 20001)
    assert "262144" in body["message"]


# --------------------------------------------------------------------------- text that cannot be stored

NUMBERS = "/2010-04-01/Accounts/{AC}/IncomingPhoneNumbers.json"
NUL_CASES: list[tuple[str, str, str, dict[str, str]]] = [
    ("account FriendlyName", "POST", "/2010-04-01/Accounts.json", {"FriendlyName": "sub\x00"}),
    ("key FriendlyName", "POST", "/2010-04-01/Accounts/{AC}/Keys.json", {"FriendlyName": "k\x00"}),
    ("number FriendlyName", "POST", "/2010-04-01/Accounts/{AC}/IncomingPhoneNumbers.json",
     {"PhoneNumber": "+15550001111", "FriendlyName": "n\x00"}),
    ("numbers PhoneNumber filter", "GET", NUMBERS + "?PhoneNumber=%00", {}),
    ("numbers FriendlyName filter", "GET", NUMBERS + "?FriendlyName=%00", {}),
    ("messages To filter", "GET", "/2010-04-01/Accounts/{AC}/Messages.json?To=%2B1%00", {}),
    ("inbound Body", "POST", "/v1/Carrier/Inbound", {"To": "{NUMBER}", "From": FROM, "Body": "in\x00bound"}),
]  # fmt: skip


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("method", "path", "data"), [c[1:] for c in NUL_CASES], ids=[c[0] for c in NUL_CASES]
)
def test_nul_in_text_is_400_and_stores_nothing(
    server: RunningServer, victim: Victim, method: str, path: str, data: dict[str, str]
) -> None:
    """PostgreSQL refuses NUL in text (a 500 before); SQLite stored it. Both: a 400 now."""
    number = "+1555" + secrets.token_hex(4)[:7].translate(str.maketrans("abcdef", "123456"))
    server.assign_number(victim.acct.sid, number)
    created = requests.post(
        victim.api(server, "/IncomingPhoneNumbers.json"),
        data={"PhoneNumber": number},
        auth=victim.auth,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    before = requests.get(
        victim.api(server, "/IncomingPhoneNumbers.json"), auth=victim.auth, timeout=10
    ).json()
    r = requests.request(
        method,
        f"{server.base_url}{path.format(AC=victim.acct.sid)}",
        data={k: v.replace("{NUMBER}", number) for k, v in data.items()} or None,
        # The ingress plays the carrier: it takes the deployment's carrier credential.
        auth=carrier_auth(server) if path.startswith("/v1/Carrier/") else victim.auth,
        timeout=10,
    )
    body = assert_twilio_error(r, 400, 20001)
    assert "NUL" in body["message"]
    after = requests.get(
        victim.api(server, "/IncomingPhoneNumbers.json"), auth=victim.auth, timeout=10
    ).json()
    assert after["incoming_phone_numbers"] == before["incoming_phone_numbers"]
    sub_names = requests.get(
        f"{server.base_url}/2010-04-01/Accounts.json", auth=victim.auth, timeout=10
    ).json()
    assert all("\x00" not in a["friendly_name"] for a in sub_names["accounts"])
    keys = requests.get(victim.api(server, "/Keys.json"), auth=victim.auth, timeout=10).json()["keys"]
    assert all("\x00" not in k["friendly_name"] for k in keys)


def test_over_long_content_type_from_the_media_host_is_12300(
    server: RunningServer, files: FileServer
) -> None:
    """WhatsApp accepts any audio/* type; a 206-character one overflowed String(128) on
    PostgreSQL (a 500). Now it is a media fetch failure, recorded on the message as Twilio
    does, with code 12300, and nothing stored."""
    acct = server.new_account("bad-input-long-type")
    long_type = "audio/" + "x" * 200
    url = files.add(f"/bad-input/{acct.sid}/long-type.ogg", b"OggS" + b"\0" * 100, content_type=long_type)
    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": "whatsapp:" + TO, "From": "whatsapp:" + FROM, "MediaUrl": url},
        auth=(acct.sid, acct.token),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    failed = settled_message(server, acct, r.json()["sid"])  # fetched after the create answered
    assert failed["status"] == "failed" and failed["error_code"] == 12300
    assert snapshot(server, acct.sid) == Snapshot(1, 0, ())
