"""Every API route of ``create_app`` declares what it needs, and the wrapper checks
exactly that, before the handler runs. No server, no database: the app is built
on a runtime whose database refuses to be touched, and the authenticator is
replaced by a recorder where a test needs to see what was asked of it.

The table below is the API's permission table, read from the route table (as
tests/console/test_permission_matrix.py reads the console's): a route added
without a declaration, or a declaration that drifts from it, fails here.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import create_engine
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Host, Mount, Route

from mediagate import console
from mediagate.accounts import auth
from mediagate.accounts import permissions as perms
from mediagate.api import common
from mediagate.api.common import ACCOUNT_SOURCES, ApiRoute
from mediagate.core.crypto import Keyring
from mediagate.core.errors import Forbidden
from mediagate.core.settings import Settings
from mediagate.edge import hosts
from mediagate.http import probes as ops_routes
from mediagate.http.app import create_app
from mediagate.media import media
from mediagate.runtime.context import Runtime
from tests.support.clients import basic
from tests.support.loops import run_fresh

AC = "AC" + "a" * 32
SUB = "AC" + "b" * 32
MM = "MM" + "c" * 32
ME = "ME" + "d" * 32
SK = "SK" + "e" * 32
PN = "PN" + "f" * 32

V2010 = "/2010-04-01/Accounts/{account_sid}"
R, W = perms.NUMBERS_READ, perms.NUMBERS_WRITE
CONTENT = "edge.decide.content: media.content_location (and its answer from memory)"
CARRIER = "a carrier credential (CR...), checked by the handler; never a tenant's"
DOCS = "the API's description, for anyone"


@dataclass(frozen=True)
class Need:
    account: str | None  # common.AccountFrom, or None for no tenant account
    permission: str | None
    checked_by: str | None = None


def path(account: str, permission: str) -> Need:
    return Need(account, permission)


# (route path, method) -> what it needs. HEAD is GET's wherever GET is routed.
TABLE: dict[tuple[str, str], Need] = {
    (f"{V2010}/Messages.json", "GET"): path("path", perms.MESSAGES_READ),
    (f"{V2010}/Messages.json", "POST"): path("path", perms.MESSAGES_CREATE),
    (f"{V2010}/Messages/{{message_sid}}.json", "GET"): path("path", perms.MESSAGES_READ),
    (f"{V2010}/Messages/{{message_sid}}.json", "DELETE"): path("path", perms.MESSAGES_DELETE),
    (f"{V2010}/Messages/{{message_sid}}/Media.json", "GET"): path("path", perms.MEDIA_READ),
    (f"{V2010}/Messages/{{message_sid}}/Media/{{media_sid}}.json", "GET"): path("path", perms.MEDIA_READ),
    (f"{V2010}/Messages/{{message_sid}}/Media/{{media_sid}}.json", "DELETE"): path(
        "path", perms.MEDIA_DELETE
    ),
    (f"{V2010}/Messages/{{message_sid}}/Media/{{media_sid}}", "GET"): Need("path", perms.MEDIA_READ, CONTENT),
    (f"{V2010}/Keys.json", "GET"): path("path", perms.MANAGE_KEYS),
    (f"{V2010}/Keys.json", "POST"): path("path", perms.MANAGE_KEYS),
    (f"{V2010}/Keys/{{key_sid}}.json", "GET"): path("path", perms.MANAGE_KEYS),
    (f"{V2010}/Keys/{{key_sid}}.json", "POST"): path("path", perms.MANAGE_KEYS),
    (f"{V2010}/Keys/{{key_sid}}.json", "DELETE"): path("path", perms.MANAGE_KEYS),
    (f"{V2010}/IncomingPhoneNumbers.json", "GET"): path("path", R),
    (f"{V2010}/IncomingPhoneNumbers.json", "POST"): path("path", W),
    (f"{V2010}/IncomingPhoneNumbers/{{number_sid}}.json", "GET"): path("path", R),
    (f"{V2010}/IncomingPhoneNumbers/{{number_sid}}.json", "POST"): path("path", W),
    (f"{V2010}/IncomingPhoneNumbers/{{number_sid}}.json", "DELETE"): path("path", W),
    ("/2010-04-01/Accounts.json", "GET"): path("own", perms.MANAGE_ACCOUNTS),
    ("/2010-04-01/Accounts.json", "POST"): path("own", perms.MANAGE_ACCOUNTS),
    ("/2010-04-01/Accounts/{account_sid}.json", "GET"): path("path-any-status", perms.MANAGE_ACCOUNTS),
    ("/2010-04-01/Accounts/{account_sid}.json", "POST"): path("path-any-status", perms.MANAGE_ACCOUNTS),
    ("/v1/Accounts/{account_sid}/MessagingSettings", "GET"): path("path", perms.SETTINGS_READ),
    ("/v1/Accounts/{account_sid}/MessagingSettings", "POST"): path("path", perms.SETTINGS_WRITE),
    ("/v1/Accounts/{account_sid}/MediaDelivery", "GET"): path("path", perms.SETTINGS_READ),
    ("/v1/Accounts/{account_sid}/MediaDelivery", "POST"): path("path", perms.SETTINGS_WRITE),
    ("/v1/Accounts/{account_sid}/MediaRetention", "GET"): path("path", perms.SETTINGS_READ),
    ("/v1/Accounts/{account_sid}/MediaRetention", "POST"): path("path", perms.SETTINGS_WRITE),
    ("/v1/Accounts/{account_sid}/Media/{media_sid}/Revocations", "POST"): path("path", perms.MEDIA_DELETE),
    ("/v1/Accounts/{account_sid}/MediaRevocations", "POST"): path("path", perms.MEDIA_DELETE),
    ("/v1/Accounts/{account_sid}/MediaAccessEvents", "GET"): path("path", perms.MEDIA_READ),
    ("/v1/Accounts/{account_sid}/WebhookDeliveries", "GET"): path("path", perms.MESSAGES_READ),
    ("/v1/AuthTokens/Secondary", "POST"): path("own", perms.MANAGE_ACCOUNTS),
    ("/v1/AuthTokens/Secondary", "DELETE"): path("own", perms.MANAGE_ACCOUNTS),
    ("/v1/AuthTokens/Promote", "POST"): path("own", perms.MANAGE_ACCOUNTS),
    ("/v1/Keys", "GET"): path("parameter", perms.MANAGE_KEYS),
    ("/v1/Keys", "POST"): path("parameter", perms.MANAGE_KEYS),
    # The key's account is reached (or 404) by services.keys.get_reachable, after the check.
    ("/v1/Keys/{key_sid}", "GET"): path("own", perms.MANAGE_KEYS),
    ("/v1/Keys/{key_sid}", "POST"): path("own", perms.MANAGE_KEYS),
    ("/v1/Keys/{key_sid}", "DELETE"): path("own", perms.MANAGE_KEYS),
    ("/v1/Carrier/Inbound", "POST"): Need(None, None, CARRIER),
    ("/openapi.json", "GET"): Need(None, None, DOCS),
    ("/docs", "GET"): Need(None, None, DOCS),
}


class _NoDatabase:
    """A session that fails the test if anything reads the database."""

    def connection(self) -> Any:
        raise AssertionError("the database was touched")

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the database was touched (session.{name})")


@contextmanager
def _no_database() -> Iterator[_NoDatabase]:
    yield _NoDatabase()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Starlette:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("routes"),
        secret_key=secrets.token_hex(32),
        public_url="http://mediagate.test",
        gc_interval=0,
    )
    rt = SimpleNamespace(
        settings=settings,
        keyring=Keyring(secrets.token_bytes(32)),
        # Never connected: create_app only registers an error counter on it.
        engine=create_engine("sqlite://"),
        store=SimpleNamespace(),
        sessions=_no_database,
        tx=_no_database,
    )
    return create_app(cast(Runtime, rt))


def leaves(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    for route in routes:
        if isinstance(route, Host):
            yield from leaves(list(route.routes), prefix)
        elif isinstance(route, Mount) and route.routes:
            yield from leaves(list(route.routes), prefix + route.path)
        else:
            yield prefix + str(getattr(route, "path", "")), route


def api_routes(app: Starlette) -> list[ApiRoute]:
    """The API's routes; anything else ``create_app`` serves is named here with its own model."""
    console_pages = {id(r) for r in console.routes}
    media_hosts = {id(r) for r in (*hosts.secure_routes, *hosts.public_routes)}
    operations = {id(r) for r in ops_routes.routes}  # probes, and /metrics with its own bearer token
    found: list[ApiRoute] = []
    undeclared: list[str] = []
    for full, route in leaves(list(app.routes)):
        if id(route) in console_pages or id(route) in media_hosts or id(route) in operations:
            continue  # the console's table is tests/console/test_permission_matrix.py's
        if full.startswith("/console/"):
            continue  # its static assets (a Mount of files)
        if isinstance(route, Mount) and full == "/docs/assets":
            continue  # the Swagger UI files of the public /docs page
        if isinstance(route, ApiRoute):
            found.append(route)
        else:
            undeclared.append(full)
    assert undeclared == [], "API routes without a declaration (use api.common.route/public/checked_by)"
    return found


