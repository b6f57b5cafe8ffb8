"""The web console's pages: server-rendered, usable without JavaScript.

Every page goes through ``_page``: it parses the form (size-limited, like
the API), refuses cross-site POSTs, loads and re-checks the session, checks
the CSRF token, runs the handler in the threadpool (it calls services, which
block) and adds the security headers. Handlers never touch SQL or storage
themselves; they call ``mediagate.services``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mediagate import auth, sids
from mediagate import permissions as perms
from mediagate.api.common import form as parse_form
from mediagate.api.common import runtime
from mediagate.auth import Principal
from mediagate.console.security import (
    COOKIE,
    COOKIE_PATH,
    PRELOGIN_COOKIE,
    CookieSigner,
    LoginLimiter,
    SessionData,
    session_state,
    touched,
)
from mediagate.context import Runtime
from mediagate.db.models import Account, Media
from mediagate.errors import ApiError, BadRequest, Forbidden, NotFound, Unauthorized
from mediagate.paging import PageRequest, envelope, parse_page_request
from mediagate.services import accounts, keys, media, messages
from mediagate.timefmt import aware

HERE = Path(__file__).parent
THUMBNAIL_TTL = 300  # seconds; thumbnails and downloads get short-lived signed URLs
MESSAGES_PER_PAGE = 20
RASTER_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/avif"})

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return aware(value).strftime("%d %b %Y, %H:%M UTC")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} bytes"


_templates.filters["when"] = _when
_templates.filters["filesize"] = _size

# Notices shown after a redirect: the query names one of these, never free text.
NOTICES = {
    "saved": "Settings saved.",
    "key-revoked": "The API key was revoked. Requests signed with it now fail.",
    "media-deleted": "The media was deleted. Its URLs now answer 404.",
    "message-deleted": "The message and its media were deleted.",
    "signed-out": "You have signed out.",
    "expired": "Your session expired. Please sign in again.",
    "revoked": "Your session ended because its credential changed or was revoked. Please sign in again.",
}


class ConsoleState:
    """Per-app state: the cookie signer (key derived from the master secret) and the login limiter."""

    def __init__(self, rt: Runtime) -> None:
        self.signer = CookieSigner(rt.keyring.derived_key("console-session-v1"))
        self.limiter = LoginLimiter()


_STATE_LOCK = threading.Lock()


def _state(request: Request) -> ConsoleState:
    st: ConsoleState | None = getattr(request.app.state, "console", None)
    if st is None:
        with _STATE_LOCK:
            st = getattr(request.app.state, "console", None)
            if st is None:
                st = ConsoleState(runtime(request))
                request.app.state.console = st
    return st


@dataclass
class Ctx:
    request: Request
    rt: Runtime
    state: ConsoleState
    form: FormData | None
    session: SessionData | None = None
    principal: Principal | None = None
    account: Account | None = None
    cookies: list[tuple[str, str | None]] = field(default_factory=list)  # (name, value|None=delete)

    @property
    def account_sid(self) -> str:
        assert self.account is not None
        return self.account.sid

    @property
    def who(self) -> Principal:
        assert self.principal is not None
        return self.principal

    def field(self, name: str) -> str:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else ""

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        csrf = self.state.signer.csrf_token(self.session.nonce) if self.session else ""
        notice = NOTICES.get(self.request.query_params.get("done", ""))
        html = _templates.get_template(template).render(
            csrf_token=csrf,
            account=self.account,
            principal=self.principal,
            path=self.request.url.path,
            request_query=self.request.url.query,
            notice=notice,
            **values,
        )
        return HTMLResponse(html, status_code=status)


Handler = Callable[[Ctx], Response]


def _secure_cookies(request: Request, rt: Runtime) -> bool:
    return request.url.scheme == "https" or rt.settings.public_url.startswith("https://")


def _set_cookie(response: Response, request: Request, rt: Runtime, name: str, value: str | None) -> None:
    if value is None:
        response.delete_cookie(
            name, path=COOKIE_PATH, httponly=True, samesite="lax", secure=_secure_cookies(request, rt)
        )
        return
    response.set_cookie(
        name,
        value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure_cookies(request, rt),
        max_age=rt.settings.console_session_max_age if name == COOKIE else 3600,
    )


def _origins(request: Request, rt: Runtime) -> set[str]:
    public = urlsplit(rt.settings.public_url)
    return {f"{request.url.scheme}://{request.url.netloc}", f"{public.scheme}://{public.netloc}"}


def _cross_site(request: Request, rt: Runtime) -> bool:
    """A POST that a browser says came from another site (Fetch Metadata or Origin)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    return origin is not None and origin not in _origins(request, rt)


