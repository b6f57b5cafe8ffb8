"""Tests for the SSRF-safe media fetcher, against real HTTP(S) servers on 127.0.0.1."""

from __future__ import annotations

import datetime
import functools
import gzip
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from mediagate.media.addresses import forbidden_category, parse_legacy_ipv4
from mediagate.media.fetch import (
    USER_AGENT,
    BlockedAddress,
    FetchedResponse,
    FetchError,
    FetchPolicy,
    InvalidMediaUrl,
    MediaFetcher,
    RetrievalFailed,
    TooLarge,
    _disposition_filename,
    _media_type,
    _sanitize_filename,
    validate_media_url,
)

# --------------------------------------------------------------------------- test server


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RecordingServer

    def do_GET(self) -> None:
        self.server.requests.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = self.server.routes.get(self.path.split("?", 1)[0])
        if route is None:
            self.respond(404, b"no such route")
        else:
            route(self)

    def respond(self, status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


Route = Callable[[Handler], None]


class RecordingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[Seen] = []
        self.routes: dict[str, Route] = {}
        self.release = threading.Event()  # wakes stalled handlers at test teardown

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the fetcher hanging up on a stalled or oversized response is expected


def _start(server: RecordingServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


def _stop(server: RecordingServer) -> None:
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def _shared_server() -> Iterator[RecordingServer]:
    server = RecordingServer()
    _start(server)
    yield server
    _stop(server)


@pytest.fixture
def server(_shared_server: RecordingServer) -> Iterator[RecordingServer]:
    _shared_server.requests.clear()
    _shared_server.routes.clear()
    _shared_server.release = threading.Event()
    _shared_server.routes["/ok"] = body(b"hello", ("Content-Type", "image/JPEG; charset=x"))
    yield _shared_server
    _shared_server.release.set()


def body(data: bytes, *headers: tuple[str, str], status: int = 200) -> Route:
    return lambda h: h.respond(status, data, headers)


def redirect(location: str, status: int = 302) -> Route:
    return lambda h: h.respond(status, b"", (("Location", location),))


def chunked(chunk: bytes, count: int) -> Route:
    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for _ in range(count):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        h.wfile.write(b"0\r\n\r\n")

    return route


def stall_then(route: Route, seconds: float) -> Route:
    def stalled(h: Handler) -> None:
        h.server.release.wait(seconds)
        route(h)

    return stalled


def drip(total: int, interval: float, first: int = 0) -> Route:
    """Declare `total` bytes, send `first` at once, then one byte per `interval`."""

    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(total))
        h.end_headers()
        h.wfile.write(b"x" * first)
        h.wfile.flush()
        for _ in range(total - first):
            if h.server.release.wait(interval):
                return
            h.wfile.write(b"x")
            h.wfile.flush()

    return route


# --------------------------------------------------------------------------- helpers


class FakeDNS:
    """Injected resolver. `answers[host]` is returned on every call; `sequence[host]` gives
    one answer per call (the last one repeats), to simulate DNS rebinding."""

    def __init__(
        self, answers: dict[str, list[str]] | None = None, sequence: dict[str, list[list[str]]] | None = None
    ) -> None:
        self.sequence = {host: [answer] for host, answer in (answers or {}).items()}
        self.sequence.update(sequence or {})
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.sequence:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answers = self.sequence[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]


@functools.cache
def _plain_ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle dominates fetcher construction; share one across tests.
    return ssl.create_default_context()


@pytest.fixture
def make_fetcher() -> Iterator[Callable[..., MediaFetcher]]:
    made: list[MediaFetcher] = []

    def make(
        resolver: Callable[[str, int], list[str]] | None = None,
        /,
        *,
        networks: tuple[str, ...] = (),
        **policy: Any,
    ) -> MediaFetcher:
        ssl_context = policy.pop("ssl_context", None) or _plain_ssl_context()
        policy.setdefault("connect_timeout", 1.0)
        policy.setdefault("read_timeout", 2.0)
        fetcher = MediaFetcher(
            FetchPolicy(**policy), resolver, extra_allowed_networks=networks, ssl_context=ssl_context
        )
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        fetcher.close()


def fetch(fetcher: MediaFetcher, url: str, max_bytes: int = 1_000_000) -> tuple[FetchedResponse, bytes]:
    with fetcher.open(url, max_bytes) as response:
        data = b"".join(response.iter_bytes())
    return response, data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- validate_media_url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.jpg",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "gopher://example.com/",
        "http://user:pw@example.com/a.jpg",
        "http://user@example.com/",
        "http://@example.com/",
        "http:///a.jpg",
        "http://",
        "http:example.com",
        "//example.com/a.jpg",
        "",
        "http://example.com:0/",
        "http://example.com:99999/",
        "http://example.com:65536/",
        "http://example.com:8o/",
        "http://example.com:-1/",
        "http://example.com/" + "a" * 2100,
        "http://exa mple.com/",
        "http://example.com/a b.jpg",
        "http://example.com/\r\nX-Injected: 1",
        "http://example.com\\@evil.test/",
        "http://[::1/",
        "http://[fe80::1%25eth0]/",
        "http://[not-ipv6]/",
        "http://%31%32%37.0.0.1/",
        "http://256.0.0.1/",
        "http://1.2.3.4.5/",
        "http://0x100000000/",
        "http://08.0.0.1/",
        "http://example.123/",
        "http://-bad-.example.com/",
        "http://exa$mple.com/",
        "http://a..b.example.com/",
    ],
)
def test_validate_rejects_invalid_urls(url: str) -> None:
    with pytest.raises(InvalidMediaUrl) as caught:
        validate_media_url(url, FetchPolicy())
    assert caught.value.code == 21620
    assert caught.value.message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM:80/a/./b/../c.jpg?x=1&y=2#frag", "http://example.com/a/c.jpg?x=1&y=2"),
        ("https://example.com:443/p", "https://example.com/p"),
        ("https://example.com:8443/p", "https://example.com:8443/p"),
        ("http://example.com", "http://example.com/"),
        ("  http://example.com/a.jpg\n", "http://example.com/a.jpg"),
        ("http://bücher.de/bild.jpg", "http://xn--bcher-kva.de/bild.jpg"),
        ("http://example.com/%7Efoo/caf%C3%A9.png", "http://example.com/%7Efoo/caf%C3%A9.png"),
        ("http://example.com./x", "http://example.com./x"),
        ("http://8.8.8.8/x", "http://8.8.8.8/x"),
        ("http://134744072/x", "http://8.8.8.8/x"),  # legacy spellings are canonicalized
        ("http://0x08080808/x", "http://8.8.8.8/x"),
        ("http://[2606:4700:4700:0:0:0:0:1111]/x", "http://[2606:4700:4700::1111]/x"),
        ("http://[::ffff:8.8.8.8]/x", "http://[::ffff:808:808]/x"),
    ],
)
def test_validate_normalizes_good_urls(url: str, expected: str) -> None:
    assert validate_media_url(url, FetchPolicy()) == expected


