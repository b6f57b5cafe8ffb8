"""``/v1/Accounts/{AC}/MessagingSettings`` and the CLI that shares its setting, with the app in
process (tests/support/api_inprocess.py) on SQLite and PostgreSQL; the CLI through typer's runner.
Moved from tests/e2e/test_settings_api.py with the assertions unchanged: these are the API's rules.
The executable's runs, twilio-python, and a sample of the resource over a real server stay there."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests

from mediagate.accounts import accounts, keys
from mediagate.core.timefmt import aware
from mediagate.db.models import ApiKey
from tests.support.api_inprocess import LOCAL_SHAPES, ApiServer, shape_server
from tests.support.cli import Done, run_cli
from tests.support.clients import assert_twilio_error
from tests.support.server import Account
from tests.support.shapes import shape_id

SETTING = "enforce_media_http_auth"


RunningServer = ApiServer  # the moved tests' annotations


@pytest.fixture(scope="module", params=LOCAL_SHAPES, ids=shape_id)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with shape_server(request, tmp_path_factory) as srv:
        yield srv


def settings_url(server: RunningServer, sid: str) -> str:
    return f"{server.base_url}/v1/Accounts/{sid}/MessagingSettings"


def get_setting(server: RunningServer, sid: str, auth: tuple[str, str]) -> dict[str, Any]:
    r = requests.get(settings_url(server, sid), auth=auth, timeout=10)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def post_setting(server: RunningServer, sid: str, auth: tuple[str, str], value: str) -> requests.Response:
    return requests.post(
        settings_url(server, sid), data={"EnforceMediaHttpAuth": value}, auth=auth, timeout=10
    )


def cli_here(server: RunningServer, *args: str) -> Done:
    """``cli`` in this process (tests/support/cli.py), for what a command does; the
    executable runs in the first step of test_cli_set_is_seen_by_the_api_at_once
    and in test_accounts_create_json_gives_working_credentials."""
    return run_cli({**server.env, "COLUMNS": "250"}, *args)


def history(server: RunningServer, sid: str) -> list[tuple[str, str, str, str]]:
    """Newest first: (old, new, actor, via)."""
    return [(c.old_value, c.new_value, c.actor, c.via) for c in accounts.setting_history(server.runtime, sid)]


def test_body_shape(server: RunningServer) -> None:
    acct = server.new_account("settings-shape")
    body = get_setting(server, acct.sid, (acct.sid, acct.token))
    assert set(body) == {"account_sid", "enforce_media_http_auth", "date_updated", "url"}
    assert body["account_sid"] == acct.sid
    assert body["enforce_media_http_auth"] is True  # new accounts start enforced
    assert body["url"] == settings_url(server, acct.sid)
    # RFC 2822 in GMT, like every Twilio date.
    assert body["date_updated"].endswith(" +0000")
    when = parsedate_to_datetime(body["date_updated"])
    assert when.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=5)
    # The same body from POST, and from a HEAD-less GET with a key.
    key = keys.create(server.runtime, acct.sid, "reader", actor="test")
    assert get_setting(server, acct.sid, (key.key.sid, key.secret)) == body


def test_post_changes_it_and_records_who(server: RunningServer) -> None:
    acct = server.new_account("settings-post")
    auth = (acct.sid, acct.token)
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    r = post_setting(server, acct.sid, auth, "false")
    after = datetime.now(UTC) + timedelta(seconds=1)
    assert r.status_code == 200
    posted = r.json()
    assert posted["enforce_media_http_auth"] is False
    assert set(posted) == {"account_sid", "enforce_media_http_auth", "date_updated", "url"}
    assert before <= parsedate_to_datetime(posted["date_updated"]) <= after
    assert get_setting(server, acct.sid, auth) == posted

    # A standard key may change it; the history names the key.
    key = keys.create(server.runtime, acct.sid, "settings", actor="test")
    r = post_setting(server, acct.sid, (key.key.sid, key.secret), "true")
    assert r.status_code == 200 and r.json()["enforce_media_http_auth"] is True

    changes = accounts.setting_history(server.runtime, acct.sid)
    assert [(c.old_value, c.new_value, c.actor, c.via) for c in changes] == [
        ("false", "true", key.key.sid, "api"),
        ("true", "false", acct.sid, "api"),
        ("", "true", "system", "account-create"),
    ]
    assert all(c.setting == SETTING for c in changes)
    assert before <= aware(changes[1].date_created) <= after
    assert aware(changes[0].date_created) >= aware(changes[1].date_created)
    # date_updated is the time of the last change.
    assert parsedate_to_datetime(get_setting(server, acct.sid, auth)["date_updated"]) == aware(
        changes[0].date_created
    ).replace(microsecond=0)


@pytest.mark.parametrize("value", ["true", "TRUE", " True ", "1", "on", "yes"])
def test_truthy_spellings(server: RunningServer, value: str) -> None:
    acct = server.new_account("settings-true")
    assert post_setting(server, acct.sid, (acct.sid, acct.token), "false").status_code == 200
    r = post_setting(server, acct.sid, (acct.sid, acct.token), value)
    assert r.status_code == 200 and r.json()["enforce_media_http_auth"] is True


def test_posting_the_current_value_records_nothing(server: RunningServer) -> None:
    acct = server.new_account("settings-idempotent")
    auth = (acct.sid, acct.token)
    first = get_setting(server, acct.sid, auth)
    r = post_setting(server, acct.sid, auth, "true")
    assert r.status_code == 200 and r.json() == first
    assert history(server, acct.sid) == [("", "true", "system", "account-create")]


@pytest.mark.parametrize(
    "data",
    [
        {"EnforceMediaHttpAuth": "maybe"},
        {"EnforceMediaHttpAuth": ""},
        {"EnforceMediaHttpAuth": "2"},
        {"EnforceMediaHttpAuth": "truee"},
        {},
        {"enforceMediaHttpAuth": "false"},  # parameter names are case-sensitive, as at Twilio
        {"EnforceMediaHttpAuthX": "false"},
    ],
)
def test_bad_values_are_400_and_change_nothing(server: RunningServer, data: dict[str, str]) -> None:
    acct = server.new_account("settings-bad")
    auth = (acct.sid, acct.token)
    assert post_setting(server, acct.sid, auth, "false").status_code == 200
    state = get_setting(server, acct.sid, auth)
    recorded = history(server, acct.sid)

    r = requests.post(settings_url(server, acct.sid), data=data, auth=auth, timeout=10)
    assert_twilio_error(r, 400, 20001)
    assert "EnforceMediaHttpAuth" in r.json()["message"]

    assert get_setting(server, acct.sid, auth) == state
    assert history(server, acct.sid) == recorded


def test_json_body_is_refused(server: RunningServer) -> None:
    acct = server.new_account("settings-json")
    auth = (acct.sid, acct.token)
    r = requests.post(
        settings_url(server, acct.sid), json={"EnforceMediaHttpAuth": False}, auth=auth, timeout=10
    )
    assert_twilio_error(r, 400, 20001)
    assert get_setting(server, acct.sid, auth)["enforce_media_http_auth"] is True
    assert len(history(server, acct.sid)) == 1


def test_restricted_key_reads_but_cannot_change(server: RunningServer) -> None:
    acct = server.new_account("settings-restricted")
    reader = keys.create(
        server.runtime,
        acct.sid,
        "reader",
        actor="test",
        kind="restricted",
        permissions=["/twilio/messaging/settings/read"],
    )
    auth = (reader.key.sid, reader.secret)
    assert get_setting(server, acct.sid, auth)["enforce_media_http_auth"] is True
    r = post_setting(server, acct.sid, auth, "false")
    assert_twilio_error(r, 403, 70051)
    # A restricted key without the read permission cannot even read it.
    blind = keys.create(
        server.runtime,
        acct.sid,
        "blind",
        actor="test",
        kind="restricted",
        permissions=["/twilio/messaging/messages/read"],
    )
    r = requests.get(settings_url(server, acct.sid), auth=(blind.key.sid, blind.secret), timeout=10)
    assert_twilio_error(r, 403, 70051)
    assert get_setting(server, acct.sid, (acct.sid, acct.token))["enforce_media_http_auth"] is True
    assert len(history(server, acct.sid)) == 1


def test_deleted_key_cannot_change_it(server: RunningServer) -> None:
    acct = server.new_account("settings-deleted-key")
    key = keys.create(server.runtime, acct.sid, "gone", actor="test")
    keys.delete(server.runtime, acct.sid, key.key.sid, actor="test")
    r = post_setting(server, acct.sid, (key.key.sid, key.secret), "false")
    assert r.status_code == 401 and r.json()["code"] == 20003
    assert r.headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'
    with server.runtime.sessions() as session:
        assert session.get(ApiKey, key.key.sid) is None
    assert get_setting(server, acct.sid, (acct.sid, acct.token))["enforce_media_http_auth"] is True


def test_unknown_account_is_401(server: RunningServer) -> None:
    acct = server.new_account("settings-unknown")
    unknown = "AC" + "f" * 32
    r = requests.get(settings_url(server, unknown), auth=(acct.sid, acct.token), timeout=10)
    assert r.status_code == 401 and r.json()["code"] == 20003
    bad = requests.get(
        f"{server.base_url}/v1/Accounts/not-a-sid/MessagingSettings", auth=(acct.sid, acct.token), timeout=10
    )
    assert_twilio_error(bad, 400, 20001)


def test_cli_rejects_bad_account_sids(server: RunningServer) -> None:
    done = cli_here(server, "settings", "set", "not-a-sid", "--no-enforce-media-http-auth")
    assert done.returncode != 0
    assert "not an Account SID" in " ".join(done.stderr.split())
    missing = cli_here(server, "settings", "get", "AC" + "e" * 32)
    assert missing.returncode != 0
    # A missing flag is a usage error, not a silent default.
    acct = server.new_account("settings-cli-usage")
    usage = cli_here(server, "settings", "set", acct.sid)
    assert usage.returncode != 0
    assert len(history(server, acct.sid)) == 1


def test_settings_are_per_account(server: RunningServer) -> None:
    a: Account = server.new_account("settings-a")
    b: Account = server.new_account("settings-b")
    assert post_setting(server, a.sid, (a.sid, a.token), "false").status_code == 200
    assert get_setting(server, b.sid, (b.sid, b.token))["enforce_media_http_auth"] is True
    assert history(server, b.sid) == [("", "true", "system", "account-create")]
