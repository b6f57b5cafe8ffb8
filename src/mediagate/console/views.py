"""Console pages for the account: sign-in, dashboard and *General SMS Settings*."""

from __future__ import annotations

import logging
import secrets
from contextlib import suppress

from limits.errors import StorageError
from starlette.responses import Response

from mediagate.accounts import accounts, auth, console_sessions, quotas, test_credentials
from mediagate.accounts import permissions as perms
from mediagate.accounts.auth import Principal
from mediagate.console.security import (
    COOKIE,
    PRELOGIN_COOKIE,
    SessionData,
    session_state,
)
from mediagate.console.web import (
    Ctx,
    _current_principal,
    _redirect,
    _safe_next,
)
from mediagate.db.failures import RETRY_AFTER
from mediagate.media import maintenance
from mediagate.runtime.context import Runtime

log = logging.getLogger("mediagate")


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
            and session_state(
                data, idle=s.console_idle_timeout, max_age=s.console_session_max_age, now=ctx.rt.clock.time()
            )
            == "ok"
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
    # The peer, or what a trusted proxy says (mediagate.core.proxies rewrote the scope).
    ip = request.client.host if request.client else "unknown"
    try:
        wait = ctx.state.limiter.retry_after(ip, user)
    except StorageError:
        log.warning("console sign-in refused: the rate-limit storage (Redis) is unreachable")
        unavailable = _login_form(
            ctx, nxt, status=503, error="Sign-in is unavailable right now. Try again shortly.", username=user
        )
        unavailable.headers["Retry-After"] = str(RETRY_AFTER)  # as the API's 503s say
        return unavailable
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
    verified = _verify(ctx.rt, user, secret)
    if verified is None:
        with suppress(StorageError):  # logged above if it persists; the attempt failed anyway
            ctx.state.limiter.failed(ip, user)
        return _login_form(
            ctx,
            nxt,
            status=400,
            error="That Account SID (or API key SID) and secret do not match an active account.",
            username=user,
        )
    with suppress(StorageError):
        ctx.state.limiter.succeeded(ip, user)
    principal, stored = verified
    now = int(ctx.rt.clock.time())
    session = SessionData(
        account_sid=principal.account_sid,
        credential_sid=principal.credential_sid,
        fingerprint=signer.fingerprint(principal.credential_sid, stored),
        nonce=secrets.token_urlsafe(18),
        issued_at=now,
        last_seen=now,
    )
    console_sessions.open_session(
        ctx.rt,
        nonce=session.nonce,
        account_sid=session.account_sid,
        credential_sid=session.credential_sid,
        max_age=ctx.rt.settings.console_session_max_age,
    )
    ctx.cookies.append((COOKIE, signer.dump_session(session)))
    ctx.cookies.append((PRELOGIN_COOKIE, None))
    return _redirect(nxt)


def _verify(rt: Runtime, user: str, secret: str) -> tuple[Principal, str] | None:
    """The authenticator's principal for the pair, with the stored hash the secret
    matched: the session's fingerprint is of that very hash (read again afterwards,
    a token promoted in between would have tied the session to another secret)."""
    if not user or not secret or len(user) > 64 or len(secret) > 256:
        return None
    matched: list[str] = []

    def proves(stored_hash: str) -> bool:
        if rt.keyring.verify_secret(secret, stored_hash):
            matched.append(stored_hash)
            return True
        return False

    found = auth.identify_with(rt, user, proves)
    if not isinstance(found, Principal):
        auth.denied(found)  # counted as the API counts it; the form says no more than the API
        return None
    return found, matched[-1]


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
    # Delete the server-side record: every copy of this cookie stops working,
    # not only the one this browser is asked to forget.
    assert ctx.session is not None
    console_sessions.close_session(ctx.rt, ctx.session.nonce)
    ctx.cookies.append((COOKIE, None))
    return _redirect("/console/login?done=signed-out")


def root(ctx: Ctx) -> Response:
    return _redirect("/console/dashboard")


# --- dashboard -------------------------------------------------------------------------------


def dashboard(ctx: Ctx) -> Response:
    """Each section needs what the API needs for the same data: the account's own
    record and subaccounts ``MANAGE_ACCOUNTS`` (``GET /Accounts``), the setting
    ``SETTINGS_READ``, the media counts ``MEDIA_READ``. Revealing the auth token
    (the master credential) is a POST routed with ``MANAGE_ACCOUNTS``, which only
    auth tokens and main keys hold, as for the API's auth-token rotation."""
    rt, sid = ctx.rt, ctx.account_sid
    account = ctx.account
    assert account is not None
    revealed = revealed_test = None
    if ctx.request.method == "POST":
        revealed = accounts.reveal_auth_token(rt, account)
        revealed_test = test_credentials.reveal(rt, account)
    may_account = ctx.may(perms.MANAGE_ACCOUNTS)
    return ctx.render(
        "dashboard.html",
        nav="dashboard",
        revealed=revealed,
        revealed_test=revealed_test,
        may_reveal=may_account,
        may_account=may_account,
        may_secure=ctx.may(perms.SETTINGS_WRITE),
        counts=accounts.protection_counts(rt, sid) if ctx.may(perms.MEDIA_READ) else None,
        quota=quotas.usage(rt, sid) if may_account else None,
        settings=accounts.messaging_settings(rt, sid) if ctx.may(perms.SETTINGS_READ) else None,
        subaccounts=(
            accounts.subaccounts(rt, sid) if may_account and account.owner_account_sid is None else None
        ),
    )


# Per click, so one request stays short; the operation is resumable (each batch commits), and
# the CLI (`mediagate media secure-legacy`) is there for millions of rows.
SECURE_LEGACY_PER_REQUEST = 5000


def secure_legacy(ctx: Ctx) -> Response:
    """Explicitly require HTTP auth for media created while the setting was off,
    after a confirmation page (GET) like deletes: it cannot be undone here, and
    every old public URL of that media starts answering 404."""
    if ctx.request.method == "GET":
        count = maintenance.legacy_count(ctx.rt, ctx.account_sid)
        return ctx.render("confirm_secure_legacy.html", nav="dashboard", legacy_count=count)
    for step in maintenance.secure_legacy(ctx.rt, ctx.account_sid, actor=ctx.who.actor, batch=500):
        if step.done >= SECURE_LEGACY_PER_REQUEST:
            break
    left = maintenance.legacy_count(ctx.rt, ctx.account_sid)
    return _redirect(f"/console/dashboard?done={'legacy-partly-secured' if left else 'legacy-secured'}")


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
        may_change=ctx.may(perms.SETTINGS_WRITE),
        ttl_hours=rt.settings.signed_url_ttl / 3600,
    )
