"""Which address is the client: proxy headers count only from trusted proxies."""

from __future__ import annotations

import pytest

from mediagate.core.proxies import TrustedProxies, parse_networks

TRUST = TrustedProxies(parse_networks("10.0.0.0/8, 127.0.0.1, ::1"))


def test_untrusted_peer_headers_are_ignored() -> None:
    headers = [("x-forwarded-for", "1.2.3.4"), ("x-forwarded-proto", "https")]
    assert TRUST.resolve("198.51.100.7", headers, "http") == ("198.51.100.7", "http")
    assert TrustedProxies([]).resolve("127.0.0.1", headers, "http") == ("127.0.0.1", "http")


def test_rightmost_untrusted_hop_is_the_client() -> None:
    # The client forged "6.6.6.6"; our proxies (10.x) appended what they saw.
    headers = [("x-forwarded-for", "6.6.6.6, 203.0.113.9"), ("x-forwarded-for", "10.1.2.3")]
    assert TRUST.resolve("127.0.0.1", headers, "http") == ("203.0.113.9", "http")


def test_forwarded_header_with_ports_quotes_and_ipv6() -> None:
    headers = [("forwarded", 'for="[2001:db8::7]:4711";proto=https, for=10.0.0.5')]
    assert TRUST.resolve("::1", headers, "http") == ("2001:db8::7", "https")
    headers = [("forwarded", "for=192.0.2.60:8080;proto=ftp")]
    assert TRUST.resolve("10.9.9.9", headers, "http") == ("192.0.2.60", "http")  # only http(s) schemes


def test_all_hops_trusted_gives_the_leftmost() -> None:
    assert TRUST.resolve("127.0.0.1", [("x-forwarded-for", "10.0.0.1, 10.0.0.2")], "http")[0] == "10.0.0.1"


def test_bad_networks_are_refused() -> None:
    with pytest.raises(ValueError, match="not-an-ip"):
        parse_networks("10.0.0.0/8, not-an-ip")


def test_settings_refuse_a_bad_proxy_list_or_redis_url() -> None:
    from pydantic import ValidationError

    from mediagate.core.settings import Settings

    with pytest.raises(ValidationError, match="not an IP address"):
        Settings(trusted_proxies="10.0.0.0/8,proxy.example")
    with pytest.raises(ValidationError, match="redis://"):
        Settings(redis_url="http://127.0.0.1:6379")
    assert Settings(trusted_proxies="127.0.0.1, 10.0.0.0/8").trusted_proxies
