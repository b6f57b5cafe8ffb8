"""SSRF-safe download of user-supplied MediaUrl values.

Every hop (the first request and each redirect) is parsed by our own code, its host is
resolved exactly once, every resolved address is checked, and the connection is made to
the checked IP literal. httpx never sees the host name except in the Host header and as
the TLS server name, so DNS rebinding between "check" and "connect" is impossible.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from ipaddress import IPv4Address, IPv6Address, ip_address
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from mediagate.core.inputs import canonical_int
from mediagate.media.addresses import (
    IPAddress,
    canonical_address,
    forbidden_category,
    in_networks,
    parse_legacy_ipv4,
    parse_networks,
)

USER_AGENT = "mediagate-media-fetcher/0.1"
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Whitespace/control characters and backslashes are treated differently by different URL
# parsers (WHATWG turns "\" into "/"); refusing them removes any parser-differential games.
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\\]")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_RFC9110_TCHARS = r"[!#$%&'*+.^_`|~0-9a-z-]+"
_MEDIA_TYPE = re.compile(rf"{_RFC9110_TCHARS}/{_RFC9110_TCHARS}")
_DISPOSITION_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_MAX_FILENAME = 255
# Media.content_type is String(128): a longer type from a remote server overflowed
# the column on PostgreSQL (a 500). Longer is garbled, i.e. refused with 12300.
MAX_CONTENT_TYPE = 127

Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class FetchPolicy:
    allow_private: bool = False  # MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS; for dev/tests only
    max_redirects: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 10.0  # per socket read
    total_timeout: float = 60.0  # wall clock for the whole fetch, redirects and body included
    max_url_length: int = 2048


class FetchError(Exception):
    """Base fetch failure; `message` is safe to show to the API caller."""

    code: int = 11200

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidMediaUrl(FetchError):
    code = 21620


class BlockedAddress(FetchError):
    code = 21620


class RetrievalFailed(FetchError):
    code = 11200


class TooLarge(FetchError):
    code = 11751


def system_resolver(host: str, port: int) -> list[str]:
    # getaddrinfo has no timeout parameter; it is bounded by the system's resolv.conf
    # settings, which is why the deadline is re-checked right after resolving.
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    url: httpx.URL  # normalized, fragment dropped
    host: str  # ASCII host without brackets, as sent in Host / used for SNI
    port: int
    # Addresses known without DNS: IP literals, and "localhost" which RFC 6761 pins to
    # loopback (so a resolver, real or injected, is never consulted for it).
    addresses: tuple[IPAddress, ...] | None


def _split_netloc(netloc: str) -> tuple[str, str, bool]:
    """-> (host, port text, bracketed)."""
    if netloc.startswith("["):
        host, closed, after = netloc[1:].partition("]")
        if not closed or (after and not after.startswith(":")):
            raise InvalidMediaUrl("MediaUrl has a malformed IPv6 host.")
        return host, after[1:], True
    host, _, port = netloc.partition(":")
    return host, port, False


def parse_target(url: str, max_length: int) -> Target:
    url = url.strip()
    if len(url) > max_length:
        raise InvalidMediaUrl(f"MediaUrl is longer than {max_length} characters.")
    if _BAD_URL_CHARS.search(url):
        raise InvalidMediaUrl("MediaUrl contains whitespace, control characters or backslashes.")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidMediaUrl("MediaUrl is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidMediaUrl("MediaUrl must be an http or https URL.")
    if "@" in parts.netloc:
        raise InvalidMediaUrl("MediaUrl must not contain a username or password.")
    host, port_text, bracketed = _split_netloc(parts.netloc)
    if not host:
        raise InvalidMediaUrl("MediaUrl must include a host.")
    if port_text and not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5):
        raise InvalidMediaUrl("MediaUrl has an invalid port.")
    port = int(port_text) if port_text else _DEFAULT_PORTS[scheme]
    if not 1 <= port <= 65535:
        raise InvalidMediaUrl("MediaUrl port must be between 1 and 65535.")
    if "%" in host:  # percent-encoded hosts and IPv6 zone ids: parsers disagree, refuse both
        raise InvalidMediaUrl("MediaUrl host must not contain '%'.")

    addresses: tuple[IPAddress, ...] | None = None
    literal: IPAddress | None
    try:
        literal = IPv6Address(host) if bracketed else parse_legacy_ipv4(host)
    except ValueError:
        raise InvalidMediaUrl("MediaUrl host is not a valid IP address.") from None
    if literal is not None:
        addresses = (literal,)
        host = f"[{literal.compressed}]" if literal.version == 6 else literal.compressed
    port_part = "" if port == _DEFAULT_PORTS[scheme] else f":{port}"
    query = f"?{parts.query}" if parts.query else ""
    try:
        # httpx does IDNA, percent-encoding and dot-segment removal for us.
        parsed = httpx.URL(f"{scheme}://{host}{port_part}{parts.path or '/'}{query}")
        name = parsed.raw_host.decode("ascii").lower()
    except (httpx.InvalidURL, UnicodeError):
        raise InvalidMediaUrl("MediaUrl is not a valid URL.") from None
    if literal is None:
        labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
        if len(name) > 254 or not all(_LABEL.fullmatch(label) for label in labels):
            raise InvalidMediaUrl("MediaUrl host is not a valid host name.")
        if labels[-1].isdigit():  # only reachable via IDNA mapping (e.g. fullwidth digits)
            raise InvalidMediaUrl("MediaUrl host is not a valid host name.")
        if labels[-1] == "localhost":
            addresses = (IPv4Address("127.0.0.1"), IPv6Address("::1"))
    elif ip_address(name) != literal:  # our parse and httpx's must agree on the target
        raise InvalidMediaUrl("MediaUrl is not a valid URL.")
    return Target(url=parsed, host=name, port=port, addresses=addresses)


def validate_media_url(url: str, policy: FetchPolicy) -> str:
    """Syntax check plus the no-DNS-needed part of the address check; returns the normalized URL."""
    target = parse_target(url, policy.max_url_length)
    if not policy.allow_private:
        for ip in target.addresses or ():
            category = forbidden_category(ip)
            if category is not None:
                raise BlockedAddress(f"MediaUrl host is {category}.")
    return str(target.url)


def _no_cookies() -> CookieJar:
    # A jar that refuses every cookie: nothing set by one media server can leak to another.
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class MediaFetcher:
    def __init__(
        self,
        policy: FetchPolicy,
        resolver: Resolver | None = None,
        *,
        extra_allowed_networks: Sequence[str] = (),
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`extra_allowed_networks`: networks exempt from the private-address check (e.g. a
        company's internal media server); empty by default. `ssl_context`: custom trust
        store for HTTPS (default: the system/certifi CAs)."""
        self.policy = policy
        self._resolver = resolver or system_resolver
        self._exempt = parse_networks(extra_allowed_networks)
        transport = httpx.HTTPTransport(
            verify=ssl_context if ssl_context is not None else True,
            trust_env=False,
            # No pooling: a pooled connection is keyed by IP, so reusing it for another host
            # name on the same IP would skip that name's certificate check.
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        self._client = httpx.Client(
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            cookies=_no_cookies(),
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "*/*",
                # Raw bytes are what we count against max_bytes; a gzip bomb stays a small body.
                "Accept-Encoding": "identity",
                "Connection": "close",
            },
        )

    def close(self) -> None:
        self._client.close()

    def _check_address(self, ip: IPAddress) -> str | None:
        """The category that forbids `ip`, or None if we may connect to it."""
        if self.policy.allow_private or in_networks(ip, self._exempt):
            return None
        return forbidden_category(ip)

    def checked_addresses(self, target: Target) -> tuple[IPAddress, ...]:
        """Resolve ``target`` once and return the addresses that may be connected
        to; ``BlockedAddress`` if any is forbidden. Webhook delivery uses this too."""
        verb = "is"
        addresses = target.addresses
        if addresses is None:
            verb = "resolves to"
            # The resolver is called once per hop; the result is what we connect to.
            try:
                addresses = tuple(ip_address(a) for a in self._resolver(target.host, target.port))
            except (OSError, UnicodeError, ValueError) as exc:
                raise RetrievalFailed("Could not resolve the media host.") from exc
            if not addresses:
                raise RetrievalFailed("Could not resolve the media host.")
        # Refuse if ANY address is forbidden: a round-robin mix of public and internal
        # records is a rebinding trick, not a misconfiguration worth accommodating.
        for ip in addresses:
            category = self._check_address(ip)
            if category is not None:
                raise BlockedAddress(f"MediaUrl host {verb} {category}.")
        return tuple(dict.fromkeys(canonical_address(ip) for ip in addresses))

    def _send(self, target: Target, deadline: float) -> tuple[httpx.Response, dict[str, float | None]]:
        addresses = self.checked_addresses(target)
        last_error: Exception | None = None
        for ip in addresses:
            remaining = _remaining(deadline)
            timeouts: dict[str, float | None] = {
                "connect": min(self.policy.connect_timeout, remaining),
                "read": min(self.policy.read_timeout, remaining),
                "write": min(self.policy.read_timeout, remaining),
                "pool": min(self.policy.connect_timeout, remaining),
            }
            extensions: dict[str, object] = {"timeout": timeouts}
            if target.url.scheme == "https" and target.addresses is None:
                # SNI and certificate verification use the name the user gave us.
                extensions["sni_hostname"] = target.host.rstrip(".")
            try:
                request = self._client.build_request(
                    "GET",
                    target.url.copy_with(host=str(ip)),
                    headers={"Host": target.url.netloc.decode("ascii")},
                    extensions=extensions,
                )
                return self._client.send(request, stream=True), timeouts
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last_error = exc  # try the next address of a multi-homed host
            except httpx.TimeoutException as exc:
                raise RetrievalFailed("Timed out waiting for the media server.") from exc
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise RetrievalFailed("Could not retrieve the media.") from exc
        raise RetrievalFailed("Could not connect to the media server.") from last_error

    @contextmanager
    def open(self, url: str, max_bytes: int, *, deadline: float | None = None) -> Iterator[FetchedResponse]:
        """Fetch `url` (following redirects safely). TooLarge is raised here already when the
        Content-Length header exceeds max_bytes, before any of the body is read. `deadline`
        (a time.monotonic() value) can only shorten the policy's total_timeout: it is how
        the caller bounds several fetches together (all the media of one message)."""
        own = time.monotonic() + self.policy.total_timeout
        deadline = own if deadline is None else min(own, deadline)
        target = parse_target(url, self.policy.max_url_length)
        redirects = 0
        while True:
            response, timeouts = self._send(target, deadline)
            location = response.headers.get("location")
            if response.status_code not in _REDIRECT_STATUSES or location is None:
                break
            response.close()
            if redirects >= self.policy.max_redirects:
                raise RetrievalFailed(f"Too many redirects (more than {self.policy.max_redirects}).")
            redirects += 1
            try:
                target = parse_target(urljoin(str(target.url), location), self.policy.max_url_length)
            except InvalidMediaUrl as exc:
                raise RetrievalFailed("The media server redirected to an invalid URL.") from exc
        try:
            if not 200 <= response.status_code < 300:
                raise RetrievalFailed(f"The media server returned HTTP {response.status_code}.")
            fetched = FetchedResponse(
                url=str(target.url),
                content_type=_media_type(response.headers.get("content-type", "")),
                content_length=_content_length(response.headers.get("content-length")),
                filename=_filename(response.headers.get("content-disposition"), target.url),
                _response=response,
                _max_bytes=max_bytes,
                _deadline=deadline,
                _read_timeout=self.policy.read_timeout,
                _timeouts=timeouts,
            )
            if fetched.content_length is not None and fetched.content_length > max_bytes:
                raise TooLarge(f"The media is {fetched.content_length} bytes; the limit is {max_bytes}.")
            yield fetched
        finally:
            response.close()


