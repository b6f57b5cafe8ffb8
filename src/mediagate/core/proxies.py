"""The client's address and scheme, believing proxy headers only from trusted proxies.

``X-Forwarded-For``, ``Forwarded`` (RFC 7239) and ``X-Forwarded-Proto`` are
plain request headers: any client can send them. They are honoured only when
the TCP peer is in ``MEDIAGATE_TRUSTED_PROXIES`` (CIDRs; default none, so
nothing is believed). Then the client is the right-most address in the chain
that is not itself a trusted proxy (each proxy appends what it saw; what is
further left came from the client and may be forged).

``TrustedProxyMiddleware`` rewrites the ASGI scope's ``client`` and
``scheme`` once, for every route; the servers' own proxy-header handling is
off (``mediagate serve``), so there is a single rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> list[Network]:
    """``"10.0.0.0/8, 127.0.0.1"`` -> networks; ``ValueError`` naming a bad item."""
    networks: list[Network] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an IP address or CIDR network") from exc
    return networks


def _address(token: str) -> str:
    """One hop of a chain as written by a proxy: strip quotes, brackets and ports."""
    value = token.strip().strip('"')
    if value.startswith("["):  # [2001:db8::1]:4711
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # 192.0.2.1:4711
        value = value.split(":", 1)[0]
    return value


def _forwarded(values: Sequence[str], key: str) -> list[str]:
    """The ``key=`` parameter of every element of ``Forwarded`` headers, in order."""
    found: list[str] = []
    for header in values:
        for element in header.split(","):
            for pair in element.split(";"):
                name, sep, val = pair.strip().partition("=")
                if sep and name.strip().lower() == key:
                    found.append(val.strip().strip('"'))
    return found


class TrustedProxies:
    def __init__(self, networks: Sequence[Network]) -> None:
        self.networks = list(networks)

    def trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(_address(host))
        except ValueError:
            return False
        return any(address in net for net in self.networks)

    def resolve(self, peer: str, headers: Sequence[tuple[str, str]], scheme: str) -> tuple[str, str]:
        """(client address, scheme) for a request from ``peer`` with these headers."""
        if not self.networks or not self.trusted(peer):
            return peer, scheme
        forwarded = [v for k, v in headers if k == "forwarded"]
        if forwarded:
            chain = [_address(v) for v in _forwarded(forwarded, "for")]
            protos = _forwarded(forwarded, "proto")
        else:
            chain = [_address(p) for k, v in headers if k == "x-forwarded-for" for p in v.split(",")]
            protos = [p.strip() for k, v in headers if k == "x-forwarded-proto" for p in v.split(",")]
        client = peer
        for hop in reversed([h for h in chain if h]):
            client = hop
            if not self.trusted(hop):
                break
        proto = protos[-1].lower() if protos else scheme
        return client, proto if proto in ("http", "https") else scheme


class TrustedProxyMiddleware:
    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.proxies.networks and scope.get("client"):
            headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
            peer = scope["client"][0]
            client, scheme = self.proxies.resolve(peer, headers, scope.get("scheme", "http"))
            if client != peer or scheme != scope.get("scheme"):
                scope = {**scope, "client": (client, 0), "scheme": scheme}
        await self.app(scope, receive, send)
