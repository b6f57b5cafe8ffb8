"""Routes of the secured and public media hosts.

The secured host checks the signature and expiry *before* touching the
database or storage, so unsigned traffic costs one HMAC. It never looks at
an ``Authorization`` header: clients that forward credentials across the
redirect (``requests`` does on a same-host redirect) are served normally,
where S3 would answer 400.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate import sids
from mediagate.context import Runtime
from mediagate.edge.serve import accel_for, respond
from mediagate.http_common import hot, runtime
from mediagate.services import media
from mediagate.services.delivery import object_path
from mediagate.signing import SignatureError, UnknownKey


def _problem(status: int, reason: str, message: str) -> Response:
    return JSONResponse(
        {"status": status, "reason": reason, "message": message},
        status_code=status,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


def _sids(request: Request) -> tuple[str, str] | None:
    account_sid: str = request.path_params["account_sid"]
    media_sid: str = request.path_params["media_sid"]
    if sids.is_sid(account_sid, sids.ACCOUNT) and sids.is_sid(media_sid, sids.MEDIA):
        return account_sid, media_sid
    return None


_SIGNED_PARAMS = ("Expires", "Signature", "Key-Pair-Id", "Issued")  # the order Signer.verify takes them


def _audit(
    request: Request, host: str, account_sid: str, media_sid: str, kid: str | None, ok: bool, why: str
) -> None:
    # One enqueue (services/access_audit.py): the key id names the credential;
    # the signature and the URL are never recorded.
    client = request.client.host if request.client else None
    credential = ("signed_url", kid or None) if host == "secure" else ("none", None)
    runtime(request).access_audit.record(
        host, account_sid, media_sid, request.method, credential, ok, why, client
    )


def _lookup(rt: Runtime, account_sid: str, media_sid: str, *, public: bool) -> media.Prepared | None:
    if public:
        obj = media.public_edge_object(rt, account_sid, media_sid)
    else:
        # Secured host only: see EdgeObjectCache for why this cannot serve deleted media.
        obj = rt.edge_objects.get(rt, account_sid, media_sid)
    if obj is None or (public and obj.auth_required):
        return None
    return media.prepare(rt, obj)


async def secure_object(request: Request) -> Response:
    found = _sids(request)
    if found is None:
        return _problem(404, "not_found", "No such media.")
    account_sid, media_sid = found
    rt = runtime(request)
    q = request.query_params
    signed = {name: q.getlist(name) for name in _SIGNED_PARAMS}
    if any(len(values) > 1 for values in signed.values()):
        # Two Signatures (or Expires, or key ids) are two URLs in one: a cache or a
        # proxy in front may read the other copy than we do. Refuse, don't pick.
        _audit(request, "secure", account_sid, media_sid, None, False, "invalid")
        return _problem(403, "invalid", "The URL repeats a signed parameter.")
    path = object_path(account_sid, media_sid)
    args = tuple(values[0] if values else "" for values in signed.values())
    kid = args[2][:34]
    try:
        try:
            issued = rt.signer.verify(path, *args)  # never blocks: keys are refreshed in the background
        except UnknownKey:
            # Perhaps created by another process a moment ago: re-read the keys
            # (off the loop, rate-limited inside) and check once more.
            await hot(rt, rt.signer.reload_for_unknown_key)
            issued = rt.signer.verify(path, *args)
    except SignatureError as exc:
        _audit(request, "secure", account_sid, media_sid, kid, False, exc.reason)
        return _problem(403, exc.reason, exc.message)
    # Off the loop (its own thread limiter): after the first request a cache hit
    # plus one stat() of the object, or a HEAD request on S3 (which is what makes
    # deletion take effect at once). A database stall therefore does not affect
    # media whose lookup is cached, and nothing blocks the event loop.
    prepared = await hot(rt, _lookup, rt, account_sid, media_sid, public=False)
    if prepared is None:
        _audit(request, "secure", account_sid, media_sid, kid, False, "not-found")
        return _problem(404, "not_found", "This media has been deleted.")
    if issued <= prepared.obj.revoked_before:  # early revocation: from the row already loaded
        _audit(request, "secure", account_sid, media_sid, kid, False, "revoked")
        return _problem(
            403, "revoked", "This URL has been revoked. Request the media again to get a fresh URL."
        )
    try:
        response = await respond(
            request,
            prepared,
            cache_control="private, max-age=300",
            stem=media_sid,
            accel=accel_for(rt.settings.accel_redirect_prefix),
            # Outside the signature on purpose: it can only turn "inline" into
            # "attachment" (the console's Download link), never the other way.
            attachment=q.get("Download") == "1",
        )
    except media.ObjectNotFound:  # deleted after it was opened, before its first byte was read
        _audit(request, "secure", account_sid, media_sid, kid, False, "not-found")
        return _problem(404, "not_found", "This media has been deleted.")
    _audit(request, "secure", account_sid, media_sid, kid, True, "served")
    rt.access.served(account_sid, media_sid, request.method, response.status_code)  # in memory only
    return response


async def public_object(request: Request) -> Response:
    found = _sids(request)
    if found is None:
        return _problem(404, "not_found", "No such media.")
    account_sid, media_sid = found
    rt = runtime(request)
    prepared = await hot(rt, _lookup, rt, account_sid, media_sid, public=True)
    if prepared is None:
        # Media that needs auth is never served here, whatever the caller knows.
        _audit(request, "public", account_sid, media_sid, None, False, "not-found")
        return _problem(404, "not_found", "No such public media.")
    try:
        response = await respond(
            request,
            prepared,
            # Shared caches may store it but must revalidate on every use (a cheap 304
            # thanks to the ETag): with max-age=300 a CDN kept serving media for five
            # minutes after it was deleted, secured, or its account suspended.
            cache_control="public, no-cache",
            stem=media_sid,
            accel=accel_for(rt.settings.accel_redirect_prefix),
        )
    except media.ObjectNotFound:  # deleted after it was opened, before its first byte was read
        _audit(request, "public", account_sid, media_sid, None, False, "not-found")
        return _problem(404, "not_found", "No such public media.")
    _audit(request, "public", account_sid, media_sid, None, True, "served")
    rt.access.served(account_sid, media_sid, request.method, response.status_code)  # in memory only
    return response


secure_routes = [Route("/{account_sid}/{media_sid}", secure_object, methods=["GET", "HEAD"])]
public_routes = [Route("/{account_sid}/{media_sid}", public_object, methods=["GET", "HEAD"])]
