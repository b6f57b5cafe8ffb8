"""A real webhook receiver on 127.0.0.1 that records every request it gets.

Answers can be scripted per path (e.g. 500 the first time, then 200), so
tests can watch mediagate retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Received:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes
    status: int  # what we answered
    peer: tuple[str, int] = ("", 0)  # the sender's address and port
    held: bool = False  # held until ``release_held``: the sender may never see the answer

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self.requests: list[Received] = []
        self._script: dict[str, list[int]] = {}
        self._hold: set[str] = set()
        self._released = threading.Event()
        self._cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path_only = self.path.split("?")[0]
                with outer._cond:
                    script = outer._script.get(path_only)
                    status = script.pop(0) if script else 200
                    held = path_only in outer._hold
                    peer = (str(self.client_address[0]), int(self.client_address[1]))
                    got = Received(self.command, self.path, dict(self.headers), body, status, peer, held)
                    outer.requests.append(got)
                    outer._cond.notify_all()
                if held:
                    outer._released.wait(120)
                payload = b"<Response/>"
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _handle
            do_POST = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def answer(self, path: str, *statuses: int) -> None:
        """Answer the next requests to ``path`` with these statuses (then 200)."""
        with self._cond:
            self._script[path] = list(statuses)

    def hold(self, path: str) -> None:
        """Hold requests to ``path`` unanswered until ``release_held``."""
        with self._cond:
            self._hold.add(path)

    def release_held(self) -> None:
        with self._cond:
            self._hold.clear()
        self._released.set()

    def received(self, path: str) -> list[Received]:
        with self._cond:
            return [r for r in self.requests if r.path.split("?")[0] == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 30.0) -> list[Received]:
        """Block until ``count`` requests to ``path`` arrived; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self.requests if r.path.split("?")[0] == path]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{path}: expected {count} requests, got {len(got)}")
                self._cond.wait(remaining)


@contextmanager
def running_receiver(port: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(port)
    thread = threading.Thread(target=receiver.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release_held()
        receiver.httpd.shutdown()
        receiver.httpd.server_close()
