"""The console's request machinery: every page is a ``ConsolePage``.

``ConsolePage.endpoint`` parses the form (size-limited, like the API), refuses cross-site
POSTs, loads and re-checks the session, checks the CSRF token, runs the
handler on the console's own threads (handlers call services, which block) and adds the
security headers. Handlers never touch SQL or storage themselves.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import anyio
import anyio.to_thread
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mediagate.accounts import accounts, auth, console_sessions
from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.console.ratelimit import LoginLimiter
from mediagate.console.security import (
    COOKIE,
    COOKIE_PATH,
    CookieSigner,
    SessionData,
    session_state,
    touched,
)
from mediagate.core.errors import ApiError, BadRequest, Forbidden, NotFound, Unauthorized
from mediagate.core.timefmt import aware
from mediagate.db.records import AccountRecord
from mediagate.http.common import form as parse_form
from mediagate.http.common import query_dict, runtime
from mediagate.runtime.context import Runtime

HERE = Path(__file__).parent
THUMBNAIL_TTL = 300  # seconds; thumbnails and downloads get short-lived signed URLs
MESSAGES_PER_PAGE = 20
# Threads the console's pages may hold at once, per event loop. Console pages ran
# on Starlette's default limiter (40 threads), shared with every API route: with
# Redis frozen, 45 sign-ins in flight held all 40 and an authenticated API GET got
# no answer. Redis calls are now bounded (MEDIAGATE_REDIS_TIMEOUT), and on top of
# that the console waits for its own threads, so a flood of slow pages (a stalled
# dependency, or someone hammering the sign-in form) queues here and API routes
# keep theirs. The console is low-traffic: a handful of people at a time.
CONSOLE_THREADS = 10
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


def duration(seconds: int) -> str:
    """A whole number of seconds in the largest unit that divides it exactly:
    "4 hours", "90 minutes", "3 seconds" (never "0.000833333 hours")."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


_templates.filters["when"] = _when
_templates.filters["filesize"] = _size
_templates.filters["duration"] = duration

# Notices shown after a redirect: the query names one of these, never free text.
NOTICES = {
    "saved": "Settings saved.",
    "key-revoked": "The API key was revoked. Requests signed with it now fail.",
    "media-deleted": "The media was deleted. Its URLs now answer 404.",
    "message-deleted": "The message and its media were deleted.",
    "legacy-secured": "Legacy media now requires HTTP auth; its public URLs answer 404.",
    "legacy-partly-secured": "Part of the legacy media now requires HTTP auth. Secure again to continue.",
    "signed-out": "You have signed out.",
    "expired": "Your session expired. Please sign in again.",
    "revoked": "Your session ended because its credential changed or was revoked. Please sign in again.",
}


class ConsoleState:
    """Per-app state: the cookie signer (key derived from the master secret) and the login limiter."""

    def __init__(self, rt: Runtime) -> None:
        self.signer = CookieSigner(rt.keyring.derived_key("console-session-v1"))
        s = rt.settings
        self.limiter = LoginLimiter(s.redis_url, s.redis_key_prefix, s.redis_timeout)


def _state(request: Request) -> ConsoleState:
    # Built once by the app factory (app.create_app), beside the Runtime.
    st: ConsoleState = request.app.state.console
    return st


@dataclass
class Ctx:
    request: Request
    rt: Runtime
    state: ConsoleState
    form: FormData | None
    session: SessionData | None = None
    principal: Principal | None = None
    account: AccountRecord | None = None
    cookies: list[tuple[str, str | None]] = field(default_factory=list)  # (name, value|None=delete)

    @property
    def account_sid(self) -> str:
        assert self.account is not None
        return self.account.sid

    @property
    def who(self) -> Principal:
        assert self.principal is not None
        return self.principal

    def may(self, permission: str) -> bool:
        """Whether the signed-in credential holds ``permission`` (the API's own check)."""
        return self.principal is not None and self.principal.allows(permission)

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
            may=self.may,
            perms=perms,
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
    """Re-read the session record and the credential: the session lives only as
    long as its server-side record (signing out deletes it) and its credential,
    unchanged. The credential is the authenticator's to identify (as for an API
    request), proved by the session's fingerprint of its stored hash instead of a
    secret; a rotated token, a deleted key or an inactive account ends the session."""
    rt, signer = ctx.rt, ctx.state.signer
    if not console_sessions.is_open(
        rt, nonce=data.nonce, account_sid=data.account_sid, credential_sid=data.credential_sid
    ):
        return None

    def same_version(stored_hash: str) -> bool:
        return hmac.compare_digest(signer.fingerprint(data.credential_sid, stored_hash), data.fingerprint)

    found = auth.identify_with(rt, data.credential_sid, same_version)
    if not isinstance(found, Principal) or found.account_sid != data.account_sid:
        return None
    try:
        ctx.account = accounts.get(rt, data.account_sid)
    except NotFound:  # closed and gone since the line above
        return None
    return found