def test_the_walk_sees_the_whole_app(app: Starlette) -> None:
    found = api_routes(app)
    # Every route of every api module, none hidden behind a mount the walk skipped.
    assert {r.path for r in found} == {p for p, _ in TABLE}
    assert {r.path for r in ops_routes.routes} == {"/healthz", "/readyz", "/metrics"}


def test_every_api_route_declares_every_method_and_matches_the_table(app: Starlette) -> None:
    declared: dict[tuple[str, str], Need] = {}
    for route in api_routes(app):
        access = route.access
        assert set(access.needs) == set(route.methods or ()), f"{route.path}: a method without a need"
        for method, permission in access.needs.items():
            if method == "HEAD":
                assert permission == access.needs["GET"], f"{route.path}: HEAD is not GET's"
                continue
            declared[(route.path, method)] = Need(access.account, permission, access.checked_by)
    assert declared.keys() - TABLE.keys() == set(), "routes missing from the API's permission table"
    assert TABLE.keys() - declared.keys() == set(), "table entries for routes that no longer exist"
    wrong = {k: (declared[k], TABLE[k]) for k in TABLE if declared[k] != TABLE[k]}
    assert wrong == {}, "declared (left) differs from the permission table (right)"


def test_each_declaration_is_coherent_with_the_permission_module(app: Starlette) -> None:
    for route in api_routes(app):
        access = route.access
        named = {p for p in access.needs.values() if p is not None}
        assert named <= perms.ALL, f"{route.path} names permissions accounts/permissions.py does not know"
        if access.checked_by is None:
            # Checked by the wrapper: a tenant account and a permission for every method.
            assert access.account in ACCOUNT_SOURCES, route.path
            assert None not in access.needs.values(), f"{route.path}: a checked method needs nothing"
        elif access.account is None:
            assert named == set(), f"{route.path}: public, yet it names a permission"
        else:
            # The content URL: what its own check asks must be what the table says.
            assert named == {media.CONTENT_PERMISSION}, route.path
    # The console names the same permissions (its pages are declared with them, and
    # its 403 page and ``_require`` say what is missing in ABILITIES' words): one
    # permission the API knows and the console cannot word would be a KeyError there.
    assert console.web.ABILITIES.keys() == perms.ALL
    # Management stays out of any restricted key's reach: the routes that need it
    # name permissions that are never grantable.
    for (route_path, _), need in TABLE.items():
        if "/Keys" in route_path or "/Accounts.json" in route_path or "AuthTokens" in route_path:
            assert need.permission not in perms.GRANTABLE, route_path


