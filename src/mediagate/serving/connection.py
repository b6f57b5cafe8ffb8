"""Cut a client's connection mid-response, so that it sees the body as truncated.

Once a streamed response has begun, granian's RSGI stream transport has no
way to end it in error: dropping it ends the body cleanly. With a
``Content-Length`` that is enough (the body is short, hyper closes the
connection), but a chunked body gets its terminating chunk, which tells the
client the body is whole. What is left is the connection itself. granian
accepted it in this process, so its socket is one of our descriptors: the one
whose two ends are the request's server and client addresses. Shut down, it
fails hyper's next read or write; hyper drops the connection and the client
sees it close before the last chunk.

Linux only (``/proc/self/fd``); anywhere else ``cut`` finds nothing. It walks
every descriptor, so it is for the rare response that fails, not a hot path.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

_FDS = "/proc/self/fd"
Endpoint = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]


def _endpoint(host: str, port: int) -> Endpoint | None:
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d
    return ip, port


def _of_socket(address: Any) -> Endpoint | None:
    # AF_INET: (host, port); AF_INET6: (host, port, flowinfo, scope_id)
    return _endpoint(address[0], address[1])


def cut(server: tuple[str, int], client: tuple[str, int]) -> bool:
    """Shut down the TCP connection from ``client`` to ``server`` if this
    process holds it; whether it did."""
    want = (_endpoint(*server), _endpoint(*client))
    if None in want:
        return False
    try:
        names = os.listdir(_FDS)
    except OSError:
        return False
    for name in names:
        try:
            if not os.readlink(f"{_FDS}/{name}").startswith("socket:"):
                continue
            # A duplicate: closing it leaves granian's descriptor open. If the
            # number was closed and reused meanwhile, the addresses below no
            # longer match and nothing is touched.
            fd = os.dup(int(name))
        except (OSError, ValueError):
            continue
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            os.close(fd)
            continue
        try:
            if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
                continue
            if (_of_socket(sock.getsockname()), _of_socket(sock.getpeername())) != want:
                continue
            sock.shutdown(socket.SHUT_RDWR)
            return True
        except OSError:  # a listener (no peer), or the connection just went away
            continue
        finally:
            sock.close()
    return False
