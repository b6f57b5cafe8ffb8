"""Every console route x every credential kind, with the app in process on SQLite and
PostgreSQL (the table and the oracle: tests/support/console_matrix.py). The real server
keeps a sample (tests/console/test_permission_matrix.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from mediagate.accounts import keys
from mediagate.accounts import permissions as perms
from tests.conftest import BACKENDS
from tests.support.console_inprocess import client, signed_in
from tests.support.console_matrix import (
    CASES,
    FRIENDLY,
    KINDS,
    PUBLIC,
    World,
    check_kind,
    console_pages,
    credential,
)
from tests.support.inprocess import InProcessServer, in_process_server


@pytest.fixture(scope="module", params=BACKENDS)
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessServer]:
    with in_process_server(request.param, tmp_path_factory.mktemp(f"console-matrix-{request.param}")) as srv:
        yield srv


def test_every_console_route_has_a_case() -> None:
    declared: set[tuple[str, str]] = set()
    for path, page in console_pages():
        if page.public:
            assert path in PUBLIC, f"{path} is public: sign-in must be required"
            continue
        methods = {m for m in page.needs if m != "HEAD"}
        assert methods, f"{path} declares no method"
        declared |= {(path, m) for m in methods}
    assert declared - CASES.keys() == set(), "console routes without a matrix case"
    assert CASES.keys() - declared == set(), "matrix cases for routes that no longer exist"


@pytest.mark.parametrize("kind", KINDS)
def test_console_allows_exactly_what_the_api_allows(app: InProcessServer, kind: str) -> None:
    acct = app.new_account(FRIENDLY)
    w = World(app, acct, client(app))
    w.user, w.secret = credential(app, acct, kind)
    check_kind(w, kind, signed_in(app, w.user, w.secret))


def test_media_delete_confirmation_leaks_no_signed_url_to_a_numbers_only_key(app: InProcessServer) -> None:
    """The reported finding, step by step: a phone-numbers-read key opens the media delete page."""
    acct = app.new_account("Numbers Only")
    w = World(app, acct, client(app))
    made = keys.create(
        app.runtime,
        acct.sid,
        "numbers",
        actor=acct.sid,
        kind="restricted",
        permissions=[perms.NUMBERS_READ],
    )
    w.user, w.secret = made.key.sid, made.secret
    http = signed_in(app, w.user, w.secret)
    msg, med = w.message()
    r = http.get(
        f"{app.base_url}/console/messages/{msg}/media/{med}/delete", allow_redirects=False, timeout=10
    )
    assert r.status_code == 403
    assert "Signature=" not in r.text and "_media/secure" not in r.text
    r = http.get(f"{app.base_url}/console/messages/{msg}/delete", allow_redirects=False, timeout=10)
    assert r.status_code == 403
    assert "cannot read messages" in r.text
    api = w.api_http.get(
        f"{w.api}/Messages/{msg}/Media/{med}", auth=(w.user, w.secret), allow_redirects=False, timeout=10
    )
    assert api.status_code == 403 and json.loads(api.text)["code"] == 70051