def _csp(rt: Runtime) -> str:
    secure = urlsplit(rt.settings.secure_media_url)
    media_origin = f"{secure.scheme}://{secure.netloc}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' {media_origin}; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/console/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/dashboard"


def _login_redirect(request: Request, reason: str | None) -> Response:
    params = {"next": request.url.path + (f"?{request.url.query}" if request.url.query else "")}
    if reason:
        params["done"] = reason
    return RedirectResponse(f"/console/login?{urlencode(params)}", status_code=303)


def _current_principal(ctx: Ctx, data: SessionData) -> Principal | None:
    """Re-read the credential: the session lives only as long as it does, unchanged."""
    rt, signer = ctx.rt, ctx.state.signer
    try:
        account = accounts.get(rt, data.account_sid)
    except NotFound:
        return None
    if account.status != "active":
        return None
    ctx.account = account
    if data.credential_sid == account.sid:
        if signer.fingerprint(account.sid, account.auth_token_hash) == data.fingerprint:
            return Principal(account.sid, account.sid, "auth_token")
        if account.secondary_token_hash and (
            signer.fingerprint(account.sid, account.secondary_token_hash) == data.fingerprint
        ):
            return Principal(account.sid, account.sid, "secondary_auth_token")
        return None
    if not sids.is_sid(data.credential_sid, sids.KEY):
        return None
    try:
        key = keys.get(rt, account.sid, data.credential_sid)
    except NotFound:
        return None
    if signer.fingerprint(key.sid, key.secret_hash) != data.fingerprint:
        return None
    policy = keys.policy_of(key)
    granted = frozenset(policy["allow"]) if policy else frozenset()
    return Principal(account.sid, key.sid, "api_key", key.kind, granted)


def _error_page(ctx: Ctx, status: int, title: str, message: str) -> Response:
    return ctx.render("error.html", status=status, title=title, message=message)


def _page(handler: Handler, *, login_required: bool = True) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        rt = runtime(request)
        ctx = Ctx(request, rt, _state(request), None)
        if request.method == "POST":
            if _cross_site(request, rt):
                response = _error_page(
                    ctx,
                    403,
                    "Request refused",
                    "This form was submitted from another site, so it was not processed.",
                )
                return _finish(ctx, response)
            try:
                ctx.form = await parse_form(request)
            except BadRequest as exc:
                return _finish(ctx, _error_page(ctx, 400, "Bad request", exc.message))
        response = await run_in_threadpool(_run, ctx, handler, login_required)
        return _finish(ctx, response)

    return endpoint


def _run(ctx: Ctx, handler: Handler, login_required: bool) -> Response:
    request = ctx.request
    if login_required:
        raw = request.cookies.get(COOKIE)
        data = ctx.state.signer.load_session(raw)
        if data is None:
            return _login_redirect(request, None)
        settings = ctx.rt.settings
        if (
            session_state(data, idle=settings.console_idle_timeout, max_age=settings.console_session_max_age)
            != "ok"
        ):
            ctx.cookies.append((COOKIE, None))
            return _login_redirect(request, "expired")
        ctx.principal = _current_principal(ctx, data)
        if ctx.principal is None:
            ctx.account = None
            ctx.cookies.append((COOKIE, None))
            return _login_redirect(request, "revoked")
        ctx.session = data
        if request.method == "POST" and not ctx.state.signer.check_csrf(data.nonce, ctx.field("csrf_token")):
            return _error_page(
                ctx,
                403,
                "Form expired",
                "This form's security token is missing or out of date. Go back, reload the page and "
                "try again.",
            )
        fresh = touched(data)
        if fresh.last_seen != data.last_seen:
            ctx.cookies.append((COOKIE, ctx.state.signer.dump_session(fresh)))
    try:
        return handler(ctx)
    except NotFound:
        return _error_page(ctx, 404, "Not found", "There is nothing here. It may have been deleted.")
    except (Forbidden, Unauthorized) as exc:
        return _error_page(ctx, 403, "Not allowed", exc.message)
    except ApiError as exc:
        return _error_page(ctx, exc.status, "Something is wrong with this request", exc.message)


