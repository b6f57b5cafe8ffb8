"""Console pages for messages, media and API keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.responses import Response

from mediagate.accounts import keys
from mediagate.accounts import permissions as perms
from mediagate.console.web import (
    MESSAGES_PER_PAGE,
    RASTER_TYPES,
    THUMBNAIL_TTL,
    Ctx,
    _redirect,
    _require,
)
from mediagate.core import sids
from mediagate.core.errors import BadRequest, NotFound
from mediagate.core.paging import PageRequest, page_uris, parse_page_request
from mediagate.db.records import MediaRecord
from mediagate.media import access_audit, delivery, media, revocation
from mediagate.messaging import messages


@dataclass(frozen=True)
class MediaView:
    sid: str
    message_sid: str
    content_type: str
    size: int
    filename: str | None
    auth_required: bool
    date_created: datetime
    thumbnail_url: str | None


def _signed_url(ctx: Ctx, account_sid: str, media_sid: str, *, download: bool = False) -> str:
    """The only place the console signs a media URL (thumbnails, downloads).

    A signed URL *is* the media's bytes, so it needs media read whatever the page
    (the API's content URL asks the same): checked here, at the root, not by
    each page that happens to show a thumbnail.
    """
    _require(ctx, perms.MEDIA_READ)
    rt = ctx.rt
    # Always the secured host, whatever the media's protection: the console
    # never sends a browser to the public host.
    url = delivery.secured_url(rt, account_sid, media_sid, ttl=THUMBNAIL_TTL)
    # Download=1: the secured host answers Content-Disposition: attachment, so
    # "Download" saves the file instead of showing an image inline.
    return url + "&Download=1" if download else url


def _media_view(ctx: Ctx, m: MediaRecord) -> MediaView:
    thumb = (
        _signed_url(ctx, m.account_sid, m.sid)
        if m.content_type in RASTER_TYPES and ctx.may(perms.MEDIA_READ)
        else None
    )
    return MediaView(
        m.sid,
        m.message_sid,
        m.content_type,
        m.size,
        m.filename,
        m.auth_required,
        m.date_created,
        thumb,
    )


def _page_links(path: str, req: PageRequest, page: Any, filters: Mapping[str, str]) -> dict[str, Any]:
    uris = page_uris(path, filters, req, page)
    return {"next": uris.next, "previous": uris.previous, "first": uris.first}


def messages_list(ctx: Ctx) -> Response:
    rt, sid = ctx.rt, ctx.account_sid
    query = dict(ctx.request.query_params)
    query.setdefault("PageSize", str(MESSAGES_PER_PAGE))
    req = parse_page_request(query)
    if req.size > 100:
        raise BadRequest("PageSize must be at most 100 here.")
    page = messages.page(rt, sid, {}, req)
    show_media = ctx.may(perms.MEDIA_READ)
    rows = []
    for m in page.rows:
        items = (
            [_media_view(ctx, x) for x in media.page(rt, sid, m.sid, {}, PageRequest(10, 0, None)).rows]
            if show_media and m.num_media
            else []
        )
        rows.append((m, items))
    return ctx.render(
        "messages.html",
        nav="messages",
        rows=rows,
        links=_page_links("/console/messages", req, page, {}),
        page_number=req.number + 1,
        show_media=show_media,
    )


def message_detail(ctx: Ctx) -> Response:
    rt, sid = ctx.rt, ctx.account_sid
    msg = messages.get(rt, sid, _sid(ctx, "message_sid", sids.SMS, sids.MMS))
    items = []
    if ctx.may(perms.MEDIA_READ):
        items = [
            _media_view(ctx, x) for x in media.page(rt, sid, msg.sid, {}, PageRequest(100, 0, None)).rows
        ]
    return ctx.render("message.html", nav="messages", message=msg, media=items)


def _sid(ctx: Ctx, name: str, *prefixes: str) -> str:
    value = str(ctx.request.path_params[name])
    if not sids.is_sid(value, *prefixes):
        raise NotFound(ctx.request.url.path)
    return value


def media_download(ctx: Ctx) -> Response:
    rt, sid = ctx.rt, ctx.account_sid
    m = media.get(rt, sid, _sid(ctx, "message_sid", sids.SMS, sids.MMS), _sid(ctx, "media_sid", sids.MEDIA))
    return _redirect(_signed_url(ctx, sid, m.sid, download=True))


def media_delete(ctx: Ctx) -> Response:
    rt, sid = ctx.rt, ctx.account_sid
    message_sid = _sid(ctx, "message_sid", sids.SMS, sids.MMS)
    m = media.get(rt, sid, message_sid, _sid(ctx, "media_sid", sids.MEDIA))
    if ctx.request.method == "POST":
        media.delete(rt, sid, message_sid, m.sid, actor=ctx.who.actor)
        back = _safe_back(ctx.field("back"))
        return _redirect(back + ("&" if "?" in back else "?") + "done=media-deleted")
    return ctx.render(
        "confirm_media_delete.html",
        nav="messages",
        media=_media_view(ctx, m),
        back=_safe_back(ctx.request.query_params.get("back")),
    )


def media_access(ctx: Ctx) -> Response:
    """ "Who fetched this, when" (the access audit of one media), and the button
    that revokes its outstanding signed URLs (media/revocation.py)."""
    rt, sid = ctx.rt, ctx.account_sid
    message_sid = _sid(ctx, "message_sid", sids.SMS, sids.MMS)
    m = media.get(rt, sid, message_sid, _sid(ctx, "media_sid", sids.MEDIA))
    path = f"/console/messages/{message_sid}/media/{m.sid}/access"
    if ctx.request.method == "POST":
        revocation.revoke_media(rt, sid, m.sid, actor=ctx.who.actor)
        return _redirect(path + "?done=revoked")
    query = dict(ctx.request.query_params)
    req = parse_page_request({"PageSize": "50", **query})
    if req.size > 100:
        raise BadRequest("PageSize must be at most 100 here.")
    page = access_audit.page(rt, sid, {"MediaSid": m.sid}, req)
    return ctx.render(
        "media_access.html",
        nav="messages",
        media=_media_view(ctx, m),
        events=list(page.rows),
        links=_page_links(path, req, page, {}),
        done=query.get("done"),
        retention_days=rt.settings.access_audit_retention_days,
    )


def _safe_back(value: str | None) -> str:
    if value and value.startswith("/console/messages") and not value.startswith("//") and "\\" not in value:
        base, _, query = value.partition("?")
        kept = "&".join(p for p in query.split("&") if p and not p.startswith("done="))
        return f"{base}?{kept}" if kept else base
    return "/console/messages"


def message_delete(ctx: Ctx) -> Response:
    rt, sid = ctx.rt, ctx.account_sid
    msg = messages.get(rt, sid, _sid(ctx, "message_sid", sids.SMS, sids.MMS))
    if ctx.request.method == "POST":
        messages.delete_message(rt, sid, msg.sid, actor=ctx.who.actor)
        return _redirect("/console/messages?done=message-deleted")
    return ctx.render("confirm_message_delete.html", nav="messages", message=msg)


# --- API keys --------------------------------------------------------------------------------


def keys_list(ctx: Ctx) -> Response:
    rt, sid = ctx.rt, ctx.account_sid
    may_manage = ctx.may(perms.MANAGE_KEYS)
    created = None
    error = None
    name = ""
    if ctx.request.method == "POST":
        name = ctx.field("friendly_name").strip()
        try:
            created = keys.create(rt, sid, name, actor=ctx.who.actor)
        except BadRequest as exc:
            error = exc.message
    rows: list[Any] = []
    links: dict[str, Any] = {}
    if may_manage:
        req = parse_page_request({"PageSize": "50", **dict(ctx.request.query_params)})
        page = keys.page(rt, sid, req)
        rows = list(page.rows)
        links = _page_links("/console/keys", req, page, {})
    return ctx.render(
        "keys.html",
        status=400 if error else (201 if created else 200),
        nav="keys",
        keys=rows,
        links=links,
        created=created,
        error=error,
        friendly_name=name if error else "",
        may_manage=may_manage,
    )


def key_revoke(ctx: Ctx) -> Response:
    rt, sid = ctx.rt, ctx.account_sid
    key = keys.get(rt, sid, _sid(ctx, "key_sid", sids.KEY))
    if ctx.request.method == "POST":
        keys.delete(rt, sid, key.sid, actor=ctx.who.actor)
        return _redirect("/console/keys?done=key-revoked")
    return ctx.render(
        "confirm_key_revoke.html", nav="keys", key=key, is_current=key.sid == ctx.who.credential_sid
    )