@dataclass
class FetchedResponse:
    url: str  # final URL after redirects
    content_type: str  # lowercased media type without parameters; "" if absent/garbled
    content_length: int | None
    filename: str | None
    _response: httpx.Response = field(repr=False, compare=False)
    _max_bytes: int = field(repr=False, compare=False)
    _deadline: float = field(repr=False, compare=False)
    _read_timeout: float = field(repr=False, compare=False)
    # The very dict httpcore consults before each socket read; shrinking it as the deadline
    # nears makes total_timeout hold even against a server that drips one byte at a time.
    _timeouts: dict[str, float | None] = field(repr=False, compare=False)

    def iter_bytes(self) -> Iterator[bytes]:
        if self.content_length is not None and self.content_length > self._max_bytes:
            raise TooLarge(f"The media is {self.content_length} bytes; the limit is {self._max_bytes}.")
        # iter_raw: no decompression, so what we count is what crossed the wire.
        chunks = self._response.iter_raw()
        seen = 0
        while True:
            self._timeouts["read"] = min(self._read_timeout, _remaining(self._deadline))
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except httpx.TimeoutException as exc:
                raise RetrievalFailed("Timed out reading the media from the server.") from exc
            except httpx.HTTPError as exc:
                raise RetrievalFailed("Error reading the media from the server.") from exc
            seen += len(chunk)
            if seen > self._max_bytes:
                raise TooLarge(f"The media is larger than the {self._max_bytes}-byte limit.")
            yield chunk


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise RetrievalFailed("Timed out retrieving the media (total time limit exceeded).")
    return remaining