def test_validate_url_length_is_configurable() -> None:
    url = "http://example.com/" + "a" * 20
    assert validate_media_url(url, FetchPolicy(max_url_length=len(url))) == url
    with pytest.raises(InvalidMediaUrl):
        validate_media_url(url, FetchPolicy(max_url_length=len(url) - 1))


FORBIDDEN_SPELLINGS = [
    "127.0.0.1",
    "127.1",
    "127.0.0.1.",
    "2130706433",
    "0x7f000001",
    "0X7F.0.0.1",
    "0177.0.0.1",
    "017700000001",
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]",
    "0.0.0.0",  # noqa: S104 - an address to refuse, not to bind
    "0",
    "[::]",
    "localhost",
    "LOCALHOST.",
    "media.localhost",
]


@pytest.mark.parametrize("host", FORBIDDEN_SPELLINGS)
def test_validate_blocks_forbidden_literals_without_dns(host: str) -> None:
    with pytest.raises(BlockedAddress) as caught:
        validate_media_url(f"http://{host}/a.jpg", FetchPolicy())
    assert caught.value.code == 21620
    assert caught.value.message.startswith("MediaUrl host is a")


@pytest.mark.parametrize(
    ("host", "category"),
    [
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared"),
        ("[fe80::1]", "link-local"),
        ("[fd00::1]", "private"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "broadcast"),
    ],
)
def test_validate_block_message_names_only_the_category(host: str, category: str) -> None:
    with pytest.raises(BlockedAddress) as caught:
        validate_media_url(f"http://{host}/", FetchPolicy())
    assert category in caught.value.message
    assert host.strip("[]") not in caught.value.message


