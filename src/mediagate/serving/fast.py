"""The two hot paths answered natively on RSGI, from memory, on the event loop.

* the content redirect: ``GET|HEAD /2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}``
  with one ``Authorization`` header, when ``services/media.content_location_from_memory``
  can decide it (a credential that passed before, the media row, the signer's
  keys; the same function, hence the same checks, the same audit events);
* a signed download from the secured host on local storage: the signature and
  expiry checked (``Signer.verify``, in memory), the media row from the secured
  host's cache (``EdgeObjectCache``), the file sent by granian itself
  (``response_file``: opened and sent in Rust, off the loop, zero-copy).

Anything else, and anything these are not sure about, returns ``False`` and
the request goes to Starlette unchanged (``serving/bridge.py``): first
requests, refusals (every 401/403/404 is decided there, exactly as before),
Range and conditional requests, ``Download=1``, repeated signed parameters,
encrypted or remote storage, the direct-delivery mode, trusted-proxy
deployments' forwarded headers (resolved here with the same ``proxies`` code).

What a fast answer keeps: the response headers of the Starlette path, the
``x-request-id``, the access line and the audit line (batched,
``observability/lines.py``), the durable access audit event, the HTTP metrics,
and the in-memory access records retention reads.

One difference, in a race only: a file another process deleted before its
invalidation reached this one (the documented bound) is answered by granian's
own plain 404, not our JSON 404; either way nothing is served. granian opens
the file after the answer is handed over and tells us nothing, so that one
request's access line, metrics and access event say 200 / ``served``.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.applications import Starlette

from mediagate.api import media as media_api
from mediagate.context import Runtime
from mediagate.edge import hosts
from mediagate.edge.serve import SECURITY_HEADERS
from mediagate.errors import ApiError
from mediagate.observability.middleware import access_line, request_id_of, route_templates
from mediagate.proxies import TrustedProxies, parse_networks
from mediagate.services import media
from mediagate.services.delivery import object_path
from mediagate.services.disposition import content_disposition
from mediagate.services.media import EdgeObject
from mediagate.signing import SignatureError

_CONTENT_PREFIX = "/2010-04-01/Accounts/"
_SIGNED = frozenset(("Expires", "Signature", "Key-Pair-Id", "Issued"))
_SECURITY = list(SECURITY_HEADERS.items())
_FORWARDING = ("forwarded", "x-forwarded-for", "x-forwarded-proto")
# Anything that makes the secured host answer something other than the whole file.
_CONDITIONAL = ("range", "if-none-match", "if-range", "if-match", "if-modified-since", "if-unmodified-since")


def _metrics() -> Any:
    # Imported when first used: `mediagate serve` sets up multiprocess metrics
    # before anything imports prometheus_client (tests/unit/test_cli_imports.py).
    from mediagate.observability import metrics

    return metrics


class FastPaths:
    def __init__(self, app: Starlette) -> None:
        rt: Runtime = app.state.runtime
        self.rt = rt
        s = rt.settings
        # The route templates the access line and the metrics name (the same as Starlette's path).
        templates = route_templates(app.routes)
        # None: the route is not served by this process (MEDIAGATE_ROLE=worker), nor its fast path.
        self.content_route = templates.get(id(media_api.routes[2]))
        self.secure_route = templates.get(id(hosts.secure_routes[0]))
        self.proxies = TrustedProxies(parse_networks(s.trusted_proxies))
        api, edge = urlsplit(s.public_url), urlsplit(s.secure_media_url)
        # The secured host by path prefix on the API's own host (the embedded
        # default), or by Host header (a media hostname of its own).
        self.secure_host = None if edge.hostname == api.hostname else (edge.hostname or "").lower()
        self.secure_prefix = edge.path.rstrip("/") + "/"
        # Plain local files only (``MediaStore.file_name``): sealed (encrypted)
        # objects are decrypted by us, remote ones streamed, and behind
        # X-Accel-Redirect the front nginx sends the file.
        self.local = None if s.accel_redirect_prefix or rt.store.network else rt.store
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any, Any]] = {}
        self._dispositions: dict[tuple[str | None, str, str], str] = {}

    def answer(self, scope: Any, proto: Any) -> bool:
        method = scope.method
        if method != "GET" and method != "HEAD":
            return False
        path: str = scope.path
        try:
            if path.startswith(_CONTENT_PREFIX) and self.content_route is not None:
                return self._content(scope, proto, path, method, self.content_route)
            secure = self.secure_route
            if path.startswith(self.secure_prefix) and self.local is not None and secure is not None:
                return self._download(scope, proto, path, method, secure)
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
        if not direct.fresh() or direct.cached(account_sid):
            return False
        started = time.perf_counter()
        client = self._client(scope)
        rid = request_id_of(headers.get("x-request-id"))
        location = media.content_location_from_memory(
            rt, account_sid, message_sid, media_sid, auth[0], method=method, client=client, request_id=rid
        )
        if location is None:
            return False
        proto.response_empty(
            307,
            [
                ("location", location),
                ("cache-control", "no-store"),
                ("content-length", "0"),
                ("x-request-id", rid),
            ],
        )
        self._done(rid, method, route, 307, started, 0, client)
        return True

    # -- the secured host --------------------------------------------------------

    def _download(self, scope: Any, proto: Any, path: str, method: str, route: str) -> bool:
        headers = scope.headers
        if self.secure_host is not None:
            host = (headers.get("host") or "").rpartition(":")[0] or headers.get("host") or ""
            if host.lower() != self.secure_host:
                return False
        rest = path[len(self.secure_prefix) :]
        account_sid, slash, media_sid = rest.partition("/")
        if not slash or "/" in media_sid:
            return False
        for name in _CONDITIONAL:
            if name in headers:
                return False
        signed: dict[str, str] = {}
        for pair in scope.query_string.split("&"):
            name, _, value = pair.partition("=")
            if name in _SIGNED:
                if name in signed:
                    return False  # repeated: refused there
                signed[name] = unquote(value) if "%" in value or "+" in value else value
            elif name == "Download":
                return False
        rt = self.rt
        try:
            issued = rt.signer.verify(
                object_path(account_sid, media_sid),
                signed.get("Expires", ""),
                signed.get("Signature", ""),
                signed.get("Key-Pair-Id", ""),
                signed.get("Issued", ""),
            )
        except SignatureError:
            return False  # 403 (or a key to reload) decided there
        obj = rt.edge_objects.cached(account_sid, media_sid)
        if obj is None or issued <= obj.revoked_before:
            return False
        assert self.local is not None
        file_name = self.local.file_name(obj.key)
        if file_name is None:
            return False
        started = time.perf_counter()
        client = self._client(scope)
        rid = request_id_of(headers.get("x-request-id"))
        kid = signed["Key-Pair-Id"][:34]
        rt.access_audit.record(
            "secure", account_sid, media_sid, method, ("signed_url", kid), True, "served", client
        )
        out = [
            *_SECURITY,
            ("etag", f'"{obj.sha256}"'),
            ("cache-control", "private, max-age=300"),
            ("content-disposition", self._disposition(obj, media_sid)),
            ("content-type", obj.content_type),
            ("accept-ranges", "bytes"),
            ("content-length", str(obj.size)),
            ("x-request-id", rid),
        ]
        if method == "HEAD":
            proto.response_empty(200, out)
            sent = 0
        else:
            proto.response_file(200, out, file_name)
            sent = obj.size
        rt.access.served(account_sid, media_sid, method, 200)  # in memory only
        self._done(rid, method, route, 200, started, sent, client)
        return True

    def _disposition(self, obj: EdgeObject, stem: str) -> str:
        # The filename rules (edge/serve.py) cost a few microseconds: remembered
        # per (name, type, stem); bounded by the secured host's own cache size.
        key = (obj.filename, obj.content_type, stem)
        found = self._dispositions.get(key)
        if found is None:
            if len(self._dispositions) > 20_000:
                self._dispositions.clear()
            found = self._dispositions[key] = content_disposition(obj, stem)
        return found

    # -- shared ------------------------------------------------------------------

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
