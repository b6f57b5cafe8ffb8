"""The console's URL map (mounted under ``/console`` by ``mediagate.http.app``)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mediagate.accounts import permissions as perms
from mediagate.console.credential_views import credential_check_page
from mediagate.console.media_views import (
    key_revoke,
    keys_list,
    media_access,
    media_delete,
    media_download,
    message_delete,
    message_detail,
    messages_list,
)
from mediagate.console.retention_views import settings_retention
from mediagate.console.views import (
    dashboard,
    login,
    logout,
    messaging_index,
    root,
    secure_legacy,
    settings_general,
    settings_index,
)
from mediagate.console.web import (
    HERE,
    SIGNED_IN,
    ConsolePage,
    Ctx,
    Handler,
    _error_page,
)


def not_found(ctx: Ctx) -> Response:
    return _error_page(ctx, 404, "Not found", "There is no console page at this address.")


Needs = Sequence[str]


def page(path: str, handler: Handler, *, get: Needs | None = None, post: Needs | None = None) -> Route:
    """A signed-in page and, per method, the permissions it needs (the same
    constants the API checks for the same data; ``SIGNED_IN`` for none)."""
    needs = {m: p for m, p in (("GET", get), ("POST", post)) if p is not None}
    if not needs:
        raise TypeError(f"console page {path} declares no method")
    return Route(path, ConsolePage(handler, needs).endpoint, methods=list(needs))


def public_page(path: str, handler: Handler, methods: list[str]) -> Route:
    return Route(path, ConsolePage(handler, None, public=True).endpoint, methods=methods)


R, D = perms.MESSAGES_READ, perms.MESSAGES_DELETE
MR, MD = perms.MEDIA_READ, perms.MEDIA_DELETE
ALL = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
# The console's permission table: tests/console/test_permission_matrix.py walks it for
# every credential kind, and fails on a route it does not know.
routes: list[BaseRoute] = [
    public_page("/login", login, ["GET", "POST"]),
    page("/", root, get=SIGNED_IN),
    page("/logout", logout, post=SIGNED_IN),
    # Sections of the dashboard (account info, settings, counts, subaccounts) are shown per permission.
    page("/dashboard", dashboard, get=SIGNED_IN),
    page("/dashboard/reveal-token", dashboard, post=[perms.MANAGE_ACCOUNTS]),
    page("/media/secure-legacy", secure_legacy, get=[perms.SETTINGS_WRITE], post=[perms.SETTINGS_WRITE]),
    page("/messaging", messaging_index, get=SIGNED_IN),
    page("/messaging/settings", settings_index, get=SIGNED_IN),
    page(
        "/messaging/settings/general",
        settings_general,
        get=[perms.SETTINGS_READ],
        post=[perms.SETTINGS_READ, perms.SETTINGS_WRITE],
    ),
    page(
        "/messaging/settings/retention",
        settings_retention,
        get=[perms.SETTINGS_READ],
        post=[perms.SETTINGS_READ, perms.SETTINGS_WRITE],
    ),
    page("/messages", messages_list, get=[R]),
    page("/messages/{message_sid}", message_detail, get=[R]),
    # The confirmation shows the message (read), to someone who may delete it.
    page("/messages/{message_sid}/delete", message_delete, get=[R, D], post=[D]),
    page("/messages/{message_sid}/media/{media_sid}/download", media_download, get=[MR]),
    page("/messages/{message_sid}/media/{media_sid}/delete", media_delete, get=[MR, MD], post=[MD]),
    # The access audit of one media (read) and revoking its signed URLs (the API asks media delete).
    page("/messages/{message_sid}/media/{media_sid}/access", media_access, get=[MR], post=[MD]),
    page("/keys", keys_list, get=[perms.MANAGE_KEYS], post=[perms.MANAGE_KEYS]),
    page("/keys/{key_sid}/revoke", key_revoke, get=[perms.MANAGE_KEYS], post=[perms.MANAGE_KEYS]),
    # The signed-in owner's diagnosis of a refused credential (accounts/credential_check.py).
    page(
        "/credentials/check",
        credential_check_page,
        get=[perms.MANAGE_ACCOUNTS],
        post=[perms.MANAGE_ACCOUNTS],
    ),
    Mount("/static", app=StaticFiles(directory=HERE / "static"), name="console-static"),
    public_page("/{rest:path}", not_found, ALL),
]
