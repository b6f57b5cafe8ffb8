"""The RSGI->ASGI bridge (``mediagate/serving/bridge.py``) when the app fails.

A real granian server (``tests/serving/bridge_app.py``, embedded as
``mediagate serve`` runs it) serves a tiny app through the bridge; the
tests talk to it over TCP with httpx. The rule they check: while no byte of
the response has reached the client, a failure is answered with Twilio's 500
body (no exception text) and logged; once bytes have gone, the connection is
cut so the client sees a truncated response, never a complete-looking one.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.serving.bridge_app import FIRST, LENGTH, REQUEST_ID, SECRET
from tests.support.server import ROOT, free_port

# Long enough for a loaded machine, short enough that a hang fails the test, not the run.
TIMEOUT = 10
INTERNAL_ERROR = {
    "code": 20500,
    "message": "Internal Server Error",
    "more_info": "https://www.twilio.com/docs/errors/20500",
    "status": 500,
}


@dataclass
class BridgeServer:
    base_url: str
    log_path: Path

    def log_after(self, offset: int, needle: str) -> str:
        """The log written since ``offset``, once it shows ``needle`` (or as it is after a while)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            text = self.log_path.read_text(errors="replace")[offset:]
            if needle in text or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    def log_size(self) -> int:
        return len(self.log_path.read_text(errors="replace"))


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeServer]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("bridge") / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.serving.bridge_app", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError("the bridge app exited early:\n" + log_path.read_text())
            try:
                if httpx.get(base + "/ok", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the bridge app did not start:\n" + log_path.read_text())
            time.sleep(0.1)
        yield BridgeServer(base, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def local_port(r: httpx.Response) -> int:
    port: int = r.extensions["network_stream"].get_extra_info("client_addr")[1]
    return port


def assert_internal_error(r: httpx.Response) -> None:
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    assert r.json() == INTERNAL_ERROR
    assert SECRET not in r.text
    assert int(r.headers["content-length"]) == len(r.content)


def test_a_stream_that_completes_is_sent_whole(bridge: BridgeServer) -> None:
    r = httpx.get(bridge.base_url + "/stream-ok", timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.content == b"one,two"


@pytest.mark.parametrize("length", [False, True], ids=["chunked", "content-length"])
def test_a_stream_failing_before_its_first_byte_is_a_500(bridge: BridgeServer, length: bool) -> None:
    offset = bridge.log_size()
    with httpx.Client(base_url=bridge.base_url, timeout=TIMEOUT) as client:
        r = client.get("/stream-fails-first", params={"length": "1"} if length else {})
        assert_internal_error(r)
        # The app's headers were for the answer it did not give; its request id still names this one.
        assert r.headers["x-request-id"] == REQUEST_ID
        assert "x-app-header" not in r.headers
        # A clean 500: the keep-alive connection carries the next request.
        again = client.get("/ok")
        assert again.status_code == 200
        assert local_port(again) == local_port(r)
    log = bridge.log_after(offset, "storage said no")
    assert "GET /stream-fails-first" in log
    assert "RuntimeError: storage said no" in log


def read_cut_short(url: str, **params: str) -> bytes:
    """The body received before the connection closed, which must happen before the body ends."""
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("GET", url, params=params, timeout=TIMEOUT) as r,
    ):
        assert r.status_code == 200  # the headers went out before the failure
        for chunk in r.iter_raw():
            received += chunk
    return received


def test_a_stream_failing_after_bytes_went_out_is_cut_short(bridge: BridgeServer) -> None:
    offset = bridge.log_size()
    # The connection is cut as soon as the app fails: hyper may not have
    # written all it was handed by then, but never the chunk that ends the body.
    received = read_cut_short(bridge.base_url + "/stream-fails-later")
    assert FIRST.startswith(received)
    log = bridge.log_after(offset, "storage said no halfway")
    assert "RuntimeError: storage said no halfway" in log
    assert "the response was cut short" in log


def test_a_stream_with_a_length_failing_after_bytes_went_out_is_short(bridge: BridgeServer) -> None:
    # A body shorter than its Content-Length: hyper sends what it has, then closes.
    received = read_cut_short(bridge.base_url + "/stream-fails-later", length="1")
    assert received == FIRST
    assert len(received) < LENGTH


def test_an_app_raising_before_it_starts_is_a_500(bridge: BridgeServer) -> None:
    offset = bridge.log_size()
    r = httpx.get(bridge.base_url + "/raises-before-start", timeout=TIMEOUT)
    assert_internal_error(r)
    assert "RuntimeError: nothing sent" in bridge.log_after(offset, "nothing sent")


@pytest.mark.parametrize("path", ["/returns-without-start", "/returns-after-start"])
def test_an_app_returning_before_a_body_is_a_500(bridge: BridgeServer, path: str) -> None:
    offset = bridge.log_size()
    r = httpx.get(bridge.base_url + path, timeout=TIMEOUT)
    assert_internal_error(r)
    assert f"GET {path}" in bridge.log_after(offset, path)


def test_an_app_returning_mid_body_is_cut_short(bridge: BridgeServer) -> None:
    offset = bridge.log_size()
    received = read_cut_short(bridge.base_url + "/returns-mid-body")
    assert FIRST.startswith(received)
    assert "GET /returns-mid-body" in bridge.log_after(offset, "/returns-mid-body")


def post_cut_short(bridge: BridgeServer, declared: int, sent: bytes) -> None:
    """A POST that declares ``declared`` bytes, sends ``sent`` and then stops
    sending (a client that went away mid-upload); waits for the server to close."""
    port = int(bridge.base_url.rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        head = f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n"
        s.sendall(head.encode() + sent)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass


def test_a_request_body_that_arrives_whole_is_read(bridge: BridgeServer) -> None:
    offset = bridge.log_size()
    r = httpx.post(bridge.base_url + "/echo", content=b"x" * 46, timeout=TIMEOUT)
    assert r.status_code == 200 and r.text == "46 bytes"
    assert "echo read a whole body of 46 bytes" in bridge.log_after(offset, "echo read")


def test_a_request_body_cut_short_is_a_disconnect_not_a_short_body(bridge: BridgeServer) -> None:
    """granian ends a body whose client went away as if it were whole; the app
    must hear ``http.disconnect`` (Starlette: ``ClientDisconnect``), as under any
    ASGI server, or it acts on half a request."""
    offset = bridge.log_size()
    post_cut_short(bridge, 100, b"y" * 46)
    log = bridge.log_after(offset, "ClientDisconnect")
    assert "ClientDisconnect" in log
    assert "echo read a whole body" not in log


def post_chunked(bridge: BridgeServer, body: bytes, *, close: bool) -> bytes:
    """A chunked POST of ``body`` (raw chunk syntax, as sent); with ``close`` the
    client then stops sending (went away), otherwise it waits for the answer."""
    port = int(bridge.base_url.rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        if close:
            s.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
            if not close and _whole_response(answer):
                break  # the connection stays open for the next request
        return answer


def _whole_response(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    lengths = [
        line.split(b":")[1] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")
    ]
    return bool(sep and lengths) and len(body) >= int(lengths[0])


def test_a_chunked_request_body_that_ends_properly_is_read(bridge: BridgeServer) -> None:
    offset = bridge.log_size()
    answer = post_chunked(bridge, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", close=False)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"11 bytes"), answer
    assert "echo read a whole body of 11 bytes" in bridge.log_after(offset, "echo read")


@pytest.mark.parametrize(
    "sent",
    [
        b"5\r\nhello\r\n",  # whole chunks, never the last (zero-size) one
        b"a\r\nhel",  # inside a chunk
        b"5\r\nhello\r\n0\r\n",  # the last chunk without the blank line that ends the message
    ],
    ids=["no-last-chunk", "mid-chunk", "no-final-crlf"],
)
def test_a_chunked_request_body_cut_short_is_a_disconnect(bridge: BridgeServer, sent: bytes) -> None:
    """No Content-Length to compare with: granian turns hyper's "incomplete
    body" error into one more empty chunk before its end, and the bridge reads
    that as the client going away (``serving/bridge.py``)."""
    offset = bridge.log_size()
    post_chunked(bridge, sent, close=True)
    log = bridge.log_after(offset, "ClientDisconnect")
    assert "ClientDisconnect" in log
    assert "echo read a whole body" not in log


def test_a_chunked_request_body_with_trailer_fields_is_refused_too(bridge: BridgeServer) -> None:
    """granian reports trailer fields exactly as it reports a cut (an empty
    chunk before the end), so the bridge cannot tell them apart and errs on the
    side of not acting: the app hears a disconnect. Pinned so that a granian
    that tells them apart is noticed."""
    offset = bridge.log_size()
    answer = post_chunked(bridge, b"5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n", close=False)
    assert answer.startswith(b"HTTP/1.1 500 "), answer  # this app lets ClientDisconnect escape
    log = bridge.log_after(offset, "ClientDisconnect")
    assert "ClientDisconnect" in log
    assert "echo read a whole body" not in log


def test_a_bodiless_request_without_content_length_is_read_as_empty(bridge: BridgeServer) -> None:
    """No Content-Length and no Transfer-Encoding on HTTP/1.1: the bridge takes the
    empty-chunk check of a chunked body (it cannot tell the two apart), and an empty
    body, which ends at once, must still read as whole, not as a client gone away."""
    port = int(bridge.base_url.rpartition(":")[2])
    offset = bridge.log_size()
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
            if _whole_response(answer):
                break
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"0 bytes"), answer
    assert "echo read a whole body of 0 bytes" in bridge.log_after(offset, "echo read")
