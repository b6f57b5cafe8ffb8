"""No secret, signature, token, message body or query string in the server's log
(issue 8, item 3), at DEBUG level, through a run that takes the error paths too.

The run: a bad credential; a MediaUrl whose query string carries a secret; a
signed media URL fetched; an inbound message whose Body and webhook URL query
are secrets; and a database error forced by a trigger (its SQL parameters used
to be logged with the traceback: message bodies, phone numbers, token hashes).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select, text

from mediagate.db.models import Account as AccountRow
from tests.conftest import BACKENDS
from tests.support.carrier import carrier_auth
from tests.support.clients import settled_message
from tests.support.fileserver import FileServer, png_bytes
from tests.support.receiver import running_receiver
from tests.support.server import RunningServer

FORCED = "force-db-error"

_TRIGGERS = {
    "sqlite": [
        f"CREATE TRIGGER force_failure BEFORE INSERT ON messages WHEN NEW.body LIKE '{FORCED}%' "
        "BEGIN SELECT RAISE(ABORT, 'forced failure'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION force_failure() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.body LIKE '{FORCED}%' THEN RAISE EXCEPTION 'forced failure'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER force_failure BEFORE INSERT ON messages FOR EACH ROW "
        "EXECUTE FUNCTION force_failure()",
    ],
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_debug_log_holds_no_secret(
    backend: str, server_factory: Callable[..., RunningServer], files: FileServer
) -> None:
    # An empty database: the first start's migrations log too (and at DEBUG), as in production.
    server = server_factory(backend, migrated=False, MEDIAGATE_LOG_LEVEL="debug")
    acct = server.new_account("log-hygiene")
    auth = (acct.sid, acct.token)
    api = f"{server.base_url}/2010-04-01/Accounts/{acct.sid}"
    secrets_used: list[str] = [acct.token]

    # 1. A bad credential.
    wrong = "wrong" + secrets.token_hex(14)
    secrets_used += [wrong, base64.b64encode(f"{acct.sid}:{wrong}".encode()).decode()]
    assert requests.get(f"{api}/Messages.json", auth=(acct.sid, wrong), timeout=10).status_code == 401

    # 2. A MediaUrl with a secret-looking query string (presigned URLs look like this).
    media_secret = "X-Amz-Signature=" + secrets.token_hex(20)
    secrets_used.append(media_secret.split("=")[1])
    url = files.add(f"/log/{acct.sid}/pic.png", png_bytes(3000)) + "?" + media_secret
    r = requests.post(
        f"{api}/Messages.json",
        data={"To": "+15551230001", "From": "+15557650001", "Body": "hello", "MediaUrl": url},
        auth=auth,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    # The worker fetches the MediaUrl after the create answered: its log lines are in before the check below.
    assert settled_message(server, acct, r.json()["sid"])["num_media"] == "1"
    media_sid = requests.get(f"{api}/Messages/{r.json()['sid']}/Media.json", auth=auth, timeout=10).json()[
        "media_list"
    ][0]["sid"]

    # 3. The content URL's redirect, and the signed URL itself.
    content = f"{api}/Messages/{r.json()['sid']}/Media/{media_sid}"
    location = requests.get(content, auth=auth, timeout=10, allow_redirects=False).headers["Location"]
    signature = parse_qs(urlsplit(location).query)["Signature"][0]
    secrets_used.append(signature)
    assert requests.get(location, timeout=10).status_code == 200
    # A different first character, whatever the signature starts with (one in 64 starts with "A").
    tampered = ("B" if signature[0] == "A" else "A") + signature[1:]
    assert requests.get(location.replace(signature, tampered), timeout=10).status_code == 403

    # 4. An inbound message with a secret Body, to a webhook whose URL has a secret query.
    body_secret = "body-" + secrets.token_hex(12)
    hook_secret = secrets.token_hex(12)
    secrets_used += [body_secret, hook_secret]
    number = "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))
    server.assign_number(acct.sid, number)
    with running_receiver() as receiver:
        claimed = requests.post(
            f"{api}/IncomingPhoneNumbers.json",
            data={"PhoneNumber": number, "SmsUrl": receiver.url(f"/hook?key={hook_secret}")},
            auth=auth,
            timeout=10,
        )
        assert claimed.status_code == 201, claimed.text
        r = requests.post(
            f"{server.base_url}/v1/Carrier/Inbound",
            data={"To": number, "From": "+14155550100", "Body": body_secret},
            auth=carrier_auth(server),
            timeout=30,
        )
        assert r.status_code == 201, r.text
        (hook,) = receiver.wait_for("/hook")
        assert hook.form["Body"] == body_secret

    # 5. A database error: a trigger refuses one insert, so the request is a 500.
    with server.runtime.engine.begin() as conn:
        for statement in _TRIGGERS[backend]:
            conn.execute(text(statement))
    forced_body = f"{FORCED}-{secrets.token_hex(10)}"
    secrets_used.append(forced_body)
    r = requests.post(
        f"{api}/Messages.json",
        data={"To": "+15551230002", "From": "+15557650001", "Body": forced_body},
        auth=auth,
        timeout=30,
    )
    assert r.status_code == 500
    assert forced_body not in r.text and "forced failure" not in r.text

    with server.runtime.sessions() as session:
        row = session.scalars(select(AccountRow).where(AccountRow.sid == acct.sid)).one()
        secrets_used += [row.auth_token_hash, row.auth_token_sealed]

    log = server.log()
    # The run did log (the error with its traceback among others) ...
    assert "Traceback" in log and "forced failure" in log and "[debug" in log.lower()
    # ... and none of what it used.
    leaked = [s for s in secrets_used if s in log]
    assert leaked == [], f"secrets in the log: {leaked}"
    for marker in ("Signature=", "Expires=", "Key-Pair-Id=", "X-Amz-Signature", "?key=", "Body="):
        assert marker not in log, marker
