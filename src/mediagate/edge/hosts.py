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
from mediagate.api.common import call, runtime
from mediagate.context import Runtime
from mediagate.edge.serve import Prepared, accel_for, prepare, respond
from mediagate.services import media
from mediagate.services.delivery import object_path
from mediagate.signing import SignatureError
from mediagate.storage import ObjectNotFound


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


# Secured host only: see EdgeObjectCache for why this cannot serve deleted media.
_secure_cache = media.EdgeObjectCache()


def _lookup(rt: Runtime, account_sid: str, media_sid: str, *, public: bool) -> Prepared | None:
    if public:
        obj = media.edge_object(rt, account_sid, media_sid)
    else:
        obj = _secure_cache.get(rt, account_sid, media_sid)
    if obj is None or (public and obj.auth_required):
        return None
    try:
        return prepare(rt.store, obj)
    except ObjectNotFound:
        return None


async def secure_object(request: Request) -> Response:
    found = _sids(request)
    if found is None:
        return _problem(404, "not_found", "No such media.")
    account_sid, media_sid = found
    rt = runtime(request)
    q = request.query_params
    try:
        rt.signer.verify(
            object_path(account_sid, media_sid),
            q.get("Expires", ""),
            q.get("Signature", ""),
            q.get("Key-Pair-Id", ""),
        )
    except SignatureError as exc:
        return _problem(403, exc.reason, exc.message)
    # On the event loop, like the content redirect: after the first request a
    # cache hit plus one stat() of the object (which is what makes deletion
    # take effect at once). A store across the network (S3: a HEAD request)
    # would block the loop for a round trip, so that one goes to a thread.
    if rt.store.network:
        prepared = await call(_lookup, rt, account_sid, media_sid, public=False)
    else:
        prepared = _lookup(rt, account_sid, media_sid, public=False)
    if prepared is None:
        return _problem(404, "not_found", "This media has been deleted.")
    return respond(
        request,
        prepared,
        cache_control="private, max-age=300",
        stem=media_sid,
        accel=accel_for(rt.settings.accel_redirect_prefix),
    )


async def public_object(request: Request) -> Response:
    found = _sids(request)
    if found is None:
        return _problem(404, "not_found", "No such media.")
    account_sid, media_sid = found
    rt = runtime(request)
    prepared = await call(_lookup, rt, account_sid, media_sid, public=True)
    if prepared is None:
        # Media that needs auth is never served here, whatever the caller knows.
        return _problem(404, "not_found", "No such public media.")
    return respond(
        request,
        prepared,
        cache_control="public, max-age=300",
        stem=media_sid,
        accel=accel_for(rt.settings.accel_redirect_prefix),
    )


secure_routes = [Route("/{account_sid}/{media_sid}", secure_object, methods=["GET", "HEAD"])]
public_routes = [Route("/{account_sid}/{media_sid}", public_object, methods=["GET", "HEAD"])]