def _error_page(ctx: Ctx, status: int, title: str, message: str) -> Response:
    return ctx.render("error.html", status=status, title=title, message=message)


# What the console says a credential lacks, per permission (the 403 page).
ABILITIES: dict[str, str] = {
    perms.MESSAGES_READ: "read messages",
    perms.MESSAGES_CREATE: "send messages",
    perms.MESSAGES_UPDATE: "redact messages",
    perms.MESSAGES_DELETE: "delete messages",
    perms.MEDIA_READ: "read media",
    perms.MEDIA_DELETE: "delete media",
    perms.NUMBERS_READ: "read phone numbers",
    perms.NUMBERS_WRITE: "change phone numbers",
    perms.SETTINGS_READ: "read account settings",
    perms.SETTINGS_WRITE: "change account settings",
    perms.MANAGE_KEYS: "manage API keys",
    perms.MANAGE_ACCOUNTS: "manage the account or reveal its auth token",
}

# A page any signed-in credential may see (it shows no account data of its own).
SIGNED_IN: tuple[str, ...] = ()


class ConsolePage:
    """One console page: its handler and, per HTTP method, every permission the
    signed-in credential must hold (all of them) before the handler runs.

    This is the console's whole permission model, declared in the route table
    (``console.routes``) with the constants the API checks (``mediagate.accounts.permissions``
    through ``Principal.allows``), so that a page can never show what the API
    would refuse the same credential. Handlers may still hide optional parts of
    a page with ``ctx.may``; they never decide whether the page itself is allowed.
    """

    def __init__(
        self, handler: Handler, needs: Mapping[str, Sequence[str]] | None, *, public: bool = False
    ) -> None:
        if needs is None and not public:
            raise TypeError(f"console page {handler.__name__} must declare its permissions")
        self.handler = handler
        self.public = public
        self.needs: dict[str, tuple[str, ...]] = {m.upper(): tuple(p) for m, p in (needs or {}).items()}
        unknown = {p for ps in self.needs.values() for p in ps} - ABILITIES.keys()
        if unknown:
            raise ValueError(f"console page {handler.__name__} names unknown permissions {sorted(unknown)}")
        if "GET" in self.needs:
            self.needs.setdefault("HEAD", self.needs["GET"])

    def missing(self, method: str, who: Principal) -> list[str]:
        """The permissions ``who`` lacks for ``method`` (an undeclared method lacks everything)."""
        needed = self.needs.get(method.upper())
        if needed is None:
            return [perms.MANAGE_ACCOUNTS]
        return [p for p in needed if not who.allows(p)]

    async def endpoint(self, request: Request) -> Response:
        rt = runtime(request)
        ctx = Ctx(request, rt, _state(request), None)
        try:
            # The API's gate for text (NUL, lone surrogates) on every query parameter,
            # once for every page: PostgreSQL refused a NUL in a list filter with a 500.
            query_dict(request)
        except BadRequest as exc:
            return _finish(ctx, _error_page(ctx, 400, "Bad request", exc.message))
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
        response = await anyio.to_thread.run_sync(
            functools.partial(_run, ctx, self), limiter=_console_limiter()
        )
        return _finish(ctx, response)


_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _console_limiter() -> anyio.CapacityLimiter:
    # One per event loop (a server has one; in-process tests make several), as http.common.hot does.
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(CONSOLE_THREADS)
    return limiter


def _run(ctx: Ctx, page: ConsolePage) -> Response:
    request = ctx.request
    if not page.public:
        raw = request.cookies.get(COOKIE)
        data = ctx.state.signer.load_session(raw)
        if data is None:
            return _login_redirect(request, None)
        settings = ctx.rt.settings
        if (
            session_state(
                data,
                idle=settings.console_idle_timeout,
                max_age=settings.console_session_max_age,
                now=ctx.rt.clock.time(),
            )
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
        fresh = touched(data, ctx.rt.clock.time())
        if fresh.last_seen != data.last_seen:
            ctx.cookies.append((COOKIE, ctx.state.signer.dump_session(fresh)))
        missing = page.missing(request.method, ctx.principal)
        if missing:
            return _error_page(
                ctx, 403, "Not allowed", f"The credential you signed in with cannot {ABILITIES[missing[0]]}."
            )
    try:
        return page.handler(ctx)
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


def _require(ctx: Ctx, permission: str) -> None:
    """Defence in depth inside a handler (e.g. before signing a media URL); pages
    themselves are allowed or refused by their declaration in the route table."""
    if not ctx.may(permission):
        raise Forbidden(f"The credential you signed in with cannot {ABILITIES[permission]}.")


# --- sign in / out ---------------------------------------------------------------------------
