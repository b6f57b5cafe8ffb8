"""The hot paths answered natively on RSGI, from memory, on the event loop.

This is a transport, not a second implementation: it parses the request,
asks the same decision the Starlette routes ask (``edge/decide.py``) with
``memory_only=True`` and sends the ``Answer`` as it is (granian's
``response_empty``/``response_bytes``/``response_file``), or returns ``False``
and the request goes to Starlette unchanged (``serving/bridge.py``), which
decides again from scratch (a decision records nothing until it is sent).

* the content URL: ``GET|HEAD /2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}``
  with one ``Authorization`` header, when ``decide.content`` (the 307) can
  answer from memory (a credential that passed before, the media row, the
  signer's keys), or, for an account with direct delivery, ``decide.direct``
  (the same check, then the whole file as the secured host sends it; a
  ``Range`` request goes to Starlette);
* the secured host on plain local files: ``decide.secure`` from the signer's
  keys and the secured host's cache (``EdgeObjectCache``); its refusals (403,
  404 for a bad sid) too, since they need no lookup. A whole file is sent by
  granian itself (opened and sent in Rust, off the loop, zero-copy); a byte
  range is left to Starlette.

Anything the decision is not sure about, test mode (docs/test-mode.md), encrypted or remote storage,
X-Accel-Redirect deployments and the public host go to Starlette.
Trusted-proxy deployments' forwarded headers are resolved here with the
same ``proxies`` code.

What a fast answer keeps: the answer's own headers, the ``x-request-id``,
the access line and the audit line (batched, ``observability/lines.py``), the
durable access audit event, the HTTP metrics, and the in-memory access
records retention reads.

One difference, in a race only: a file another process deleted before its
invalidation reached this one (the documented bound) is answered by granian's
own plain 404, not our JSON 404; either way nothing is served. granian opens
the file after the answer is handed over and tells us nothing, so that one
request's access line, metrics and access event say 200 / ``served``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from mediagate.api.media import CONTENT_ROUTE
from mediagate.core.errors import ApiError
from mediagate.core.proxies import TrustedProxies, parse_networks
from mediagate.edge import decide
from mediagate.edge.answer import Answer, record
from mediagate.edge.hosts import PUBLIC_ROUTE, SECURE_ROUTE
from mediagate.media import media
from mediagate.observability.middleware import access_line, leaf_routes, request_id_of
from mediagate.runtime.context import Runtime

_CONTENT_PREFIX = "/2010-04-01/Accounts/"
_FORWARDING = ("forwarded", "x-forwarded-for", "x-forwarded-proto")


def _metrics() -> Any:
    # Imported when first used: `mediagate serve` sets up multiprocess metrics
    # before anything imports prometheus_client (tests/unit/test_cli_imports.py).
    from mediagate.observability import metrics

    return metrics


def named_templates(routes: Iterable[BaseRoute]) -> dict[str, str]:
    """``route name -> full path template`` for every named leaf route, spelt as
    ``observability.middleware.route_templates`` spells them (the same walk:
    the access line and the metrics name a fast answer's route the same way).
    By name, not by position: reordering a route list cannot turn a fast path
    off. A name given twice means its first route, the one Starlette matches first."""
    found: dict[str, str] = {}
    for route, template in leaf_routes(routes):
        name = getattr(route, "name", None)
        if isinstance(name, str):
            found.setdefault(name, template)
    return found


def _first(headers: Any, name: str) -> str | None:
    # The first value, as Starlette's ``headers.get`` reads it (usually absent:
    # ``in`` first spares building a list).
    if name not in headers:
        return None
    values: list[str] = headers.get_all(name)
    return values[0] if values else None


class _MediaHost(NamedTuple):
    hostname: str | None  # None: by path prefix on the API's own host (the embedded default)
    prefix: str
    route: str | None  # None: not served by this process (MEDIAGATE_ROLE=worker)
    secure: bool


def _media_host(api_hostname: str | None, url: str, route: str | None, *, secure: bool) -> _MediaHost:
    # A media host by path prefix on the API's own host, or by Host header (a
    # media hostname of its own), as http/app.py mounts it.
    edge = urlsplit(url)
    hostname = None if edge.hostname == api_hostname else (edge.hostname or "").lower()
    return _MediaHost(hostname, edge.path.rstrip("/") + "/", route, secure)


class FastPaths:
    def __init__(self, app: Starlette) -> None:
        rt: Runtime = app.state.runtime
        self.rt = rt
        s = rt.settings
        templates = named_templates(app.routes)
        # None: the route is not served by this process (MEDIAGATE_ROLE=worker), nor its fast path.
        self.content_route = templates.get(CONTENT_ROUTE)
        self.proxies = TrustedProxies(parse_networks(s.trusted_proxies))
        # Plain local files only (``MediaStore.file_name``).
        self.local = media.plain_local_files(rt)
        api = urlsplit(s.public_url).hostname
        self.hosts = [
            _media_host(api, s.secure_media_url, templates.get(SECURE_ROUTE), secure=True),
            _media_host(api, s.public_media_url, templates.get(PUBLIC_ROUTE), secure=False),
        ]
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any, Any]] = {}
        # Test mode (testmode/): every media answer is decided on Starlette, off
        # the loop, where armed faults apply (a delay sleeps) and the journal
        # records it; the decisions say "not sure" from memory there too. Read
        # once here: no cost per request when test mode is off.
        self.test_mode = rt.testing is not None

    def answer(self, scope: Any, proto: Any) -> bool:
        method = scope.method
        if (method != "GET" and method != "HEAD") or self.test_mode:
            return False
        path: str = scope.path
        try:
            if path.startswith(_CONTENT_PREFIX) and self.content_route is not None:
                return self._content(scope, proto, path, method, self.content_route)
            if self.local:
                for host in self.hosts:
                    if path.startswith(host.prefix) and host.route is not None:
                        return self._download(scope, proto, path, method, host)
        except ApiError:
            return False  # decided there again, with its proper answer
        return False

    # -- the content redirect ------------------------------------------------

    def _content(self, scope: Any, proto: Any, path: str, method: str, route: str) -> bool:
        parts = path.split("/")
        if len(parts) != 8 or parts[4] != "Messages" or parts[6] != "Media":
            return False
        account_sid, message_sid, media_sid = parts[3], parts[5], parts[7]
        headers = scope.headers
        auth = headers.get_all("authorization")
        if len(auth) != 1 or not auth[0]:
            # Anonymous (an empty header is one too: legacy media), or ambiguous:
            # Starlette decides, and audits the decision once.
            return False
        rt = self.rt
        direct = rt.direct_accounts
        if not direct.fresh():
            return False
        started = time.perf_counter()
        if direct.cached(account_sid):
            # The account's direct delivery: the bytes instead of the 307. Only a
            # whole file can be sent here, and the decision audits when it decides,
            # so a Range request is left to Starlette before asking.
            if not self.local or "range" in headers:
                return False
            client = self._client(scope)
            rid = request_id_of(headers.get("x-request-id"))
            cond = decide.Conditions(None, None, _first(headers, "if-none-match"))
            found = decide.direct(
                rt, account_sid, message_sid, media_sid, method, auth[0], cond, client, rid, memory_only=True
            )
        else:
            client = self._client(scope)
            rid = request_id_of(headers.get("x-request-id"))
            found = decide.content(
                rt, account_sid, message_sid, media_sid, method, auth[0], client, rid, memory_only=True
            )
        if found is None:
            return False
        # Both decisions audited themselves (media/media.py) when they decided.
        return self._send(found, proto, rid, method, route, started, client)

    # -- the secured host --------------------------------------------------------

    def _download(self, scope: Any, proto: Any, path: str, method: str, media_host: _MediaHost) -> bool:
        headers = scope.headers
        if media_host.hostname is not None:
            host = (headers.get("host") or "").rpartition(":")[0] or headers.get("host") or ""
            if host.lower() != media_host.hostname:
                return False
        rest = path[len(media_host.prefix) :]
        account_sid, slash, media_sid = rest.partition("/")
        if not slash or "/" in media_sid:
            return False  # not this route: Starlette's 404
        started = time.perf_counter()
        client = self._client(scope)
        cond = decide.Conditions(
            _first(headers, "range"), _first(headers, "if-range"), _first(headers, "if-none-match")
        )
        if media_host.secure:
            found = decide.secure(
                self.rt, account_sid, media_sid, method, scope.query_string, cond, client, memory_only=True
            )
        else:
            found = decide.public(self.rt, account_sid, media_sid, method, cond, client, memory_only=True)
        if found is None:
            return False
        rid = request_id_of(headers.get("x-request-id"))
        assert media_host.route is not None
        return self._send(found, proto, rid, method, media_host.route, started, client)

    # -- shared ------------------------------------------------------------------

    def _send(
        self, found: Answer, proto: Any, rid: str, method: str, route: str, started: float, client: str
    ) -> bool:
        """Send the answer as it is, or decline (``False``, nothing sent, nothing
        recorded) when it is not a whole file or a body: a byte range of a file
        is Starlette's to stream (only the secured host gets here with one: its
        decision records nothing until its answer is sent)."""
        if found.read is not None and found.file is None and method != "HEAD":
            return False
        out = found.headers  # this answer's own list, sent once: no copy
        out.append(("x-request-id", rid))
        if method == "HEAD" or (found.read is None and not found.body):
            proto.response_empty(found.status, out)
            sent = 0
        elif found.file is not None:
            proto.response_file(found.status, out, found.file)
            sent = found.span[1] - found.span[0] + 1
        else:
            proto.response_bytes(found.status, out, found.body)
            sent = len(found.body)
        record(self.rt, found)
        self._done(rid, method, route, found.status, started, sent, client)
        return True

    def _client(self, scope: Any) -> str:
        peer: str = scope.client.rpartition(":")[0].strip("[]")
        proxies = self.proxies
        if not proxies.networks:
            return peer
        # Only the forwarding headers, which is all ``resolve`` reads (granian's
        # names are lower-case already), in their order per name; ``resolve``
        # itself ignores them unless the peer is a trusted proxy.
        headers = scope.headers
        items = [(name, v) for name in _FORWARDING for v in headers.get_all(name)]
        return proxies.resolve(peer, items, scope.scheme)[0]

    def _done(
        self, rid: str, method: str, route: str, status: int, started: float, sent: int, client: str
    ) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            m = _metrics()
            children = self._children[key] = (
                m.HTTP_REQUESTS.labels(route, method, str(status)),
                m.HTTP_DURATION.labels(route),
                m.HTTP_BYTES.labels(route),
                m.FAST_ANSWERS.labels(route),
            )
        elapsed = time.perf_counter() - started
        children[0].inc()
        children[1].observe(elapsed)
        children[3].inc()
        if sent:
            children[2].inc(sent)
        if self.rt.settings.access_log:
            access_line(rid, method, route, status, elapsed, sent, client)
