"""Each media answer decided once, for every transport.

``secure``, ``public``, ``direct`` and ``content`` take what a request says
(sids, method, query string, the headers that matter, the client) and return
the ``Answer`` (``edge/answer.py``). They never send anything. The media
hosts record nothing either: the transport sends the answer and then records
its access event, so a transport that gives up (the fast path, when memory
does not know enough) leaves no trace and the other one decides from
scratch. ``content`` and ``direct`` are the content URL's: its decision
(``media.content_location``) records its audit event when it decides, so
everything that could still say "not sure" comes before it, and neither
transport gives up after it (tests/serving/test_differential.py compares
the access events of both, on local files and S3).

``memory_only=True`` is the variant for the event loop: every lookup is the
in-memory one (the signer's keys, ``EdgeObjectCache.cached``, ``prepare``'s
name of a plain local file) and ``None`` means "not sure, ask again
without it" (off the loop). With ``memory_only=False`` these functions block
(database, store): run them off the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from mediagate.core import sids
from mediagate.core.errors import ApiError, NotFound
from mediagate.edge import answer as a
from mediagate.edge.ranges import RangeError, Unsatisfiable, parse_range, span
from mediagate.edge.signed_query import parse_signed_query
from mediagate.media import media
from mediagate.media.delivery import object_path
from mediagate.media.signing import SignatureError, UnknownKey

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime
    from mediagate.testmode.faults import Fault


class Conditions(NamedTuple):
    """The request headers that change which bytes a media answer carries
    (first value of each; Starlette's ``headers.get`` reads the first too).
    Other conditional headers (If-Match, If-Modified-Since, ...) are ignored
    by every transport alike."""

    range: str | None = None
    if_range: str | None = None
    if_none_match: str | None = None


NO_CONDITIONS = Conditions()

_NO_MEDIA = "No such media."
_DELETED = "This media has been deleted."
_NO_PUBLIC = "No such public media."
_REVOKED = "This URL has been revoked. Request the media again to get a fresh URL."
_REPEATED = "The URL repeats a signed parameter."


def _valid(account_sid: str, media_sid: str) -> bool:
    return sids.is_sid(account_sid, sids.ACCOUNT) and sids.is_sid(media_sid, sids.MEDIA)


def _secure_event(
    account_sid: str, media_sid: str, method: str, key_id: str | None, ok: bool, why: str, client: str | None
) -> a.AccessEvent:
    # The key id names the credential; the signature and the URL are never recorded.
    return a.AccessEvent(
        "secure", account_sid, media_sid, method, ("signed_url", key_id or None), ok, why, client
    )


def _refused(
    status: int,
    reason: str,
    message: str,
    account_sid: str,
    media_sid: str,
    method: str,
    key_id: str | None,
    client: str | None,
) -> a.Answer:
    """The secured host's refusal and its access event (the audit spells
    "not_found" as "not-found", like every access event)."""
    event = _secure_event(account_sid, media_sid, method, key_id, False, reason.replace("_", "-"), client)
    return a.problem(status, reason, message, event)


def secure(
    rt: Runtime,
    account_sid: str,
    media_sid: str,
    method: str,
    query_string: str,
    cond: Conditions,
    client: str | None,
    *,
    memory_only: bool,
) -> a.Answer | None:
    """The secured host: signature and expiry first (one HMAC, no database for
    unsigned traffic), then the row (revocation) and the bytes. It never looks
    at an ``Authorization`` header. A malformed sid is a 404 whatever the
    query says: checked before any refusal, and implied by a valid signature
    (only media paths are ever signed), so served requests skip the check."""
    if memory_only and (rt.testing is not None or not rt.signer.refreshing):
        # Test mode decides off the loop, where faults may sleep and the journal
        # sees every answer; without a background refresh, verifying could read
        # the keys from the database.
        return None
    if rt.testing is not None:
        return _tested(
            rt,
            "secure",
            account_sid,
            media_sid,
            method,
            _secure(rt, account_sid, media_sid, method, query_string, cond, client),
        )
    return _secure(rt, account_sid, media_sid, method, query_string, cond, client, memory_only=memory_only)


def _secure(
    rt: Runtime,
    account_sid: str,
    media_sid: str,
    method: str,
    query_string: str,
    cond: Conditions,
    client: str | None,
    *,
    memory_only: bool = False,
) -> a.Answer | None:
    query = parse_signed_query(query_string)
    if query.repeated:
        if not _valid(account_sid, media_sid):
            return a.problem(404, "not_found", _NO_MEDIA)
        return _refused(403, "invalid", _REPEATED, account_sid, media_sid, method, None, client)
    path = object_path(account_sid, media_sid)
    key_id = query.signed[2][:34]  # bounded: it is client text
    try:
        try:
            issued = rt.signer.verify(path, *query.signed)  # never blocks: keys refresh in the background
        except UnknownKey:
            if not _valid(account_sid, media_sid):
                return a.problem(404, "not_found", _NO_MEDIA)
            if memory_only:
                return None
            # Perhaps created by another process a moment ago: re-read the keys
            # (rate-limited inside) and check once more.
            rt.signer.reload_for_unknown_key()
            issued = rt.signer.verify(path, *query.signed)
    except SignatureError as exc:
        if not _valid(account_sid, media_sid):
            return a.problem(404, "not_found", _NO_MEDIA)
        return _refused(403, exc.reason, exc.message, account_sid, media_sid, method, key_id, client)
    if memory_only:
        obj = rt.edge_objects.cached(account_sid, media_sid)
    else:
        # After the first request a cache hit plus one stat() of the object, or
        # a HEAD request on S3 (which is what makes deletion take effect at once).
        # See EdgeObjectCache for why this cannot serve deleted media.
        obj = rt.edge_objects.get(rt, account_sid, media_sid)
    prepared = _prepare(rt, obj, memory_only)
    if prepared is None:
        if memory_only:
            return None
        return _refused(404, "not_found", _DELETED, account_sid, media_sid, method, key_id, client)
    if issued <= prepared.obj.revoked_before:  # early revocation: from the row already loaded
        return _refused(403, "revoked", _REVOKED, account_sid, media_sid, method, key_id, client)
    if memory_only and rt.settings.accel_redirect_prefix:
        return None  # the front nginx's path: decided off the loop, with the store's relative path
    served = _secure_event(account_sid, media_sid, method, key_id, True, "served", client)
    return serve(
        rt,
        prepared,
        method,
        cond,
        a.SIGNED_CACHE,
        media_sid,
        query.download,
        served,
        lambda: _refused(404, "not_found", _DELETED, account_sid, media_sid, method, key_id, client),
    )


def public(
    rt: Runtime,
    account_sid: str,
    media_sid: str,
    method: str,
    cond: Conditions,
    client: str | None,
    *,
    memory_only: bool,
) -> a.Answer | None:
    """The public host: legacy media of an active account, nothing else, and
    never media that needs auth, whatever the caller knows."""
    if rt.testing is not None:
        if memory_only:
            return None  # test mode decides off the loop (see ``secure``)
        return _tested(
            rt,
            "public",
            account_sid,
            media_sid,
            method,
            _public(rt, account_sid, media_sid, method, cond, client),
        )
    return _public(rt, account_sid, media_sid, method, cond, client, memory_only=memory_only)


def _public(
    rt: Runtime,
    account_sid: str,
    media_sid: str,
    method: str,
    cond: Conditions,
    client: str | None,
    *,
    memory_only: bool = False,
) -> a.Answer | None:
    if not _valid(account_sid, media_sid):
        return a.problem(404, "not_found", _NO_MEDIA)

    def missing() -> a.Answer:
        event = a.AccessEvent(
            "public", account_sid, media_sid, method, ("none", None), False, "not-found", client
        )
        return a.problem(404, "not_found", _NO_PUBLIC, event)

    obj = media.public_edge_object(rt, account_sid, media_sid, memory_only=memory_only)
    prepared = _prepare(rt, obj, memory_only)
    if prepared is None:
        return None if memory_only else missing()
    if memory_only and rt.settings.accel_redirect_prefix:
        return None  # the front nginx's path: decided off the loop, with the store's relative path
    served = a.AccessEvent("public", account_sid, media_sid, method, ("none", None), True, "served", client)
    return serve(
        rt,
        prepared,
        method,
        cond,
        cache_control=a.PUBLIC_CACHE,
        stem=media_sid,
        attachment=False,
        event=served,
        gone=missing,
    )


def direct(
    rt: Runtime,
    account_sid: str,
    message_sid: str,
    media_sid: str,
    method: str,
    authorization: str | None,
    cond: Conditions,
    client: str | None,
    request_id: str | None = None,
    *,
    memory_only: bool,
) -> a.Answer | None:
    """Direct delivery (the account's MediaDelivery Mode=direct): the content
    redirect's own decision (the same credential check, permission, account
    status, 401/404 as ``ApiError`` and its audit event; no URL is signed),
    then the bytes, through the same ``serve`` as the media hosts, and the
    access they make (a download or not) for retention."""
    missing = NotFound(media.media_path(account_sid, message_sid, media_sid, ""))
    if memory_only and rt.testing is not None:
        return None  # test mode decides off the loop (see ``secure``)
    if memory_only:
        # Everything that could still say "not sure" first: the redirect's check
        # records its audit event when it decides, so it must come last.
        obj = rt.edge_objects.cached(account_sid, media_sid)
        prepared = _prepare(rt, obj, True)
        if prepared is None or rt.settings.accel_redirect_prefix:
            return None
        location = media.content_location_from_memory(
            rt,
            account_sid,
            message_sid,
            media_sid,
            authorization,
            method=method,
            client=client,
            request_id=request_id,
            redirect=False,
        )
        if location is None:
            return None
    else:
        _journaled_refusal(
            rt,
            account_sid,
            media_sid,
            method,
            lambda: media.content_location(
                rt,
                account_sid,
                message_sid,
                media_sid,
                authorization,
                method=method,
                client=client,
                redirect=False,
            ),
        )
        # The secured host's cache (remembered for the memory path above): no
        # cached answer is trusted for existence, prepare() checks the store.
        prepared = _prepare(rt, rt.edge_objects.get(rt, account_sid, media_sid), False)
        if prepared is None:  # deleted between the check and now
            raise missing
    answer = serve(
        rt,
        prepared,
        method,
        cond,
        cache_control=a.DIRECT_CACHE,
        stem=media_sid,
        attachment=False,
        event=None,  # audited by content_location, as the redirect it replaces
        gone=lambda: a.api_error(missing),
    )
    # Like its audit, recorded when decided: the bytes sent (a GET's 200 or 206)
    # are a download, a HEAD or a 304 an access (the rule the media hosts' answers follow).
    if rt.testing is not None:
        answer = _tested(rt, "content", account_sid, media_sid, method, answer)
    rt.access.served(account_sid, media_sid, method, answer.status)
    return answer


def content(
    rt: Runtime,
    account_sid: str,
    message_sid: str,
    media_sid: str,
    method: str,
    authorization: str | None,
    client: str | None,
    request_id: str | None = None,
    *,
    memory_only: bool,
) -> a.Answer | None:
    """The content URL's 307 (``media/media.content_location``: credential,
    permission, account, audit). Unlike the hosts' decisions it records its
    own audit event when it decides (``None`` from memory records nothing)."""
    if memory_only and rt.testing is not None:
        return None  # test mode decides off the loop (see ``secure``)
    if memory_only:
        location = media.content_location_from_memory(
            rt,
            account_sid,
            message_sid,
            media_sid,
            authorization,
            method=method,
            client=client,
            request_id=request_id,
        )
        return None if location is None else a.redirect(location)
    location = _journaled_refusal(
        rt,
        account_sid,
        media_sid,
        method,
        lambda: media.content_location(
            rt, account_sid, message_sid, media_sid, authorization, method=method, client=client
        ),
    )
    if rt.testing is not None:
        return _tested(rt, "content", account_sid, media_sid, method, a.redirect(location))
    return a.redirect(location)


# --------------------------------------------------------------------------- test mode
#
# The last step over a decided answer, in test mode only (testmode/faults.py):
# a fault applies only to an answer the real decision allowed (status < 400),
# so it can break, slow, cut or re-redirect an answer and never grant one.
# Every answer, faulted or not, goes into the journal (no signed URL, no secret).


def _journaled_refusal(
    rt: Runtime, account_sid: str, media_sid: str, method: str, decide: Callable[[], str]
) -> str:
    try:
        return decide()
    except ApiError as exc:
        if rt.testing is not None:
            rt.testing.journal.record(
                "content", account_sid, media_sid, method=method, status=exc.status, code=exc.code, fault=None
            )
        raise


def _shape(answer: a.Answer, method: str) -> frozenset[str]:
    """The actions this answer can take: a redirect can become a 302, a body be cut."""
    actions = {"status", "delay"}
    if answer.status == 307:
        actions.add("redirect-302")
    if method == "GET" and answer.read is not None and answer.span[1] > answer.span[0]:
        actions.add("truncate")
    return frozenset(actions)


def _tested(
    rt: Runtime, target: str, account_sid: str, media_sid: str, method: str, answer: a.Answer | None
) -> a.Answer:
    assert answer is not None and rt.testing is not None  # off the loop: always decided
    fault = None
    if answer.status < 400:
        fault = rt.testing.faults.take(target, account_sid, media_sid, _shape(answer, method))
        if fault is not None:
            answer = _faulted(fault, target, answer)
    location = dict(answer.headers).get("location")
    redirected = {}
    if location is not None:  # which host, never the URL: a signed URL's query is its secret
        secure_host = location.startswith(rt.settings.secure_media_url + "/")
        redirected = {"location_host": "secure" if secure_host else "public"}
    rt.testing.journal.record(
        target,
        account_sid,
        media_sid,
        method=method,
        status=answer.status,
        reason=answer.event.why if answer.event is not None else None,
        fault=fault.sid if fault is not None else None,
        **redirected,
    )
    return answer


def _faulted(fault: Fault, target: str, answer: a.Answer) -> a.Answer:
    message = f"Fault {fault.sid} injected by test mode."
    if fault.action == "delay":
        assert fault.delay_ms is not None
        time.sleep(fault.delay_ms / 1000)  # off the loop: test mode never decides from memory
        return answer
    if fault.action == "redirect-302":
        return answer._replace(status=302)
    if fault.action == "truncate":
        first, last = answer.span
        half = (last - first + 1) // 2
        headers = [(k, str(half) if k == "content-length" else v) for k, v in answer.headers]
        # Cut after half: the client gets a complete response whose body is
        # shorter than the media's size (what a proxy that gave up looks like).
        return answer._replace(headers=headers, file=None, span=(first, first + half - 1))
    assert fault.action == "status" and fault.status is not None
    event = answer.event._replace(ok=False, why="fault") if answer.event is not None else None
    if target == "content":
        return a.api_error(ApiError(message, code=20000 + fault.status, status=fault.status))._replace(
            event=event
        )
    failed = a.problem(fault.status, "fault", message, event)
    if fault.status == 503:
        failed.headers.append(("retry-after", "1"))
    return failed


def _prepare(rt: Runtime, obj: media.EdgeObject | None, memory_only: bool) -> media.Prepared | None:
    if obj is None:
        return None
    return media.prepare(rt, obj, memory_only=memory_only)


def serve(
    rt: Runtime,
    prepared: media.Prepared,
    method: str,
    cond: Conditions,
    cache_control: str,
    stem: str,
    attachment: bool,
    event: a.AccessEvent | None,
    gone: Callable[[], a.Answer],
) -> a.Answer:
    """Stored bytes, safely: ETag/304, a canonical Range (400 otherwise; one
    range → 206, several → the whole object, as RFC 9110 allows; 416 past the
    end), HEAD, and the security headers on every answer. Every host's bytes go
    through here, so a header is decided in one place."""
    obj = prepared.obj
    accel = rt.settings.accel_redirect_prefix or None
    last_modified = None if accel is not None else a.http_date(obj.created)
    etag = f'"{obj.sha256}"'
    headers = a.media_headers(obj, etag, cache_control, stem, attachment, last_modified)
    if cond.if_none_match and _etag_matches(cond.if_none_match, etag):
        return a.Answer(304, headers, event=event)
    specs = None
    if cond.range is not None:
        try:
            specs = parse_range(cond.range)
        except RangeError as exc:
            return a.bad_range(str(exc), event)
    content_type = a.content_type(obj.content_type)
    if accel is not None and prepared.relative_path is not None:
        # The front nginx sends the file (sendfile, Range, HEAD) from an
        # `internal` location; everything decided here travels in the headers.
        # Our own body is empty; nginx sends the file's length instead.
        headers += [
            ("x-accel-redirect", a.accel_target(accel, prepared.relative_path)),
            ("content-length", "0"),
            ("content-type", content_type),
        ]
        return a.Answer(200, headers, event=event)
    size = prepared.size
    first, last = 0, size - 1
    status = 200
    if specs is not None and (cond.if_range is None or cond.if_range in (etag, last_modified)):
        try:
            found = span(specs, size)
        except Unsatisfiable:
            headers += [
                ("accept-ranges", "bytes"),
                ("content-range", f"bytes */{size}"),
                ("content-length", "0"),
            ]
            return a.Answer(416, headers, event=event)
        if found is not None:
            status = 206
            first, last = found
            headers.append(("content-range", f"bytes {first}-{last}/{size}"))
    headers += [
        ("content-type", content_type),
        ("accept-ranges", "bytes"),
        ("content-length", str(last - first + 1 if size else 0)),
    ]
    if method == "HEAD" or not size:
        return a.Answer(status, headers, event=event)
    whole = status == 200
    return a.Answer(
        status,
        headers,
        file=prepared.file if whole else None,
        read=prepared.read,
        span=(first, last),
        event=event,
        gone=gone,
    )


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in candidates or etag in candidates
