"""Malformed requests against the real server, where the process matters: chunked bodies and a
client that leaves mid-upload (granian and the bridge), twilio-python's errors over HTTP, and
command-line bytes that are not UTF-8 (the executable's argv). Each one gets Twilio's error body
with the right status and code, and none of them adds or removes a message, a media row or a
stored file. The rules themselves (every invalid create, every malformed sid on every route,
unknown routes and methods, list parameters, bodies, NUL) are checked on both databases with
the app in process: tests/inprocess/test_api_bad_input.py."""

from __future__ import annotations

import base64
import secrets
import socket
import subprocess
from collections.abc import Callable, Iterator

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

# Collected here too: the in-process tier's bodies, answered by this file's real server
# (granian, the fast path, another process) on each database. One body, two tiers.
from tests.inprocess.test_api_bad_input import (  # noqa: F401
    test_malformed_sid_is_400_even_without_credentials,
)
from tests.support.api_bad_input import (
    FROM,
    TO,
    Snapshot,
    Victim,
    make_victim,
    snapshot,
    unchanged_around,
)
from tests.support.clients import assert_twilio_error
from tests.support.fileserver import FileServer
from tests.support.server import MEDIAGATE, RunningServer


@pytest.fixture(scope="module")
def victim(server: RunningServer, files: FileServer) -> Victim:
    return make_victim(server, files)


@pytest.fixture
def unchanged(server: RunningServer, victim: Victim) -> Iterator[None]:
    """Asserts after the test that the database and the media folder are exactly as before."""
    with unchanged_around(server, victim):
        yield


# --------------------------------------------------------------------------- message create


@pytest.mark.usefixtures("unchanged")
def test_twilio_python_raises_with_the_code(server: RunningServer, victim: Victim) -> None:
    client = Client(victim.acct.sid, victim.acct.token)
    client.api.base_url = server.base_url
    calls: list[tuple[Callable[[], object], int]] = [
        (lambda: client.messages.create(to="12345", from_=FROM, body="x"), 21211),
        (lambda: client.messages.create(to=TO, body="x"), 21603),
        (lambda: client.messages.create(to=TO, from_="bad sender!", body="x"), 21212),
        (lambda: client.messages.create(to=TO, from_=FROM), 21602),
        (lambda: client.messages.create(to=TO, from_=FROM, body="x" * 1601), 21617),
        (lambda: client.messages.create(to=TO, from_=FROM, media_url=["ftp://x"]), 21620),
        (lambda: client.messages.create(to=TO, from_=FROM, media_url=["http://a.example/x"] * 11), 21623),
        (lambda: client.messages("MM" + secrets.token_hex(16)).fetch(), 20404),
        (lambda: client.messages("MMnothex").fetch(), 20001),
    ]
    for call, code in calls:
        with pytest.raises(TwilioRestException) as exc:
            call()
        assert exc.value.code == code, exc.value
        assert exc.value.status == (404 if code == 20404 else 400)
        assert exc.value.msg


# --------------------------------------------------------------------------- sids in paths


# --------------------------------------------------------------------------- routes and methods


# --------------------------------------------------------------------------- query parameters

# --------------------------------------------------------------------------- request bodies


@pytest.mark.usefixtures("unchanged")
def test_chunked_form_over_256_kb_is_400(server: RunningServer, victim: Victim) -> None:
    """Without Content-Length (chunked transfer encoding) the limit still holds."""

    def chunks() -> Iterator[bytes]:
        yield f"To=%2B{TO[1:]}&From=%2B{FROM[1:]}&Body=x&Padding=".encode()
        for _ in range(40):
            yield b"a" * 10_000

    r = requests.post(
        victim.api(server, "/Messages.json"),
        data=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=victim.auth,
        timeout=10,
    )
    assert "Content-Length" not in r.request.headers
    assert_twilio_error(r, 400, 20001)


def _cut_by_length(form: bytes) -> tuple[str, bytes]:
    # Content-Length says the whole form; To, From and the first 50 characters of Body come.
    return f"Content-Length: {len(form)}\r\n", form[:-150]


def _cut_by_chunks(form: bytes) -> tuple[str, bytes]:
    # Chunks of a whole form, never the last (zero-size) chunk: no "0\r\n\r\n".
    return "Transfer-Encoding: chunked\r\n", f"{len(form):x}\r\n".encode() + form + b"\r\n"


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("cut", [_cut_by_length, _cut_by_chunks], ids=["content-length", "chunked"])
def test_a_form_cut_short_by_the_client_creates_nothing(
    server: RunningServer, victim: Victim, cut: Callable[[bytes], tuple[str, bytes]]
) -> None:
    """A client that goes away mid-upload sent half a form: no message is made of it.
    granian ends such a body as if whole; the bridge tells the app the client left
    (serving/bridge.py). A chunked body cut at a chunk boundary even parses as a
    complete form: only the missing terminator says it is not, and granian swallows
    that error, so the bridge's word is all there is."""
    form = f"To=%2B{TO[1:]}&From=%2B{FROM[1:]}&Body=".encode() + b"a" * 200
    framing, sent = cut(form)
    auth = base64.b64encode(f"{victim.acct.sid}:{victim.acct.token}".encode())
    host, _, port = server.base_url.rpartition("/")[2].partition(":")
    errors_before = server.log().count("unhandled error")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            f"POST /2010-04-01/Accounts/{victim.acct.sid}/Messages.json HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Basic {auth.decode()}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"{framing}\r\n".encode()
            + sent
        )
        s.shutdown(socket.SHUT_WR)  # stops sending, still reads
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b'"code":20001' in answer
    # The client's doing, not a server error: no traceback in the log.
    assert server.log().count("unhandled error") == errors_before


def test_chunked_small_form_is_accepted(server: RunningServer) -> None:
    acct = server.new_account("bad-input-chunked")

    def chunks() -> Iterator[bytes]:
        yield f"To=%2B{TO[1:]}&From=%2B{FROM[1:]}".encode()
        yield b"&Body=chunked+hello"

    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    assert r.json()["body"] == "chunked hello" and r.json()["to"] == TO


# --------------------------------------------------------------------------- text that cannot be stored


def test_cli_inbound_with_undecodable_body_is_refused(server: RunningServer) -> None:
    """Command-line arguments arrive with lone surrogates for bytes that are not UTF-8
    (Python's surrogateescape); neither database can store them. A clear error, exit 2."""
    acct = server.new_account("bad-input-cli")
    number = "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))
    server.assign_number(acct.sid, number)
    claimed = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": number},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert claimed.status_code == 201
    for body in (b"caf\xe9", b"a\x00b"[:1] + b"\xff"):
        done = subprocess.run(
            [
                str(MEDIAGATE).encode(),
                b"inbound",
                b"--to",
                number.encode(),
                b"--from",
                FROM.encode(),
                b"--body",
                body,
            ],
            env=server.env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 2, done.stderr.decode(errors="replace")[-2000:]
        assert b"UTF-8" in done.stderr and b"Traceback" not in done.stderr
    assert snapshot(server, acct.sid) == Snapshot(0, 0, ())