def test_validate_allow_private_lifts_only_the_address_check() -> None:
    policy = FetchPolicy(allow_private=True)
    assert validate_media_url("http://127.1:8080/x", policy) == "http://127.0.0.1:8080/x"
    assert validate_media_url("http://localhost/x", policy) == "http://localhost/x"
    assert validate_media_url("http://10.0.0.1/x", policy) == "http://10.0.0.1/x"
    for bad in ("ftp://127.0.0.1/", "http://u:p@127.0.0.1/", "http://127.0.0.1:0/"):
        with pytest.raises(InvalidMediaUrl):
            validate_media_url(bad, policy)


def test_validate_does_no_dns_for_names() -> None:
    # .invalid never resolves; validation must not try (it is syntax-only for names).
    assert validate_media_url("http://media.invalid/a", FetchPolicy()) == "http://media.invalid/a"


# --------------------------------------------------------------------------- address classification


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.1.2.3", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared"),
        ("100.127.255.255", "shared"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to refuse, not to bind
        ("0.1.2.3", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("192.0.2.10", "documentation"),
        ("198.51.100.10", "documentation"),
        ("203.0.113.10", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("192.0.0.8", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("2001:2::1", "benchmarking"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:7f00:1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::127.0.0.1", "loopback"),  # IPv4-compatible
        ("::8.8.8.8", "reserved"),  # deprecated IPv4-compatible form is never reachable
        ("64:ff9b::7f00:1", "loopback"),  # NAT64
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("64:ff9b:1::808:808", "reserved"),  # local-use NAT64
        ("2002:7f00:1::1", "loopback"),  # 6to4
        ("2002:a00:1::1", "private"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo client 127.0.0.1
        ("2001:0:4136:e378::1", "reserved"),  # Teredo with a public client is still not global
        ("100::1", "reserved"),
    ],
)
def test_forbidden_categories(address: str, category: str) -> None:
    found = forbidden_category(ip_address(address))
    assert found is not None
    assert category in found


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_category(ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),  # noqa: S104 - an address to refuse, not to bind
        ("1.256", "1.0.1.0"),
        ("example.com", None),
        ("1.2.3.example", None),
    ],
)
def test_parse_legacy_ipv4(host: str, expected: str | None) -> None:
    parsed = parse_legacy_ipv4(host)
    assert (str(parsed) if parsed else None) == expected


@pytest.mark.parametrize("host", ["256.0.0.1", "1.2.3.4.5", "0x100000000", "09.0.0.1", "1.2.3.0x", "1..2"])
def test_parse_legacy_ipv4_rejects_numeric_garbage(host: str) -> None:
    with pytest.raises(ValueError):
        parse_legacy_ipv4(host)


# --------------------------------------------------------------------------- blocked before connecting


@pytest.mark.parametrize("host", FORBIDDEN_SPELLINGS)
def test_fetch_refuses_forbidden_spellings_without_any_request(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher], host: str
) -> None:
    dns = FakeDNS()
    with pytest.raises(BlockedAddress), make_fetcher(dns).open(server.url("/ok", host), 1000):
        pass
    assert server.requests == []
    assert dns.calls == []  # literals and localhost never reach the resolver


@pytest.mark.parametrize(
    ("answer", "category"),
    [
        (["127.0.0.1"], "loopback"),
        (["10.0.0.1"], "private"),
        (["169.254.169.254"], "link-local"),
        (["::1"], "loopback"),
        (["::ffff:10.0.0.1"], "private"),
        (["::ffff:127.0.0.1"], "loopback"),
        (["93.184.216.34", "127.0.0.1"], "loopback"),  # round-robin: any bad answer refuses
        (["2606:4700:4700::1111", "fd00::1"], "private"),
    ],
)
def test_fetch_refuses_names_resolving_to_forbidden_addresses(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher], answer: list[str], category: str
) -> None:
    dns = FakeDNS({"evil.test": answer})
    with (
        pytest.raises(BlockedAddress) as caught,
        make_fetcher(dns).open(server.url("/ok", "evil.test"), 1000),
    ):
        pass
    assert caught.value.message == f"MediaUrl host resolves to a {category} address."
    assert server.requests == []
    assert dns.calls == [("evil.test", server.port)]


