"""Classification of IP addresses and IP-literal host spellings for SSRF protection.

Pure functions only (no I/O) so the security-relevant decisions can be unit-tested
exhaustively without a network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import TypeAlias

IPAddress: TypeAlias = IPv4Address | IPv6Address


def _v4(*cidrs: str) -> tuple[IPv4Network, ...]:
    return tuple(IPv4Network(cidr) for cidr in cidrs)


def _v6(*cidrs: str) -> tuple[IPv6Network, ...]:
    return tuple(IPv6Network(cidr) for cidr in cidrs)


# Explicit tables rather than relying only on ipaddress' is_global: its answers have
# changed between Python patch releases, and we want stable, named categories for the
# error message. Order matters: the first matching category wins (broadcast before
# the enclosing 240/4 reserved block).
_V4_CATEGORIES: tuple[tuple[str, tuple[IPv4Network, ...]], ...] = (
    # 0/8 is "this network"; on Linux connecting to 0.0.0.0 reaches localhost.
    ("an unspecified address", _v4("0.0.0.0/8")),
    ("a loopback address", _v4("127.0.0.0/8")),
    ("a private address", _v4("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),
    ("a shared (carrier-grade NAT) address", _v4("100.64.0.0/10")),
    ("a link-local address", _v4("169.254.0.0/16")),
    ("a documentation address", _v4("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")),
    ("a benchmarking address", _v4("198.18.0.0/15")),
    ("a multicast address", _v4("224.0.0.0/4")),
    ("a broadcast address", _v4("255.255.255.255/32")),
    ("a reserved address", _v4("192.0.0.0/24", "192.88.99.0/24", "240.0.0.0/4")),
)

_V6_CATEGORIES: tuple[tuple[str, tuple[IPv6Network, ...]], ...] = (
    ("an unspecified address", _v6("::/128")),
    ("a loopback address", _v6("::1/128")),
    ("a private address", _v6("fc00::/7")),
    ("a link-local address", _v6("fe80::/10")),
    ("a site-local address", _v6("fec0::/10")),
    ("a multicast address", _v6("ff00::/8")),
    ("a documentation address", _v6("2001:db8::/32", "3fff::/20")),
    ("a benchmarking address", _v6("2001:2::/48")),
    # ::/8 holds the deprecated IPv4-compatible and SIIT forms; 2001::/23 holds Teredo
    # and other IETF protocol assignments; 64:ff9b:1::/48 is local-use NAT64.
    ("a reserved address", _v6("::/8", "100::/64", "2001::/23", "64:ff9b:1::/48", "5f00::/16")),
)

_IPV4_COMPATIBLE = IPv6Network("::/96")
_NAT64 = IPv6Network("64:ff9b::/96")


def _embedded_ipv4(ip: IPv6Address) -> tuple[IPv4Address, ...]:
    """IPv4 addresses that traffic to `ip` may actually end up at (translation/tunnels)."""
    # :: and ::1 are in ::/96 but are IPv6's own unspecified/loopback addresses.
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return (IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo
    return ()


def forbidden_category(ip: IPAddress) -> str | None:
    """Why connecting to `ip` is forbidden (e.g. "a loopback address"), or None if it is public."""
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:
            # The kernel sends ::ffff:a.b.c.d to a.b.c.d, so only the IPv4 part matters.
            return forbidden_category(ip.ipv4_mapped)
        if ip in _NAT64:
            # Well-known-prefix NAT64 (what DNS64 hands out on IPv6-only networks) reaches
            # the embedded IPv4 address; it is public exactly when that address is.
            return forbidden_category(IPv4Address(int(ip) & 0xFFFFFFFF))
        for embedded in _embedded_ipv4(ip):
            category = forbidden_category(embedded)
            if category is not None:
                return category
        for category, networks6 in _V6_CATEGORIES:
            if any(ip in net for net in networks6):
                return category
    else:
        for category, networks4 in _V4_CATEGORIES:
            if any(ip in net for net in networks4):
                return category
    # Safety net for anything IANA lists as non-global that the tables above missed.
    if not ip.is_global or ip.is_reserved or ip.is_multicast:
        return "a non-public address"
    return None


def is_forbidden(ip: IPAddress) -> bool:
    return forbidden_category(ip) is not None


def canonical_address(ip: IPAddress) -> IPAddress:
    """Collapse IPv4-mapped IPv6 to plain IPv4: same destination, works without IPv6."""
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_networks(cidrs: Iterable[str]) -> tuple[IPv4Network | IPv6Network, ...]:
    return tuple(ip_network(cidr, strict=False) for cidr in cidrs)


def in_networks(ip: IPAddress, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    candidate = canonical_address(ip)
    return any(candidate.version == net.version and candidate in net for net in networks)


_NUMERIC_PART = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")


def _parse_ipv4_part(part: str) -> int:
    if part[:2] in ("0x", "0X"):
        if len(part) == 2:
            raise ValueError("empty hex component")
        return int(part[2:], 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part[1:], 8)  # raises ValueError for 8/9, like inet_aton
    return int(part, 10)


def parse_legacy_ipv4(host: str) -> IPv4Address | None:
    """Parse the host the way inet_aton / the WHATWG URL spec would.

    Returns None when the host is a domain name. Accepts the legacy forms that really
    connect on Linux (127.1, 2130706433, 0x7f000001, 0177.0.0.1, 017700000001).
    Raises ValueError for hosts that end in a number but are not a valid address
    (e.g. 256.0.0.1, 1.2.3.4.5): browsers reject those too, and letting them reach DNS
    would make our interpretation differ from other software's.
    """
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # a single trailing dot is allowed, as for domain names
    if not _NUMERIC_PART.fullmatch(parts[-1]):
        return None
    if len(parts) > 4 or not all(_NUMERIC_PART.fullmatch(part) for part in parts):
        raise ValueError("not a valid IPv4 address")
    numbers = [_parse_ipv4_part(part) for part in parts]
    last = numbers.pop()
    if any(number > 255 for number in numbers) or last >= 256 ** (4 - len(numbers)):
        raise ValueError("IPv4 component out of range")
    value = last
    for index, number in enumerate(numbers):
        value += number << (8 * (3 - index))
    return IPv4Address(value)
