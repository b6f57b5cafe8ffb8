"""``/v1/Accounts/{AC}/MessagingSettings`` and the CLI that shares its setting over a real server,
a sample on each database: the body and a change through HTTP, the executable's runs seen by the
running server, and twilio-python with the credentials ``accounts create --json`` prints. Every
rule of the resource is checked with the app in process: tests/inprocess/test_api_settings.py."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from twilio.rest import Client

from mediagate.accounts import accounts
from mediagate.core.timefmt import aware

# Collected here too: the in-process tier's bodies, answered by this file's real server
# (granian, the fast path, another process) on each database. One body, two tiers.
from tests.inprocess.test_api_settings import (  # noqa: F401
    test_body_shape,
    test_post_changes_it_and_records_who,
)
from tests.support.cli import Done, run_cli
from tests.support.clients import settled_message
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import MEDIAGATE, RunningServer

SETTING = "enforce_media_http_auth"


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


def cli(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MEDIAGATE), *args],
        env={**server.env, "COLUMNS": "250"},  # rich wraps at 80 columns when not on a terminal
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def cli_here(server: RunningServer, *args: str) -> Done:
    """``cli`` in this process (tests/support/cli.py), for what a command does; the
    executable runs in the first step of test_cli_set_is_seen_by_the_api_at_once
    and in test_accounts_create_json_gives_working_credentials."""
    return run_cli({**server.env, "COLUMNS": "250"}, *args)


def history(server: RunningServer, sid: str) -> list[tuple[str, str, str, str]]:
    """Newest first: (old, new, actor, via)."""
    return [(c.old_value, c.new_value, c.actor, c.via) for c in accounts.setting_history(server.runtime, sid)]


def test_cli_set_is_seen_by_the_api_at_once(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("settings-cli")
    auth = (acct.sid, acct.token)

    before = datetime.now(UTC) - timedelta(seconds=1)
    done = cli(server, "settings", "set", acct.sid, "--no-enforce-media-http-auth")
    after = datetime.now(UTC) + timedelta(seconds=1)
    assert done.returncode == 0, done.stderr
    assert "disabled" in done.stdout
    assert get_setting(server, acct.sid, auth)["enforce_media_http_auth"] is False
    newest = accounts.setting_history(server.runtime, acct.sid)[0]
    assert (newest.old_value, newest.new_value, newest.actor, newest.via) == ("true", "false", "cli", "cli")
    assert before <= aware(newest.date_created) <= after

    # The server applies it to the next media at once: public, no credentials needed.
    client = Client(acct.sid, acct.token)
    client.api.base_url = server.base_url
    url = files.add("/settings/cli-off.png", png_bytes(800))
    sent = client.messages.create(to="+15551230001", from_="+15557650001", media_url=[url])
    assert settled_message(server, acct, sent.sid)["num_media"] == "1"  # fetched after the create answered
    media = client.messages(sent.sid).media.list()[0]
    content = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{sent.sid}/Media/{media.sid}"
    anon = requests.get(content, allow_redirects=False, timeout=10)
    assert anon.status_code == 307 and "/_media/public/" in anon.headers["Location"]

    done = cli_here(server, "settings", "set", acct.sid, "--enforce-media-http-auth")
    assert done.returncode == 0, done.stderr
    assert "enabled" in done.stdout
    assert get_setting(server, acct.sid, auth)["enforce_media_http_auth"] is True
    # The API's change and the CLI's show up in `settings get`, newest first.
    assert post_setting(server, acct.sid, auth, "false").status_code == 200
    shown = cli_here(server, "settings", "get", acct.sid)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert "Enforce HTTP Auth on Media URLs: disabled" in text
    lines = [" ".join(line.split()) for line in shown.stdout.splitlines() if "->" in line]
    assert len(lines) == 4
    assert lines[0].endswith(f"true -> false by {acct.sid} via api")
    assert lines[1].endswith("false -> true by cli via cli")
    assert lines[2].endswith("true -> false by cli via cli")
    assert lines[3].endswith("- -> true by system via account-create")
    assert history(server, acct.sid)[0] == ("true", "false", acct.sid, "api")


def test_accounts_create_json_gives_working_credentials(server: RunningServer) -> None:
    done = cli(server, "accounts", "create", "--friendly-name", "From the CLI", "--json")
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    sid, token = created["sid"], created["auth_token"]
    assert sid.startswith("AC") and len(sid) == 34
    assert len(token) == 32 and int(token, 16) >= 0
    assert created["friendly_name"] == "From the CLI"
    assert created["enforce_media_http_auth"] is True

    body = get_setting(server, sid, (sid, token))
    assert body["account_sid"] == sid and body["enforce_media_http_auth"] is True
    client = Client(sid, token)
    client.api.base_url = server.base_url
    sent = client.messages.create(to="+15551230001", from_="+15557650001", body="hello from the CLI account")
    assert sent.account_sid == sid
    assert [m.sid for m in client.messages.list()] == [sent.sid]
    # The token is the account's, not anybody else's.
    other = server.new_account("settings-other")
    r = requests.get(settings_url(server, other.sid), auth=(sid, token), timeout=10)
    assert r.status_code == 401
    # And it is not stored in plain text.
    account = accounts.get(server.runtime, sid)
    assert token not in (account.auth_token_hash, account.auth_token_sealed)
    assert accounts.reveal_auth_token(server.runtime, account) == token
