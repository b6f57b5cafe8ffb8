"""API keys against the real server, a sample on each database: creating one through
twilio-python, a key sending messages and reading media over HTTP, the ``keys create``
executable, and the secret in neither the log nor the database. The resource's rules (paging,
updates, deletion, roles, wrong pairings) are checked with the app in process:
tests/inprocess/test_api_keys.py."""

from __future__ import annotations

import hashlib
import json
import subprocess

import requests
from sqlalchemy import text

from mediagate.db.models import ApiKey, Base

# Collected here too: the in-process tier's bodies, answered by this file's real server
# (granian, the fast path, another process) on each database. One body, two tiers.
from tests.inprocess.test_api_keys import (  # noqa: F401
    test_create_returns_the_secret_once,
    test_key_authenticates_messages_and_media,
)
from tests.support.clients import settled_message, twilio_client
from tests.support.fileserver import FileServer, png_bytes
from tests.support.server import MEDIAGATE, Account, RunningServer

TO, FROM = "+15551230001", "+15557650001"


def keys_url(server: RunningServer, account_sid: str, key_sid: str | None = None) -> str:
    base = f"{server.base_url}/2010-04-01/Accounts/{account_sid}/Keys"
    return f"{base}/{key_sid}.json" if key_sid else f"{base}.json"


def create_key(server: RunningServer, acct: Account, name: str = "k") -> tuple[str, str]:
    new = (
        twilio_client(server, acct.sid, acct.token)
        .api.v2010.accounts(acct.sid)
        .new_keys.create(friendly_name=name)
    )
    assert new.sid and new.secret
    return new.sid, new.secret


def test_main_key_manages_keys(server: RunningServer) -> None:
    """Main keys come from the CLI only (as from Twilio's console) and manage keys."""
    acct = server.new_account("keys-main")
    out = subprocess.run(
        [MEDIAGATE, "keys", "create", acct.sid, "--kind", "main", "--friendly-name", "ops", "--json"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    made_by_cli = json.loads(out.stdout)
    main_sid, main_secret = made_by_cli["sid"], made_by_cli["secret"]
    client = twilio_client(server, main_sid, main_secret, acct.sid)
    made = client.api.v2010.accounts(acct.sid).new_keys.create(friendly_name="made by main")
    assert made.secret
    listed = {k.sid: k.friendly_name for k in client.api.v2010.accounts(acct.sid).keys.list()}
    assert listed == {main_sid: "ops", made.sid: "made by main"}
    assert client.api.v2010.accounts(acct.sid).keys(made.sid).delete() is True
    with server.runtime.sessions() as session:
        main = session.get(ApiKey, main_sid)
        assert main is not None and main.kind == "main"
        assert session.get(ApiKey, made.sid) is None
    # Keys made through the v2010 API are standard keys, whoever makes them.
    second_sid, second_secret = create_key(server, acct, "standard")
    with server.runtime.sessions() as session:
        second = session.get(ApiKey, second_sid)
        assert second is not None and second.kind == "standard"
    listed = requests.get(keys_url(server, acct.sid), auth=(second_sid, second_secret), timeout=10)
    assert listed.status_code == 403


def test_secret_never_logged_nor_stored_in_plaintext(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("keys-secrecy")
    key_sid, secret = create_key(server, acct, "secrecy")
    client = twilio_client(server, key_sid, secret, acct.sid)
    # Use the key in every way: success, content redirect, failure, deletion.
    url = files.add("/keys/secrecy.png", png_bytes(700))
    sent = client.messages.create(to=TO, from_=FROM, media_url=[url])
    assert settled_message(server, acct, sent.sid)["num_media"] == "1"  # fetched after the create answered
    media = client.messages(sent.sid).media.list()[0]
    content = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{sent.sid}/Media/{media.sid}"
    assert requests.get(content, auth=(key_sid, secret), timeout=10).status_code == 200
    assert requests.get(content, auth=(acct.sid, secret), timeout=10).status_code == 401
    assert requests.get(keys_url(server, acct.sid), auth=(key_sid, secret), timeout=10).status_code == 403

    # Stored only as a keyed hash.
    with server.runtime.sessions() as session:
        row = session.get(ApiKey, key_sid)
        assert row is not None
        assert row.secret_hash == server.runtime.keyring.hash_secret(secret)
        assert row.secret_hash != hashlib.sha256(secret.encode()).hexdigest()
        # No column of any table holds the secret (or the token).
        for table in Base.metadata.sorted_tables:
            for record in session.execute(text(f"SELECT * FROM {table.name}")):  # noqa: S608
                dumped = " ".join(str(v) for v in record)
                assert secret not in dumped, table.name
                assert acct.token not in dumped, table.name

    twilio_client(server, acct.sid, acct.token).api.v2010.accounts(acct.sid).keys(key_sid).delete()
    assert requests.get(content, auth=(key_sid, secret), timeout=10).status_code == 401

    log = server.log()
    # The log records which credential was used, never the secret itself.
    assert f"media={media.sid} credential={key_sid} decision=signed" in log
    assert secret not in log
    assert acct.token not in log
