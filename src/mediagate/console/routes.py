"""The console's URL map (mounted under ``/console`` by ``mediagate.app``)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mediagate.console.media_views import (
    key_revoke,
    keys_list,
    media_delete,
    media_download,
    message_delete,
    message_detail,
    messages_list,
)
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
    Ctx,
    _error_page,
    _page,
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
    Route("/media/secure-legacy", _page(secure_legacy), methods=["GET", "POST"]),
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
