"""A deliberately slow HTTP server on 127.0.0.1, for the fairness and crash tests.

* ``GET /drip...``: a PNG that arrives one byte at a time, for as long as the
  client keeps reading (a slow media host).
* ``GET /drip-once...``: the same the first time a path is asked for; every
  later request for it gets ``ONCE_DRIPPED`` whole at once (a media host that
  was slow while one process fetched, for the fetch another process retries).
* ``/slow-answer...``: answered 200, but the status line trickles out over
  ``answer_seconds`` (each byte well within a read timeout, the whole much longer).
* any ``POST``/``GET`` elsewhere: recorded, then held without an answer until
  ``release()`` (a hanging webhook endpoint); answered 200 afterwards.

It counts the requests in progress and the most it ever had at once, which is
what the tests assert on (how many connections mediagate opened to one slow
host), rather than on how long anything took.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.fileserver import PNG, png_bytes
from tests.support.receiver import Received

ONCE_DRIPPED = png_bytes(4000)  # what /drip-once... answers after its first request


class SlowServer:
    def __init__(self, drip_interval: float = 0.25, answer_seconds: float = 20.0) -> None:
        self.requests: list[Received] = []
        self.active = 0
        self.max_active = 0
        self._cond = threading.Condition()
        self._released = threading.Event()
        self._stopping = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer._cond:
                    seen = any(r.path == self.path for r in outer.requests)
                    outer.requests.append(Received(self.command, self.path, dict(self.headers), body, 200))
                    outer.active += 1
                    outer.max_active = max(outer.max_active, outer.active)
                    outer._cond.notify_all()
                try:
                    if self.path.startswith("/drip-once") and seen:
                        self._whole()
                    elif self.path.startswith("/drip"):
                        self._drip()
                    elif self.path.startswith("/slow-answer"):
                        self._slow_answer()
                    else:
                        self._hold()
                except OSError:
                    pass  # the client went away: that is the point of most tests here
                finally:
                    with outer._cond:
                        outer.active -= 1
                        outer._cond.notify_all()

            def _drip(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(PNG[:8])
                self.wfile.flush()
                while not outer._stopping.is_set():
                    self.wfile.write(b"\x00")
                    self.wfile.flush()
                    time.sleep(drip_interval)

            def _whole(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(ONCE_DRIPPED)))
                self.end_headers()
                self.wfile.write(ONCE_DRIPPED)

            def _slow_answer(self) -> None:
                line = b"HTTP/1.1 200 OK\r\n"
                for byte in line:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(answer_seconds / len(line))
                self.wfile.write(b"Content-Length: 0\r\nConnection: close\r\n\r\n")

            def _hold(self) -> None:
                while not outer._released.wait(0.2):
                    if outer._stopping.is_set():
                        return
                payload = b"<Response/>"
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _handle
            do_POST = _handle

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128  # a flood must reach the handler, not the listen backlog

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def release(self) -> None:
        """Answer every held request (and every later one) with 200."""
        self._released.set()

    def received(self, path: str) -> list[Received]:
        with self._cond:
            return [r for r in self.requests if r.path.split("?")[0] == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 60.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self.requests if path is None or r.path.split("?")[0] == path]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} requests to {path or 'any path'}, got {len(got)}")
                self._cond.wait(remaining)

    def stop(self) -> None:
        self._stopping.set()


@contextmanager
def running_slow_server(drip_interval: float = 0.25) -> Iterator[SlowServer]:
    server = SlowServer(drip_interval)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        server.httpd.shutdown()
        server.httpd.server_close()
