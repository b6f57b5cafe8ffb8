"""``serving/connection.cut`` on real sockets in this process: it shuts down
the one connection named by its two ends, and nothing else."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from mediagate.serving import connection

TIMEOUT = 5


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


def connect(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = socket.create_connection(listener.getsockname(), timeout=TIMEOUT)
    accepted, _ = listener.accept()
    accepted.settimeout(TIMEOUT)
    return client, accepted


def test_cut_shuts_down_that_connection_only(listener: socket.socket) -> None:
    one, one_served = connect(listener)
    other, other_served = connect(listener)
    with one, one_served, other, other_served:
        assert connection.cut(listener.getsockname(), one.getsockname())
        assert one.recv(10) == b""  # closed from the server's side
        with pytest.raises(OSError):
            one_served.sendall(b"x" * 100_000)
        # The other connection, same server, another client port, is untouched.
        other_served.sendall(b"still here")
        assert other.recv(10) == b"still here"
        other.sendall(b"and back")
        assert other_served.recv(8) == b"and back"


def test_cut_finds_nothing_for_an_unknown_connection(listener: socket.socket) -> None:
    one, one_served = connect(listener)
    with one, one_served:
        host, port = one.getsockname()
        assert not connection.cut(listener.getsockname(), (host, port + 1 if port < 65535 else port - 1))
        assert not connection.cut(listener.getsockname(), ("not an address", port))
        one_served.sendall(b"fine")
        assert one.recv(4) == b"fine"