def _finish(ctx: Ctx, response: Response) -> Response:
    for name, value in ctx.cookies:
        _set_cookie(response, ctx.request, ctx.rt, name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["Content-Security-Policy"] = _csp(ctx.rt)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Signed thumbnail URLs and SIDs must not leak to other sites through Referer.
    # ("no-referrer" would also make browsers send ``Origin: null`` on our own
    # form posts, which the cross-site check rightly refuses.)
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def _require(ctx: Ctx, permission: str, what: str) -> None:
    if not ctx.who.allows(permission):
        raise Forbidden(f"The credential you signed in with cannot {what}.")


# --- sign in / out ---------------------------------------------------------------------------


def login(ctx: Ctx) -> Response:
    request = ctx.request
    signer = ctx.state.signer
    nxt = _safe_next(request.query_params.get("next") or ctx.field("next"))
    # Already signed in with a live session: go straight on.
    if request.method == "GET":
        data = signer.load_session(request.cookies.get(COOKIE))
        s = ctx.rt.settings
        if (
            data is not None
            and session_state(data, idle=s.console_idle_timeout, max_age=s.console_session_max_age) == "ok"
            and _current_principal(ctx, data) is not None
        ):
            return _redirect(nxt)
        ctx.account = None
        return _login_form(ctx, nxt)

    # POST: the login CSRF token is tied to a short-lived pre-login cookie.
    pre = signer.loads("prelogin", request.cookies.get(PRELOGIN_COOKIE))
    nonce = str(pre.get("n", "")) if pre else ""
    if not nonce or not signer.check_csrf("login:" + nonce, ctx.field("csrf_token")):
        return _login_form(
            ctx,
            nxt,
            status=403,
            error="The sign-in form expired or cookies are blocked. Please try again.",
        )
    user = ctx.field("username").strip()
    secret = ctx.field("password").strip()
    ip = request.client.host if request.client else "unknown"
    wait = ctx.state.limiter.retry_after(ip, user)
    if wait:
        response = _login_form(
            ctx,
            nxt,
            status=429,
            error=f"Too many failed sign-in attempts. Try again in {max(1, -(-wait // 60))} minutes.",
            username=user,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    principal = _verify(ctx.rt, user, secret)
    if principal is None:
        ctx.state.limiter.failed(ip, user)
        return _login_form(
            ctx,
            nxt,
            status=400,
            error="That Account SID (or API key SID) and secret do not match an active account.",
            username=user,
        )
    ctx.state.limiter.succeeded(user)
    stored = _stored_hash(ctx.rt, principal)
    now = int(time.time())
    session = SessionData(
        account_sid=principal.account_sid,
        credential_sid=principal.credential_sid,
        fingerprint=signer.fingerprint(principal.credential_sid, stored),
        nonce=secrets.token_urlsafe(18),
        issued_at=now,
        last_seen=now,
    )
    ctx.cookies.append((COOKIE, signer.dump_session(session)))
    ctx.cookies.append((PRELOGIN_COOKIE, None))
    return _redirect(nxt)


def _verify(rt: Runtime, user: str, secret: str) -> Principal | None:
    if not user or not secret or len(user) > 64 or len(secret) > 256:
        return None
    with rt.sessions() as session:
        try:
            return auth.verify_credentials(session, rt.keyring, user, secret)
        except Unauthorized:
            return None


def _stored_hash(rt: Runtime, principal: Principal) -> str:
    if principal.kind == "api_key":
        return keys.get(rt, principal.account_sid, principal.credential_sid).secret_hash
    account = accounts.get(rt, principal.account_sid)
    if principal.kind == "secondary_auth_token" and account.secondary_token_hash:
        return account.secondary_token_hash
    return account.auth_token_hash


def _login_form(
    ctx: Ctx, nxt: str, *, status: int = 200, error: str | None = None, username: str = ""
) -> Response:
    signer = ctx.state.signer
    nonce = secrets.token_urlsafe(18)
    ctx.cookies.append((PRELOGIN_COOKIE, signer.dumps("prelogin", {"n": nonce})))
    response = ctx.render(
        "login.html",
        status=status,
        login_csrf=signer.csrf_token("login:" + nonce),
        next=nxt,
        error=error,
        username=username,
    )
    return response


def logout(ctx: Ctx) -> Response:
    ctx.cookies.append((COOKIE, None))
    return _redirect("/console/login?done=signed-out")


def root(ctx: Ctx) -> Response:
    return _redirect("/console/dashboard")


# --- dashboard -------------------------------------------------------------------------------


def _may_reveal(p: Principal) -> bool:
    # The auth token is the master credential: only it (or a main key) may show it.
    return p.kind != "api_key" or p.key_kind == "main"


def dashboard(ctx: Ctx) -> Response:
    rt, sid = ctx.rt, ctx.account_sid
    revealed = None
    if ctx.request.method == "POST":
        if not _may_reveal(ctx.who):
            raise Forbidden("Sign in with the account's auth token to reveal it.")
        revealed = accounts.reveal_auth_token(rt, ctx.account)  # type: ignore[arg-type]
    assert ctx.account is not None
    return ctx.render(
        "dashboard.html",
        nav="dashboard",
        revealed=revealed,
        may_reveal=_may_reveal(ctx.who),
        counts=accounts.protection_counts(rt, sid),
        settings=accounts.messaging_settings(rt, sid),
        subaccounts=accounts.subaccounts(rt, sid) if ctx.account.owner_account_sid is None else [],
    )


# --- messaging -------------------------------------------------------------------------------


def messaging_index(ctx: Ctx) -> Response:
    return ctx.render("messaging.html", nav="messaging")


def settings_index(ctx: Ctx) -> Response:
    return ctx.render("settings_index.html", nav="settings")


def settings_general(ctx: Ctx) -> Response:
    rt, sid = ctx.rt, ctx.account_sid
    error = None
    if ctx.request.method == "POST":
        choice = ctx.field("enforce_media_http_auth")
        if choice not in ("enable", "disable"):
            error = "Choose Enable or Disable."
        else:
            _require(ctx, perms.SETTINGS_WRITE, "change account settings")
            accounts.set_enforcement(rt, sid, choice == "enable", actor=ctx.who.actor, via="console")
            return _redirect("/console/messaging/settings/general?done=saved")
    history = [c for c in accounts.setting_history(rt, sid) if c.setting == accounts.ENFORCE_SETTING]
    return ctx.render(
        "settings_general.html",
        status=400 if error else 200,
        nav="settings",
        settings=accounts.messaging_settings(rt, sid),
        history=history,
        error=error,
        may_change=ctx.who.allows(perms.SETTINGS_WRITE),
        ttl_hours=rt.settings.signed_url_ttl / 3600,
    )


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


def _signed_url(rt: Runtime, account_sid: str, media_sid: str) -> str:
    # Always the secured host, whatever the media's protection: the console
    # never sends a browser to the public host.
    path = media.object_path(account_sid, media_sid)
    return f"{rt.settings.secure_media_url}{path}?{rt.signer.sign(path, ttl=THUMBNAIL_TTL)}"


def _media_view(rt: Runtime, m: Media) -> MediaView:
    thumb = _signed_url(rt, m.account_sid, m.sid) if m.content_type in RASTER_TYPES else None
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
    env = envelope(
        path=path, filters=filters, req=req, page=page, list_key="rows", items=[], current_query=""
    )
    return {
        "next": env["next_page_uri"],
        "previous": env["previous_page_uri"],
        "first": env["first_page_uri"],
    }


def messages_list(ctx: Ctx) -> Response:
    rt, sid = ctx.rt, ctx.account_sid
    _require(ctx, perms.MESSAGES_READ, "read messages")
    query = dict(ctx.request.query_params)
    query.setdefault("PageSize", str(MESSAGES_PER_PAGE))
    req = parse_page_request(query)
    if req.size > 100:
        raise BadRequest("PageSize must be at most 100 here.")
    page = messages.page(rt, sid, {}, req)
    show_media = ctx.who.allows(perms.MEDIA_READ)
    rows = []
    for m in page.rows:
        items = (
            [_media_view(rt, x) for x in media.page(rt, sid, m.sid, {}, PageRequest(10, 0, None)).rows]
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
    _require(ctx, perms.MESSAGES_READ, "read messages")
    msg = messages.get(rt, sid, _sid(ctx, "message_sid", sids.SMS, sids.MMS))
    items = []
    if ctx.who.allows(perms.MEDIA_READ):
        items = [_media_view(rt, x) for x in media.page(rt, sid, msg.sid, {}, PageRequest(100, 0, None)).rows]
    return ctx.render("message.html", nav="messages", message=msg, media=items)


def _sid(ctx: Ctx, name: str, *prefixes: str) -> str:
    value = str(ctx.request.path_params[name])
    if not sids.is_sid(value, *prefixes):
        raise NotFound(ctx.request.url.path)
    return value


def media_download(ctx: Ctx) -> Response:
    rt, sid = ctx.rt, ctx.account_sid
    _require(ctx, perms.MEDIA_READ, "read media")
    m = media.get(rt, sid, _sid(ctx, "message_sid", sids.SMS, sids.MMS), _sid(ctx, "media_sid", sids.MEDIA))
    return _redirect(_signed_url(rt, sid, m.sid))


def media_delete(ctx: Ctx) -> Response:
    rt, sid = ctx.rt, ctx.account_sid
    message_sid = _sid(ctx, "message_sid", sids.SMS, sids.MMS)
    m = media.get(rt, sid, message_sid, _sid(ctx, "media_sid", sids.MEDIA))
    if ctx.request.method == "POST":
        _require(ctx, perms.MEDIA_DELETE, "delete media")
        media.delete(rt, sid, message_sid, m.sid, actor=ctx.who.actor)
        back = _safe_back(ctx.field("back"))
        return _redirect(back + ("&" if "?" in back else "?") + "done=media-deleted")
    return ctx.render(
        "confirm_media_delete.html",
        nav="messages",
        media=_media_view(rt, m),
        back=_safe_back(ctx.request.query_params.get("back")),
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
        _require(ctx, perms.MESSAGES_DELETE, "delete messages")
        messages.delete_message(rt, sid, msg.sid, actor=ctx.who.actor)
        return _redirect("/console/messages?done=message-deleted")
    return ctx.render("confirm_message_delete.html", nav="messages", message=msg)


# --- API keys --------------------------------------------------------------------------------


def keys_list(ctx: Ctx) -> Response:
    rt, sid = ctx.rt, ctx.account_sid
    may_manage = ctx.who.allows(perms.MANAGE_KEYS)
    created = None
    error = None
    name = ""
    if ctx.request.method == "POST":
        _require(ctx, perms.MANAGE_KEYS, "manage API keys")
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
    _require(ctx, perms.MANAGE_KEYS, "manage API keys")
    key = keys.get(rt, sid, _sid(ctx, "key_sid", sids.KEY))
    if ctx.request.method == "POST":
        keys.delete(rt, sid, key.sid, actor=ctx.who.actor)
        return _redirect("/console/keys?done=key-revoked")
    return ctx.render(
        "confirm_key_revoke.html", nav="keys", key=key, is_current=key.sid == ctx.who.credential_sid
    )


def not_found(ctx: Ctx) -> Response:
    return _error_page(ctx, 404, "Not found", "There is no console page at this address.")


ALL = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
routes: list[BaseRoute] = [
    Route("/", _page(root), methods=["GET"]),
    Route("/login", _page(login, login_required=False), methods=["GET", "POST"]),
    Route("/logout", _page(logout), methods=["POST"]),
    Route("/dashboard", _page(dashboard), methods=["GET"]),
    Route("/dashboard/reveal-token", _page(dashboard), methods=["POST"]),
    Route("/messaging", _page(messaging_index), methods=["GET"]),
    Route("/messaging/settings", _page(settings_index), methods=["GET"]),
    Route("/messaging/settings/general", _page(settings_general), methods=["GET", "POST"]),
    Route("/messages", _page(messages_list), methods=["GET"]),
    Route("/messages/{message_sid}", _page(message_detail), methods=["GET"]),
    Route("/messages/{message_sid}/delete", _page(message_delete), methods=["GET", "POST"]),
    Route("/messages/{message_sid}/media/{media_sid}/download", _page(media_download), methods=["GET"]),
    Route("/messages/{message_sid}/media/{media_sid}/delete", _page(media_delete), methods=["GET", "POST"]),
    Route("/keys", _page(keys_list), methods=["GET", "POST"]),
    Route("/keys/{key_sid}/revoke", _page(key_revoke), methods=["GET", "POST"]),
    Mount("/static", app=StaticFiles(directory=HERE / "static"), name="console-static"),
    Route("/{rest:path}", _page(not_found, login_required=False), methods=ALL),
]