def _media_type(header: str) -> str:
    media_type = header.split(";", 1)[0].strip().lower()
    if len(media_type) > MAX_CONTENT_TYPE:
        return ""
    return media_type if _MEDIA_TYPE.fullmatch(media_type) else ""


def _content_length(header: str | None) -> int | None:
    # ASCII digits only: "²".isdigit() is true and int() then raised (a 500).
    return None if header is None else canonical_int(header.strip())


def _disposition_filename(header: str) -> str | None:
    params: dict[str, str] = {}
    for match in _DISPOSITION_PARAM.finditer(header):
        value = match.group(2).strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params.setdefault(match.group(1).lower(), value)
    extended = params.get("filename*")
    if extended:  # RFC 5987 charset'lang'pct-encoded; preferred over plain filename (RFC 6266)
        charset, _, rest = extended.partition("'")
        _, quoted, encoded = rest.partition("'")
        if quoted and charset.lower() in ("utf-8", "iso-8859-1"):
            try:
                return unquote(encoded, encoding=charset, errors="strict")
            except UnicodeDecodeError:
                pass
    return params.get("filename")


def _filename(disposition: str | None, url: httpx.URL) -> str | None:
    if disposition:
        name = _sanitize_filename(_disposition_filename(disposition) or "")
        if name:
            return name
    return _sanitize_filename(url.path.rsplit("/", 1)[-1])


def _sanitize_filename(name: str) -> str | None:
    """Last path component only, no control/format characters, no leading dots, <= 255 chars."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = name.strip().lstrip(".").strip()
    if not name:
        return None
    if len(name) > _MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and len(ext) <= 16:  # keep the extension, it drives content sniffing downstream
            return f"{stem[: _MAX_FILENAME - len(ext) - 1]}.{ext}"
        return name[:_MAX_FILENAME]
    return name
