"""What the code under test talks to besides Twilio: a server holding a picture to send
(the MediaUrl) and an endpoint receiving status callbacks. Nothing here sets up mediagate:
that is the plugin's ``mediagate_server`` and ``mediagate_account`` fixtures."""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest


def png(width: int = 8, height: int = 8) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class App:
    """Our side: serves ``/pic.png`` and records what is POSTed to ``/status``."""

    def __init__(self) -> None:
        self.picture = png()
        self.callbacks: list[dict[str, str]] = []
        self.got_callback = threading.Condition()
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(app.picture)))
                self.end_headers()
                self.wfile.write(app.picture)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(204)
                self.end_headers()
                with app.got_callback:
                    app.callbacks.append(dict(parse_qsl(body.decode())))
                    app.got_callback.notify_all()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for_callbacks(self, count: int, timeout: float = 60) -> list[dict[str, str]]:
        with self.got_callback:
            self.got_callback.wait_for(lambda: len(self.callbacks) >= count, timeout)
            return list(self.callbacks)


@pytest.fixture
def app() -> Iterator[App]:
    ours = App()
    thread = threading.Thread(target=ours.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ours
    finally:
        ours.server.shutdown()
        ours.server.server_close()