@pytest.mark.parametrize("answer", [[], ["not-an-address"]])
def test_unusable_dns_answers_fail_retrieval(
    make_fetcher: Callable[..., MediaFetcher], answer: list[str]
) -> None:
    with (
        pytest.raises(RetrievalFailed) as caught,
        make_fetcher(FakeDNS({"odd.test": answer})).open("http://odd.test/", 1000),
    ):
        pass
    assert caught.value.code == 11200


def test_dns_failure_is_retrieval_failure(make_fetcher: Callable[..., MediaFetcher]) -> None:
    with pytest.raises(RetrievalFailed) as caught, make_fetcher(FakeDNS()).open("http://nowhere.test/", 1000):
        pass
    assert caught.value.message == "Could not resolve the media host."


# --------------------------------------------------------------------------- allowed fetches, pinning


def test_fetch_ok_reports_metadata_and_sends_safe_headers(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    response, data = fetch(make_fetcher(allow_private=True), server.url("/ok"))
    assert data == b"hello"
    assert response.url == server.url("/ok")
    assert response.content_type == "image/jpeg"
    assert response.content_length == 5
    assert response.filename == "ok"
    [seen] = server.requests
    assert seen.headers["user-agent"] == USER_AGENT
    assert seen.headers["accept"] == "*/*"
    assert seen.headers["accept-encoding"] == "identity"
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"
    assert "authorization" not in seen.headers
    assert "cookie" not in seen.headers


@pytest.mark.parametrize(
    "host",
    ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "017700000001", "[::ffff:127.0.0.1]", "localhost"],
)
def test_legacy_spellings_really_reach_loopback_when_allowed(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher], host: str
) -> None:
    # Shows the blocked spellings above are not hypothetical: they do connect to 127.0.0.1.
    _, data = fetch(make_fetcher(allow_private=True), server.url("/ok", host))
    assert data == b"hello"
    assert server.paths == ["/ok"]


