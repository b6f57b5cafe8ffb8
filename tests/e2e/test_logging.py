"""``MEDIAGATE_LOG_FORMAT=json`` on the real server: every line is one JSON
object, request ids reach every line of their request (event loop and
threadpool alike), and no query string or credential is ever written."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.support.clients import settled_message
from tests.support.fileserver import PNG, FileServer
from tests.support.server import RunningServer

pytestmark = pytest.mark.e2e

TIMEOUT = 30
CONTENT = "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"
SECURE = "/_media/secure/{account_sid}/{media_sid}"


def json_lines(server: RunningServer) -> list[dict[str, Any]]:
    lines = [line for line in server.log().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        record = json.loads(line)  # fails the test on any line that is not one JSON object
        assert isinstance(record, dict), line
        parsed.append(record)
    return parsed


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_json_logs_with_request_ids_and_no_secrets(
    server_factory: Callable[..., RunningServer], files: FileServer, backend: str
) -> None:
    srv = server_factory(backend, MEDIAGATE_LOG_FORMAT="json")
    acct = srv.new_account("logs")
    base = f"{srv.base_url}/2010-04-01/Accounts/{acct.sid}"
    good = files.add(f"/logs-{secrets.token_hex(4)}.png", PNG)
    missing = f"{files.base}/logs-missing-{secrets.token_hex(4)}.png?token=querysecret"

    sent = requests.post(
        base + "/Messages.json",
        data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": good},
        auth=(acct.sid, acct.token),
        headers={"X-Request-Id": "client-req-1"},
        timeout=TIMEOUT,
    )
    assert sent.status_code == 201, sent.text
    assert sent.headers["x-request-id"] == "client-req-1"
    # This message's fetch fails; the background fetch worker logs it.
    failed = requests.post(
        base + "/Messages.json",
        data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": missing},
        auth=(acct.sid, acct.token),
        headers={"X-Request-Id": "client-req-2"},
        timeout=TIMEOUT,
    )
    assert failed.json()["status"] == "queued", failed.text
    assert settled_message(srv, acct, failed.json()["sid"])["status"] == "failed"
    message_sid = sent.json()["sid"]
    settled_message(srv, acct, message_sid)
    media_sid = requests.get(
        f"{base}/Messages/{message_sid}/Media.json", auth=(acct.sid, acct.token), timeout=TIMEOUT
    ).json()["media_list"][0]["sid"]
    content = f"{base}/Messages/{message_sid}/Media/{media_sid}?Secret=inquery"
    redirect = requests.get(
        content,
        auth=(acct.sid, acct.token),
        headers={"X-Request-Id": "client-req-3"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert redirect.status_code == 307
    signed = redirect.headers["location"]
    signature = re.search(r"Signature=([^&]+)", signed)
    assert signature is not None
    served = requests.get(signed, timeout=TIMEOUT)
    assert served.content == PNG
    generated = served.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    # Ill-formed ids are replaced, not echoed: too long, or characters that could forge a line.
    for bad in ("x" * 200, 'a"b', "a b", "a\tb"):
        r = requests.get(srv.base_url + "/healthz", headers={"X-Request-Id": bad}, timeout=TIMEOUT)
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"]), bad
    bad_auth = requests.get(content, auth=(acct.sid, "wrong-token-value"), timeout=TIMEOUT)
    assert bad_auth.status_code == 401

    srv.process.terminate()  # flush everything the server had to say
    srv.process.wait(30)
    records = json_lines(srv)
    assert records, "no log lines"
    for record in records:
        assert {"event", "level", "logger", "timestamp"} <= set(record), record

    def of(request_id: str) -> list[dict[str, Any]]:
        return [r for r in records if r.get("request_id") == request_id]

    access = [r for r in records if r["logger"] == "mediagate.access"]
    assert access and all({"method", "route", "status", "duration_ms", "bytes"} <= set(r) for r in access), (
        access
    )
    created = [r for r in of("client-req-1") if r["logger"] == "mediagate.access"]
    assert created == [r for r in access if r["request_id"] == "client-req-1"]
    assert created[0]["route"] == "/2010-04-01/Accounts/{account_sid}/Messages.json"
    assert created[0]["status"] == 201 and created[0]["method"] == "POST"
    # The fetch runs after the request (as Twilio's does): its failure is a structured
    # line of the fetch worker that names the message and the code.
    failed_sid = failed.json()["sid"]
    fetch_lines = [r for r in records if r["logger"] == "mediagate.media_fetches"]
    assert any(failed_sid in r["event"] and "11200" in r["event"] for r in fetch_lines), fetch_lines
    # The audit decision is structured and joined to its request.
    audit = [r for r in of("client-req-3") if r["logger"] == "mediagate.audit"]
    assert audit == [
        {
            **audit[0],
            "event": "media.content",
            "account": acct.sid,
            "media": media_sid,
            "credential": acct.sid,
            "decision": "signed",
        }
    ]
    redirect_line = [r for r in of("client-req-3") if r["logger"] == "mediagate.access"]
    assert redirect_line[0]["route"] == CONTENT and redirect_line[0]["status"] == 307
    edge = [r for r in of(generated) if r["logger"] == "mediagate.access"]
    assert edge[0]["route"] == SECURE and edge[0]["status"] == 200 and edge[0]["bytes"] == len(PNG)

    log = srv.log()
    for secret in (
        acct.token,
        "wrong-token-value",
        signature.group(1),
        "Signature=",
        "querysecret",
        "inquery",
    ):
        assert secret not in log, secret
    assert "Authorization" not in log and "Basic " not in log