# --------------------------------------------------------------------------- the wrapper


def concrete(template: str) -> str:
    return (
        template.replace("{account_sid}", AC)
        .replace("{message_sid}", MM)
        .replace("{media_sid}", ME)
        .replace("{key_sid}", SK)
        .replace("{number_sid}", PN)
    )


def send(app: Starlette, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mediagate.test") as client:
            return await client.request(method, url, **kwargs)

    return run_fresh(go)


CHECKED = [k for k, need in TABLE.items() if need.checked_by is None]


def _request_for(route_path: str, method: str) -> tuple[str, dict[str, Any]]:
    url = concrete(route_path)
    if TABLE[(route_path, method)].account == "parameter":
        if method == "POST":
            return url, {"data": {"AccountSid": SUB}}
        return url + f"?AccountSid={SUB}", {}
    return url, {}


@pytest.mark.parametrize(("route_path", "method"), CHECKED)
def test_without_a_credential_the_handler_never_runs(app: Starlette, route_path: str, method: str) -> None:
    url, extra = _request_for(route_path, method)
    r = send(app, method, url, **extra)
    # Refused before any database read (the session would fail the test) or handler.
    assert r.status_code == 401, r.text
    assert r.json()["code"] == 20003
    assert r.headers["www-authenticate"] == 'Basic realm="Twilio API"'


@dataclass
class Asked:
    account_sid: str | None
    permission: str | None
    any_status: bool
    test_ok: bool = False


# The only requests that take Twilio's test credentials (tests/services/test_test_credentials.py
# walks every other one for its 403 / 20008).
TEST_CREDENTIALS = {(f"{V2010}/Messages.json", "POST"), (f"{V2010}/IncomingPhoneNumbers.json", "POST")}


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[Asked]:
    """auth.require replaced by a recorder that refuses with the 403 (so no handler runs)."""
    calls: list[Asked] = []

    def record(
        session: object,
        keyring: object,
        header: str | None,
        account_sid: str | None,
        permission: str | None = None,
        *,
        any_status: bool = False,
        test_ok: bool = False,
        memory: object = None,
    ) -> auth.Principal:
        assert header == basic(SK, "s3cret")
        calls.append(Asked(account_sid, permission, any_status, test_ok))
        raise Forbidden("Authorization Failed", code=70051)

    monkeypatch.setattr(auth, "require", record)
    return calls


@pytest.mark.parametrize(("route_path", "method"), CHECKED)
def test_the_wrapper_asks_the_authenticator_for_the_declared_need(
    app: Starlette, asked: list[Asked], route_path: str, method: str
) -> None:
    url, extra = _request_for(route_path, method)
    r = send(app, method, url, headers={"Authorization": basic(SK, "s3cret")}, **extra)
    assert r.status_code == 403 and r.json()["code"] == 70051, r.text
    need = TABLE[(route_path, method)]
    expected_account = {"path": AC, "path-any-status": AC, "own": None, "parameter": SUB}[str(need.account)]
    test_ok = (route_path, method) in TEST_CREDENTIALS
    assert asked == [Asked(expected_account, need.permission, need.account != "path", test_ok)]


@pytest.mark.parametrize("route_path", [p for p, m in CHECKED if m == "GET"])
def test_a_head_is_checked_as_its_get(app: Starlette, asked: list[Asked], route_path: str) -> None:
    url, extra = _request_for(route_path, "GET")
    r = send(app, "HEAD", url, headers={"Authorization": basic(SK, "s3cret")}, **extra)
    assert r.status_code == 403
    assert [a.permission for a in asked] == [TABLE[(route_path, "GET")].permission]


SID_ROUTES = [(p, m) for p, m in CHECKED if "{" in p]


@pytest.mark.parametrize(("route_path", "method"), SID_ROUTES)
def test_a_malformed_path_sid_is_a_400_before_the_credential(
    app: Starlette, asked: list[Asked], route_path: str, method: str
) -> None:
    for name, label in common._SID_NAMES.items():
        if "{" + name + "}" not in route_path:
            continue
        url = concrete(route_path.replace("{" + name + "}", "XX" + "0" * 32))
        if TABLE[(route_path, method)].account == "parameter":
            url += f"?AccountSid={SUB}"
        r = send(app, method, url, headers={"Authorization": basic(SK, "s3cret")})
        assert r.status_code == 400, (url, r.text)
        assert r.json()["code"] == 20001
        assert r.json()["message"].startswith(f"Invalid {label[0]} 'XX"), r.json()
    assert asked == []  # the credential was never looked at


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("value", [None, "", "AC123", "ac" + "a" * 32, "SK" + "a" * 32])
def test_the_account_parameter_is_required_before_the_credential(
    app: Starlette, asked: list[Asked], method: str, value: str | None
) -> None:
    fields = {} if value is None else {"AccountSid": value}
    extra: dict[str, Any] = {"data": fields} if method == "POST" else {"params": fields}
    r = send(app, method, "/v1/Keys", headers={"Authorization": basic(SK, "s3cret")}, **extra)
    assert r.status_code == 400 and r.json()["code"] == 20001
    assert r.json()["message"] == "AccountSid is required: AC followed by 32 hex digits."
    assert asked == []


def test_two_authorization_headers_are_refused_before_the_credential(
    app: Starlette, asked: list[Asked]
) -> None:
    headers = [("Authorization", basic(SK, "s3cret")), ("Authorization", basic(AC, "other"))]
    r = send(app, "GET", concrete(f"{V2010}/Messages.json"), headers=headers)
    assert r.status_code == 400 and r.json()["code"] == 20001
    assert asked == []


def test_a_route_must_declare_a_method_and_known_path_sids() -> None:
    async def handler(request: Any, who: auth.Principal) -> Any:
        raise AssertionError("never called")

    with pytest.raises(TypeError, match="declares no method"):
        common.route("/v1/Accounts/{account_sid}/X", handler, account="path")
    with pytest.raises(ValueError, match="no known sid type"):
        common.route("/v1/Accounts/{account_sid}/X/{thing}", handler, account="path", get=perms.MEDIA_READ)
    with pytest.raises(TypeError, match="without"):
        common.route("/v1/X", handler, account="path", get=perms.MEDIA_READ)


def test_public_routes_are_not_routes_of_the_wrapper(app: Starlette) -> None:
    for route in api_routes(app):
        if route.access.account is None:
            assert route.access.checked_by, f"{route.path} is public without saying why"
    # And a plain starlette Route never passes as declared.
    assert not isinstance(Route("/x", lambda r: None), ApiRoute)
