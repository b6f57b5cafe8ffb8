"""The console's "Check a credential" page (accounts/credential_check.py).

For the signed-in owner only (the route needs MANAGE_ACCOUNTS, like revealing
the auth token), behind the console's CSRF check, and rate limited per
signed-in account with the ``limits`` library (Redis when configured, like
the sign-in limiter): a stolen session cannot turn it into a guessing oracle.
The pasted secret is never logged, stored or sent back in the page.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.responses import Response

from mediagate.accounts import accounts, credential_check
from mediagate.console.web import Ctx
from mediagate.core import redis_clients
from mediagate.db.failures import RETRY_AFTER

log = logging.getLogger("mediagate")

PER_ACCOUNT: RateLimitItem = RateLimitItemPerMinute(20, 15)  # checks per signed-in account
_LOCK = threading.Lock()


class CheckLimiter:
    def __init__(
        self, redis_url: str, key_prefix: str, redis_timeout: float = redis_clients.DEFAULT_TIMEOUT
    ) -> None:
        storage: Storage
        if redis_url:
            # An outage or timeout raises StorageError: the page refuses to check (fail closed).
            storage = redis_clients.rate_limit_storage(redis_url, redis_timeout, f"{key_prefix}:credcheck")
        else:
            storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(storage)

    def take(self, account_sid: str) -> int:
        """0 when this check may run (and counts it), else seconds to wait."""
        if self._limiter.hit(PER_ACCOUNT, account_sid):
            return 0
        stats = self._limiter.get_window_stats(PER_ACCOUNT, account_sid)
        return max(int(stats.reset_time - time.time()) + 1, 1)


def _limiter(request: Request, ctx: Ctx) -> CheckLimiter:
    found: CheckLimiter | None = getattr(request.app.state, "credential_check_limiter", None)
    if found is None:
        with _LOCK:
            found = getattr(request.app.state, "credential_check_limiter", None)
            if found is None:
                s = ctx.rt.settings
                found = CheckLimiter(s.redis_url, s.redis_key_prefix, s.redis_timeout)
                request.app.state.credential_check_limiter = found
    return found


def credential_check_page(ctx: Ctx) -> Response:
    owned = accounts.owned_sids(ctx.rt, ctx.account_sid)
    values: dict[str, Any] = {
        "nav": "credentials",
        "owned": owned,
        "sid": "",
        "for_account": ctx.account_sid,
    }
    if ctx.request.method != "POST":
        return ctx.render("credential_check.html", **values)
    sid = ctx.field("sid").strip()[:64]
    for_account = ctx.field("for_account") if ctx.field("for_account") in owned else ctx.account_sid
    values.update(sid=sid, for_account=for_account)
    try:
        wait = _limiter(ctx.request, ctx).take(ctx.account_sid)
    except StorageError:
        log.warning("credential check refused: the rate-limit storage (Redis) is unreachable")
        unavailable = ctx.render(
            "credential_check.html", 503, error="Checking is unavailable right now.", **values
        )
        unavailable.headers["Retry-After"] = str(RETRY_AFTER)
        return unavailable
    if wait:
        response = ctx.render(
            "credential_check.html",
            429,
            error=f"Too many checks. Try again in {max(1, -(-wait // 60))} minutes.",
            **values,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    verdict = credential_check.check(ctx.rt, ctx.account_sid, sid, ctx.field("secret"), for_account)
    return ctx.render("credential_check.html", verdict=verdict, **values)
