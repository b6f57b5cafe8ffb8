"""The console's permission matrix: every console route x every credential kind.

The oracle is the API itself: each console page names the API requests that
touch the same data ("twins"); for every credential the page must be allowed
exactly when every twin is allowed to that same credential. The table is built
against the console's own route table (tests/console/test_permission_matrix.py
``test_every_console_route_has_a_case``). The whole matrix runs in process on
every database (tests/inprocess/test_console_permission_matrix.py); the real
server keeps a sample of it (tests/console/test_permission_matrix.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from starlette.routing import Mount, Route

from mediagate import console
from mediagate.accounts import accounts, keys
from mediagate.accounts import permissions as perms
from mediagate.console.web import ConsolePage
from mediagate.media import media as media_service
from mediagate.messaging import messages as message_service
from tests.support.console_http import form_token
from tests.support.fileserver import png_bytes
from tests.support.inprocess import InProcessServer
from tests.support.server import Account, RunningServer

Server = RunningServer | InProcessServer


TO, FROM = "+15551230001", "+15557650001"
FRIENDLY = "Matrix Account Friendly Name"


@dataclass
class World:
    """One account with data to look at (and fresh data to delete)."""

    server: Server
    acct: Account
    # Cookie-less: the API twins are asked with the credential alone, never the console's session.
    api_http: requests.Session
    user: str = ""
    secret: str = ""

    def message(self) -> tuple[str, str]:
        rt = self.server.runtime
        new = message_service.NewMessage(to=TO, from_=FROM, body="matrix body", media_urls=[])
        msg = message_service.create(rt, self.acct.sid, new, actor="test")
        row = media_service.add(rt, self.acct.sid, msg.sid, "image/png", [png_bytes(800)], filename="m.png")
        return msg.sid, row.sid

    def key(self) -> str:
        return keys.create(self.server.runtime, self.acct.sid, "victim", actor="test").key.sid

    @property
    def api(self) -> str:
        return f"{self.server.base_url}/2010-04-01/Accounts/{self.acct.sid}"


@dataclass(frozen=True)
class Twin:
    """An API request for the same data as a console page: (method, url, form)."""

    build: Callable[[World], tuple[str, str, dict[str, str] | None]]

    def allowed(self, w: World) -> bool:
        method, url, data = self.build(w)
        r = w.api_http.request(
            method, url, data=data, auth=(w.user, w.secret), allow_redirects=False, timeout=10
        )
        assert r.status_code not in (400, 404, 500), (url, r.status_code, r.text)
        return r.status_code not in (401, 403)


@dataclass(frozen=True)
class Case:
    """How to call one console route+method, and what counts as success."""

    url: Callable[[World], str]
    twins: list[Twin] = field(default_factory=list)
    form: Callable[[World], dict[str, str]] = lambda w: {}
    ok: tuple[int, ...] = (200,)


def _msg_get(w: World) -> tuple[str, str, None]:
    return "GET", f"{w.api}/Messages/{w.message()[0]}.json", None


def _msg_delete(w: World) -> tuple[str, str, None]:
    return "DELETE", f"{w.api}/Messages/{w.message()[0]}.json", None


def _media(w: World, suffix: str) -> str:
    msg, med = w.message()
    return f"{w.api}/Messages/{msg}/Media/{med}{suffix}"


SETTINGS = Twin(lambda w: ("GET", f"{w.server.base_url}/v1/Accounts/{w.acct.sid}/MessagingSettings", None))
SETTINGS_WRITE = Twin(
    lambda w: (
        "POST",
        f"{w.server.base_url}/v1/Accounts/{w.acct.sid}/MessagingSettings",
        {"EnforceMediaHttpAuth": "true"},  # the current value: allowed changes nothing
    )
)
RETENTION = Twin(lambda w: ("GET", f"{w.server.base_url}/v1/Accounts/{w.acct.sid}/MediaRetention", None))
RETENTION_WRITE = Twin(
    lambda w: (
        "POST",
        f"{w.server.base_url}/v1/Accounts/{w.acct.sid}/MediaRetention",
        {"DaysAfterLastAccess": "3650"},  # what the console case saves: allowed changes nothing more
    )
)
MESSAGES = Twin(lambda w: ("GET", f"{w.api}/Messages.json", None))
MESSAGE = Twin(_msg_get)
MESSAGE_DELETE = Twin(_msg_delete)
MEDIA_META = Twin(lambda w: ("GET", _media(w, ".json"), None))
MEDIA_CONTENT = Twin(lambda w: ("GET", _media(w, ""), None))
MEDIA_DELETE = Twin(lambda w: ("DELETE", _media(w, ".json"), None))
MEDIA_LIST = Twin(lambda w: ("GET", f"{w.api}/Messages/{w.message()[0]}/Media.json", None))
MEDIA_EVENTS = Twin(
    lambda w: ("GET", f"{w.server.base_url}/v1/Accounts/{w.acct.sid}/MediaAccessEvents", None)
)
MEDIA_REVOKE = Twin(
    lambda w: (
        "POST",
        f"{w.server.base_url}/v1/Accounts/{w.acct.sid}/Media/{w.message()[1]}/Revocations",
        None,
    )
)
KEYS = Twin(lambda w: ("GET", f"{w.api}/Keys.json", None))
KEY = Twin(lambda w: ("GET", f"{w.api}/Keys/{w.key()}.json", None))
KEY_DELETE = Twin(lambda w: ("DELETE", f"{w.api}/Keys/{w.key()}.json", None))
KEY_CREATE = Twin(lambda w: ("POST", f"{w.api}/Keys.json", {"FriendlyName": "twin"}))
ACCOUNT = Twin(lambda w: ("GET", f"{w.server.base_url}/2010-04-01/Accounts/{w.acct.sid}.json", None))
ACCOUNTS = Twin(lambda w: ("GET", f"{w.server.base_url}/2010-04-01/Accounts.json", None))


def _console_media(w: World, action: str) -> str:
    msg, med = w.message()
    return f"/console/messages/{msg}/media/{med}/{action}"


# (route path as declared, method) -> case. ``/logout`` is exercised last, by each test.
CASES: dict[tuple[str, str], Case] = {
    ("/", "GET"): Case(lambda w: "/console/", ok=(303,)),
    ("/logout", "POST"): Case(lambda w: "/console/logout", ok=(303,)),
    ("/dashboard", "GET"): Case(lambda w: "/console/dashboard"),
    ("/dashboard/reveal-token", "POST"): Case(lambda w: "/console/dashboard/reveal-token", [ACCOUNT]),
    # The confirmation page (GET) asks for what the action (POST) needs.
    ("/media/secure-legacy", "GET"): Case(lambda w: "/console/media/secure-legacy", [SETTINGS_WRITE]),
    ("/media/secure-legacy", "POST"): Case(
        lambda w: "/console/media/secure-legacy", [SETTINGS_WRITE], ok=(303,)
    ),
    ("/messaging", "GET"): Case(lambda w: "/console/messaging"),
    ("/messaging/settings", "GET"): Case(lambda w: "/console/messaging/settings"),
    ("/messaging/settings/general", "GET"): Case(lambda w: "/console/messaging/settings/general", [SETTINGS]),
    ("/messaging/settings/general", "POST"): Case(
        lambda w: "/console/messaging/settings/general",
        [SETTINGS, SETTINGS_WRITE],
        form=lambda w: {"enforce_media_http_auth": "enable"},
        ok=(303,),
    ),
    ("/messaging/settings/retention", "GET"): Case(
        lambda w: "/console/messaging/settings/retention", [RETENTION]
    ),
    ("/messaging/settings/retention", "POST"): Case(
        lambda w: "/console/messaging/settings/retention",
        [RETENTION, RETENTION_WRITE],
        form=lambda w: {"days_after_creation": "", "days_after_last_access": "3650"},
        ok=(303,),
    ),
    ("/messages", "GET"): Case(lambda w: "/console/messages", [MESSAGES]),
    ("/messages/{message_sid}", "GET"): Case(lambda w: f"/console/messages/{w.message()[0]}", [MESSAGE]),
    ("/messages/{message_sid}/delete", "GET"): Case(
        lambda w: f"/console/messages/{w.message()[0]}/delete", [MESSAGE, MESSAGE_DELETE]
    ),
    ("/messages/{message_sid}/delete", "POST"): Case(
        lambda w: f"/console/messages/{w.message()[0]}/delete", [MESSAGE_DELETE], ok=(303,)
    ),
    ("/messages/{message_sid}/media/{media_sid}/download", "GET"): Case(
        lambda w: _console_media(w, "download"), [MEDIA_CONTENT], ok=(303,)
    ),
    ("/messages/{message_sid}/media/{media_sid}/delete", "GET"): Case(
        lambda w: _console_media(w, "delete"), [MEDIA_META, MEDIA_DELETE]
    ),
    ("/messages/{message_sid}/media/{media_sid}/delete", "POST"): Case(
        lambda w: _console_media(w, "delete"), [MEDIA_DELETE], ok=(303,)
    ),
    # "Who fetched this": the media (read) and its access events; revoking asks what the API asks.
    ("/messages/{message_sid}/media/{media_sid}/access", "GET"): Case(
        lambda w: _console_media(w, "access"), [MEDIA_META, MEDIA_EVENTS]
    ),
    ("/messages/{message_sid}/media/{media_sid}/access", "POST"): Case(
        lambda w: _console_media(w, "access"), [MEDIA_REVOKE], ok=(303,)
    ),
    ("/keys", "GET"): Case(lambda w: "/console/keys", [KEYS]),
    ("/keys", "POST"): Case(
        lambda w: "/console/keys", [KEY_CREATE], form=lambda w: {"friendly_name": "c"}, ok=(201,)
    ),
    ("/credentials/check", "GET"): Case(lambda w: "/console/credentials/check", [ACCOUNT]),
    ("/credentials/check", "POST"): Case(
        lambda w: "/console/credentials/check",
        [ACCOUNT],
        form=lambda w: {"sid": w.acct.sid, "secret": "0" * 32},
    ),
    ("/keys/{key_sid}/revoke", "GET"): Case(lambda w: f"/console/keys/{w.key()}/revoke", [KEY]),
    ("/keys/{key_sid}/revoke", "POST"): Case(
        lambda w: f"/console/keys/{w.key()}/revoke", [KEY_DELETE], ok=(303,)
    ),
}
PUBLIC = {"/login", "/{rest:path}"}


def console_pages() -> list[tuple[str, ConsolePage]]:
    found = []
    for route in console.routes:
        if isinstance(route, Mount):
            assert route.path == "/static", f"unexpected mount {route.path}"
            continue
        assert isinstance(route, Route), f"{route!r} is not a console page"
        page = getattr(route.endpoint, "__self__", None)
        assert isinstance(page, ConsolePage), f"{route.path} is not built by page(): no declared permissions"
        found.append((route.path, page))
    return found


# ------------------------------------------------------------------ credential kinds

KINDS = [
    "auth_token",
    "secondary_token",
    "main_key",
    "standard_key",
    "restricted_none",
    *(f"restricted:{p}" for p in sorted(perms.GRANTABLE)),
]


def credential(server: Server, acct: Account, kind: str) -> tuple[str, str]:
    rt = server.runtime
    if kind == "auth_token":
        return acct.sid, acct.token
    if kind == "secondary_token":
        return acct.sid, accounts.create_secondary_token(rt, acct.sid, actor=acct.sid).token
    if kind in ("main_key", "standard_key"):
        made = keys.create(rt, acct.sid, kind, actor=acct.sid, kind=kind.removesuffix("_key"))
        return made.key.sid, made.secret
    allow = [] if kind == "restricted_none" else [kind.split(":", 1)[1]]
    made = keys.create(rt, acct.sid, "restricted", actor=acct.sid, kind="restricted", permissions=allow)
    return made.key.sid, made.secret


def console_call(http: requests.Session, w: World, case: Case, method: str) -> requests.Response:
    url = w.server.base_url + case.url(w)
    if method == "GET":
        return http.get(url, allow_redirects=False, timeout=10)
    data = {"csrf_token": form_token(http, w.server.base_url), **case.form(w)}
    return http.post(url, data=data, allow_redirects=False, timeout=10)


def allows(kind: str, permission: str) -> bool:
    """What each credential kind may do, as the API documents it (tests/e2e/test_restricted_keys.py)."""
    if kind in ("auth_token", "secondary_token", "main_key"):
        return True
    if kind == "standard_key":
        return permission not in (perms.MANAGE_KEYS, perms.MANAGE_ACCOUNTS)
    return kind.startswith("restricted:") and kind.split(":", 1)[1] == permission


def check_kind(w: World, kind: str, http: requests.Session) -> None:
    """Every console route with one credential kind (``http``: a console session signed in
    with ``w.user``/``w.secret``): allowed exactly when the API allows every twin, refused
    with the console's 403 page otherwise, no signed media URL without media read; the
    dashboard's optional parts follow the API; signing out is open to every credential."""
    base = w.server.base_url
    may_read_media = MEDIA_LIST.allowed(w)

    pages = dict(console_pages())
    checked = 0
    for (path, method), case in CASES.items():
        if path == "/logout":
            continue
        expected = all(t.allowed(w) for t in case.twins)
        r = console_call(http, w, case, method)
        where = f"{kind}: {method} {path}"
        if expected:
            assert r.status_code in case.ok, f"{where} refused ({r.status_code}): {r.text[:300]}"
            assert "/console/login" not in r.headers.get("location", ""), where
        else:
            assert r.status_code == 403, f"{where} should be refused, got {r.status_code}"
            assert "Not allowed" in r.text and "cannot" in r.text, where
        # The page's declaration says the same as the API (the table is the model).
        declared = pages[path].needs[method]
        assert expected == all(allows(kind, p) for p in declared), (
            f"{where}: declaration differs from the API"
        )
        if r.status_code == 200 and not may_read_media:
            assert "Signature=" not in r.text, f"{where} embeds a signed media URL without media read"
        if method == "GET" and r.status_code == 303 and not may_read_media:
            assert "Signature=" not in r.headers["location"], where
        checked += 1
    assert checked == len(CASES) - 1

    # Optional parts of the dashboard follow the API too.
    dash = http.get(base + "/console/dashboard", timeout=10).text
    assert ('id="count-auth-required"' in dash) == may_read_media, kind
    assert ("Enforce HTTP Auth on Media URLs is" in dash) == SETTINGS.allowed(w), kind
    assert ('id="sub-title"' in dash) == ACCOUNTS.allowed(w), kind
    assert (FRIENDLY in dash) == ACCOUNT.allowed(w), kind
    # With media read the message list really shows signed thumbnails (so the check above bites).
    listing = http.get(base + "/console/messages", timeout=10)
    if listing.status_code == 200:
        assert ("Signature=" in listing.text) == may_read_media, kind

    # Signing out is open to every signed-in credential.
    r = console_call(http, w, CASES[("/logout", "POST")], "POST")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login"), kind
