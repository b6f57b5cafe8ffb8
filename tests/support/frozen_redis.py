"""A redis-server of the test's own, that it can freeze with ``SIGSTOP`` and thaw:
a Redis that stops answering without closing its connections. Never the
machine's shared Redis, which other tests and checkouts use."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import free_port


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)
        # Signals are asynchronous: a command sent right after kill() could still
        # be answered. Wait until the kernel reports the process stopped.
        deadline = time.monotonic() + 5
        while self._state() not in ("T", "t"):
            assert time.monotonic() < deadline and self.process.poll() is None
            time.sleep(0.001)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def _state(self) -> str:
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0]


@contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(process, port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "redis-server exited"
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield server
    finally:
        server.thaw()  # a stopped process would not act on SIGTERM
        process.terminate()
        process.wait(10)