def test_connects_to_the_validated_address_only(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    # "media.test" is unresolvable for the system resolver (RFC 6761), so success proves
    # the request went to the IP our resolver returned, with the name only in Host.
    server.routes["/a"] = redirect("/b")
    server.routes["/b"] = redirect(f"http://media.test:{server.port}/ok")
    dns = FakeDNS({"media.test": ["127.0.0.1"]})
    response, data = fetch(make_fetcher(dns, allow_private=True), server.url("/a", "media.test"))
    assert data == b"hello"
    assert response.url == server.url("/ok", "media.test")
    assert server.paths == ["/a", "/b", "/ok"]
    assert {seen.headers["host"] for seen in server.requests} == {f"media.test:{server.port}"}
    assert dns.calls == [("media.test", server.port)] * 3  # exactly once per hop


def test_dns_rebinding_between_hops_is_caught(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    server.routes["/a"] = redirect("/ok")
    dns = FakeDNS(sequence={"media.test": [["127.0.0.1"], ["169.254.169.254"]]})
    fetcher = make_fetcher(dns, networks=("127.0.0.1/32",))
    with (
        pytest.raises(BlockedAddress, match="link-local"),
        fetcher.open(server.url("/a", "media.test"), 1000),
    ):
        pass
    assert server.paths == ["/a"]
    assert len(dns.calls) == 2


def test_extra_allowed_networks_exempt_exactly_those_addresses(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    fetcher = make_fetcher(networks=("127.0.0.1/32",))
    assert fetch(fetcher, server.url("/ok"))[1] == b"hello"
    assert fetch(fetcher, server.url("/ok", "[::ffff:127.0.0.1]"))[1] == b"hello"  # same address
    for host in ("127.0.0.2", "[::1]", "localhost"):  # localhost also means ::1, not exempt
        with pytest.raises(BlockedAddress), fetcher.open(server.url("/ok", host), 1000):
            pass
    assert server.paths == ["/ok", "/ok"]


def test_multi_homed_host_falls_back_to_next_address(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    # ::1 first (nothing listens there, or no IPv6 at all), then 127.0.0.1.
    dns = FakeDNS({"media.test": ["::1", "127.0.0.1"]})
    _, data = fetch(make_fetcher(dns, allow_private=True), server.url("/ok", "media.test"))
    assert data == b"hello"


# --------------------------------------------------------------------------- redirects


@pytest.mark.parametrize(
    "target",
    [
        "http://[::ffff:127.0.0.2]:{port}/ok",
        "http://127.0.0.2:{port}/ok",
        "http://0x7f000002:{port}/ok",
        "http://localhost:{port}/ok",
        "http://10.0.0.1/ok",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/",
        "http://internal.test:{port}/ok",
    ],
)
def test_redirect_to_forbidden_address_is_refused_before_connecting(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher], target: str
) -> None:
    server.routes["/r"] = redirect(target.format(port=server.port))
    fetcher = make_fetcher(
        FakeDNS({"internal.test": ["10.1.2.3"]}), networks=("127.0.0.1/32",), connect_timeout=0.5
    )
    with pytest.raises(BlockedAddress), fetcher.open(server.url("/r"), 1000):
        pass
    assert server.paths == ["/r"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_statuses_are_followed(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher], status: int
) -> None:
    server.routes["/r"] = redirect("/ok", status)
    response, data = fetch(make_fetcher(allow_private=True), server.url("/r"))
    assert (response.url, data) == (server.url("/ok"), b"hello")


@pytest.mark.parametrize(
    ("location", "final_path"),
    [
        ("ok", "/dir/ok"),
        ("../ok", "/ok"),
        ("/ok", "/ok"),
        ("//127.0.0.1:{port}/ok", "/ok"),
        ("http://127.0.0.1:{port}/ok?x=1#frag", "/ok?x=1"),
        ("?q=1", "/dir/r?q=1"),
    ],
)
def test_relative_locations_resolve_against_current_url(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher], location: str, final_path: str
) -> None:
    server.routes["/dir/r"] = lambda h: (
        body(b"done")(h) if "?" in h.path else redirect(location.format(port=server.port))(h)
    )
    server.routes["/dir/ok"] = body(b"hello")
    response, data = fetch(make_fetcher(allow_private=True), server.url("/dir/r"))
    assert response.url == server.url(final_path)
    assert data in (b"hello", b"done")
    assert server.paths == ["/dir/r", final_path]


def _chain(server: RecordingServer, length: int) -> None:
    for n in range(1, length + 1):
        server.routes[f"/chain/{n}"] = redirect(f"/chain/{n - 1}")
    server.routes["/chain/0"] = body(b"end")


def test_five_redirects_are_followed(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    _chain(server, 6)
    response, data = fetch(make_fetcher(allow_private=True), server.url("/chain/5"))
    assert (response.url, data) == (server.url("/chain/0"), b"end")
    assert len(server.requests) == 6


def test_six_redirects_fail(server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]) -> None:
    _chain(server, 6)
    with (
        pytest.raises(RetrievalFailed, match="Too many redirects"),
        make_fetcher(allow_private=True).open(server.url("/chain/6"), 1000),
    ):
        pass
    assert server.paths == [f"/chain/{n}" for n in range(6, 0, -1)]  # /chain/0 never requested


def test_max_redirects_zero_refuses_any_redirect(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    _chain(server, 1)
    with (
        pytest.raises(RetrievalFailed),
        make_fetcher(allow_private=True, max_redirects=0).open(server.url("/chain/1"), 1000),
    ):
        pass


@pytest.mark.parametrize(
    "location", ["ftp://127.0.0.1/x", "file:///etc/passwd", "http://u:p@127.0.0.1:{port}/ok", "http://:80/"]
)
def test_redirect_to_invalid_url_fails_retrieval(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher], location: str
) -> None:
    server.routes["/r"] = redirect(location.format(port=server.port))
    with (
        pytest.raises(RetrievalFailed, match="invalid URL"),
        make_fetcher(allow_private=True).open(server.url("/r"), 1000),
    ):
        pass
    assert server.paths == ["/r"]


def test_redirect_without_location_is_a_failed_status(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    server.routes["/r"] = body(b"", status=302)
    with (
        pytest.raises(RetrievalFailed, match="HTTP 302"),
        make_fetcher(allow_private=True).open(server.url("/r"), 1000),
    ):
        pass


def test_cookies_are_never_stored_or_sent(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    server.routes["/set"] = lambda h: h.respond(
        302, b"", (("Location", "/ok"), ("Set-Cookie", "sid=secret; Path=/"))
    )
    fetcher = make_fetcher(allow_private=True)
    fetch(fetcher, server.url("/set"))
    fetch(fetcher, server.url("/ok"))
    assert server.paths == ["/set", "/ok", "/ok"]
    assert all("cookie" not in seen.headers for seen in server.requests)


# --------------------------------------------------------------------------- status and connection errors


@pytest.mark.parametrize("status", [400, 403, 404, 500, 503])
def test_non_2xx_fails_with_status_in_message(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher], status: int
) -> None:
    server.routes["/s"] = body(b"nope", status=status)
    with (
        pytest.raises(RetrievalFailed) as caught,
        make_fetcher(allow_private=True).open(server.url("/s"), 1000),
    ):
        pass
    assert caught.value.code == 11200
    assert f"HTTP {status}" in caught.value.message


def test_connection_refused(make_fetcher: Callable[..., MediaFetcher]) -> None:
    with (
        pytest.raises(RetrievalFailed, match="connect") as caught,
        make_fetcher(allow_private=True).open(f"http://127.0.0.1:{free_port()}/x", 1000),
    ):
        pass
    assert caught.value.code == 11200


# --------------------------------------------------------------------------- size limits


def test_content_length_over_limit_fails_before_the_body_is_read(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    server.routes["/big"] = body(b"x" * 5000)
    with pytest.raises(TooLarge) as caught, make_fetcher(allow_private=True).open(server.url("/big"), 4999):
        pytest.fail("open() must refuse an oversized Content-Length")
    assert caught.value.code == 11751


def test_streamed_body_over_limit_stops_at_the_limit(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    server.routes["/chunked"] = chunked(b"y" * 1000, 10)
    received = 0
    with make_fetcher(allow_private=True).open(server.url("/chunked"), 2500) as response:
        assert response.content_length is None
        with pytest.raises(TooLarge):
            for chunk in response.iter_bytes():
                received += len(chunk)
    assert 0 < received <= 2500


@pytest.mark.parametrize("route", ["fixed", "chunked"])
def test_body_of_exactly_max_bytes_passes(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher], route: str
) -> None:
    server.routes["/fixed"] = body(b"z" * 3000)
    server.routes["/chunked"] = chunked(b"z" * 1000, 3)
    _, data = fetch(make_fetcher(allow_private=True), server.url(f"/{route}"), max_bytes=3000)
    assert data == b"z" * 3000


def test_compressed_body_is_counted_raw_not_inflated(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    bomb = gzip.compress(b"\0" * 1_000_000)
    server.routes["/gz"] = body(bomb, ("Content-Encoding", "gzip"))
    _, data = fetch(make_fetcher(allow_private=True), server.url("/gz"), max_bytes=len(bomb))
    assert data == bomb


# --------------------------------------------------------------------------- timeouts


def test_stalled_server_hits_read_timeout(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    server.routes["/stall"] = stall_then(body(b"late"), 5)
    start = time.monotonic()
    with (
        pytest.raises(RetrievalFailed, match="Timed out"),
        make_fetcher(allow_private=True, read_timeout=0.3).open(server.url("/stall"), 1000),
    ):
        pass
    assert time.monotonic() - start < 2


def test_body_stall_hits_read_timeout(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    server.routes["/half"] = drip(total=10, interval=5, first=5)
    fetcher = make_fetcher(allow_private=True, read_timeout=0.3)
    with (
        fetcher.open(server.url("/half"), 1000) as response,
        pytest.raises(RetrievalFailed, match="Timed out"),
    ):
        list(response.iter_bytes())


def test_slow_drip_hits_total_timeout(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    # Each byte arrives well within read_timeout; only the wall-clock limit can stop this.
    server.routes["/drip"] = drip(total=100, interval=0.05)
    fetcher = make_fetcher(allow_private=True, read_timeout=1.0, total_timeout=0.6)
    start = time.monotonic()
    with pytest.raises(RetrievalFailed, match="Timed out"):
        fetch(fetcher, server.url("/drip"))
    assert time.monotonic() - start < 1.2


def test_total_timeout_cuts_a_single_slow_read_short(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    # The first body byte comes after 1.5 s, inside the 2 s read timeout: only shrinking
    # the in-flight read to the time left makes the 0.5 s total limit hold.
    server.routes["/slow"] = drip(total=10, interval=1.5)
    fetcher = make_fetcher(allow_private=True, read_timeout=2.0, total_timeout=0.5)
    start = time.monotonic()
    with pytest.raises(RetrievalFailed, match="Timed out"):
        fetch(fetcher, server.url("/slow"))
    assert time.monotonic() - start < 1.0


def test_total_timeout_spans_redirects(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    for n in range(1, 6):
        server.routes[f"/slow/{n}"] = stall_then(redirect(f"/slow/{n - 1}"), 0.2)
    server.routes["/slow/0"] = body(b"end")
    fetcher = make_fetcher(allow_private=True, read_timeout=1.0, total_timeout=0.5)
    with pytest.raises(RetrievalFailed, match="Timed out"):
        fetch(fetcher, server.url("/slow/5"))
    assert len(server.requests) <= 3


# --------------------------------------------------------------------------- content type and filename


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("image/JPEG; charset=x", "image/jpeg"),
        (" Image/PNG ", "image/png"),
        ("application/vnd.api+json;v=1", "application/vnd.api+json"),
        ("", ""),
        ("garbage", ""),
        ("image/", ""),
        ("text/html extra", ""),
    ],
)
def test_media_type_parsing(header: str, expected: str) -> None:
    assert _media_type(header) == expected


def test_missing_content_type_is_empty(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    server.routes["/plain"] = body(b"data")
    response, _ = fetch(make_fetcher(allow_private=True), server.url("/plain"))
    assert response.content_type == ""


@pytest.mark.parametrize(
    ("path", "disposition", "expected"),
    [
        ("/files/photo.jpg", None, "photo.jpg"),
        ("/files/my%20photo.jpg", None, "my photo.jpg"),
        ("/files/", None, None),
        ("/files/x.bin", 'attachment; filename="../../etc/passwd"', "passwd"),
        ("/files/x.bin", "attachment; filename=report.pdf", "report.pdf"),
        (
            "/files/x.bin",
            "attachment; filename=\"fb.txt\"; filename*=UTF-8''na%C3%AFve%20file.txt",
            "naïve file.txt",
        ),
        ("/files/x.bin", "attachment; filename*=UTF-8''%E2%82%AC.txt; filename=\"fb.txt\"", "€.txt"),
        ("/files/x.bin", 'attachment; filename=".."', "x.bin"),
        ("/files/x.bin", "inline", "x.bin"),
    ],
)
def test_filename(
    server: RecordingServer,
    make_fetcher: Callable[..., MediaFetcher],
    path: str,
    disposition: str | None,
    expected: str | None,
) -> None:
    headers = (("Content-Disposition", disposition),) if disposition else ()
    server.routes[path] = body(b"f", *headers)
    response, _ = fetch(make_fetcher(allow_private=True), server.url(path))
    assert response.filename == expected


def test_filename_comes_from_the_final_url(
    server: RecordingServer, make_fetcher: Callable[..., MediaFetcher]
) -> None:
    server.routes["/download"] = redirect("/media/cat.gif")
    server.routes["/media/cat.gif"] = body(b"GIF89a")
    response, _ = fetch(make_fetcher(allow_private=True), server.url("/download?id=1"))
    assert response.filename == "cat.gif"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        ("a\x00b\x1fc\x7f\u202ed.txt", "abcd.txt"),
        (".hidden", "hidden"),
        ("..", None),
        ("  ", None),
        ("", None),
        ("a" * 300 + ".jpeg", "a" * 250 + ".jpeg"),
        ("b" * 300, "b" * 255),
    ],
)
def test_sanitize_filename(raw: str, expected: str | None) -> None:
    assert _sanitize_filename(raw) == expected


def test_disposition_with_unknown_charset_falls_back_to_plain_filename() -> None:
    assert (
        _disposition_filename("attachment; filename*=koi8-r''%F0.txt; filename=\"plain.txt\"") == "plain.txt"
    )
    assert _disposition_filename('attachment; filename="semi;colon.txt"') == "semi;colon.txt"


# --------------------------------------------------------------------------- https: SNI and certificate name


def _self_signed(tmp_path: Path, hostname: str) -> tuple[Path, Path, str]:
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_text(cert_pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path, cert_pem


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[RecordingServer, list[str | None], ssl.SSLContext]]:
    cert_path, key_path, cert_pem = _self_signed(tmp_path, "media.test")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_path, key_path)
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    server = RecordingServer()
    server.socket = server_ctx.wrap_socket(server.socket, server_side=True)
    server.routes["/ok"] = body(b"secure", ("Content-Type", "image/png"))
    _start(server)
    yield server, sni, ssl.create_default_context(cadata=cert_pem)
    _stop(server)


def test_https_uses_original_name_for_sni_and_certificate(
    tls_server: tuple[RecordingServer, list[str | None], ssl.SSLContext],
    make_fetcher: Callable[..., MediaFetcher],
) -> None:
    server, sni, client_ctx = tls_server
    dns = FakeDNS({"media.test": ["127.0.0.1"]})
    fetcher = make_fetcher(dns, allow_private=True, ssl_context=client_ctx)
    response, data = fetch(fetcher, f"https://media.test:{server.port}/ok")
    assert data == b"secure"
    assert response.url == f"https://media.test:{server.port}/ok"
    assert sni == ["media.test"]
    assert server.requests[0].headers["host"] == f"media.test:{server.port}"
    assert dns.calls == [("media.test", server.port)]


def test_https_certificate_must_match_the_requested_name(
    tls_server: tuple[RecordingServer, list[str | None], ssl.SSLContext],
    make_fetcher: Callable[..., MediaFetcher],
) -> None:
    server, sni, client_ctx = tls_server
    fetcher = make_fetcher(FakeDNS({"other.test": ["127.0.0.1"]}), allow_private=True, ssl_context=client_ctx)
    with pytest.raises(RetrievalFailed), fetcher.open(f"https://other.test:{server.port}/ok", 1000):
        pass
    assert sni == ["other.test"]
    assert server.requests == []


# --------------------------------------------------------------------------- error types


def test_error_codes_and_messages() -> None:
    assert issubclass(InvalidMediaUrl, FetchError) and InvalidMediaUrl.code == 21620
    assert issubclass(BlockedAddress, FetchError) and BlockedAddress.code == 21620
    assert issubclass(RetrievalFailed, FetchError) and RetrievalFailed.code == 11200
    assert issubclass(TooLarge, FetchError) and TooLarge.code == 11751
    error = RetrievalFailed("boom")
    assert (error.message, str(error)) == ("boom", "boom")


def test_close_is_idempotent() -> None:
    fetcher = MediaFetcher(FetchPolicy())
    fetcher.close()
    fetcher.close()
