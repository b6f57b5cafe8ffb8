"""Retention rules through the real server: the API (requests, twilio-python), the
inbound webhook rule through the real webhook worker, and (system tier) the real CLI
killed between two batches, on both databases and both stores. The background job with
the batched access records, and the CLI's show, dry run and batched run, run with the
app in process: tests/inprocess/test_lifecycle_retention.py."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update

from mediagate.core.timefmt import utcnow
from mediagate.db.models import AuditEvent, Media, WebhookDelivery
from mediagate.media import media as media_service
from tests.support.cli import Done, run_cli
from tests.support.clients import assert_twilio_error, twilio_client
from tests.support.fileserver import FileServer, png_bytes
from tests.support.media_steps import add_media, one_media
from tests.support.receiver import running_receiver
from tests.support.server import MEDIAGATE, Account, RunningServer
from tests.support.shapes import SHAPES
from tests.support.stored import exists

pytestmark = pytest.mark.e2e
SERVER_STORAGES = ("local", "s3")
COMBOS = SHAPES
TIMEOUT = 30


def rule_url(server: RunningServer, account_sid: str) -> str:
    return f"{server.base_url}/v1/Accounts/{account_sid}/MediaRetention"


def set_rule(server: RunningServer, acct: Account, **form: str) -> dict[str, object]:
    r = requests.post(rule_url(server, acct.sid), data=form, auth=(acct.sid, acct.token), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_media_retention_resource(server: RunningServer) -> None:
    acct = server.new_account("retention-api")
    url = rule_url(server, acct.sid)
    client = twilio_client(server, acct.sid, acct.token)
    fetched = client.request("GET", url)  # twilio-python's own transport and auth
    assert fetched.status_code == 200, fetched.text
    assert json.loads(fetched.text) == {
        "account_sid": acct.sid,
        "days_after_creation": None,
        "days_after_last_access": None,
        "after_first_download": False,
        "after_webhook_delivered": False,
        "effective_days_after_creation": None,
        "deployment_default_days": None,
        "deployment_max_days": None,
        "date_created": None,
        "date_updated": None,
        "url": url,
    }
    body = set_rule(server, acct, DaysAfterCreation="30", AfterWebhookDelivered="true")
    assert (body["days_after_creation"], body["effective_days_after_creation"]) == (30, 30)
    assert body["after_webhook_delivered"] is True and body["date_updated"] is not None
    body = set_rule(server, acct, DaysAfterCreation="", DaysAfterLastAccess="7")  # empty clears
    assert (body["days_after_creation"], body["days_after_last_access"]) == (None, 7)
    assert body["after_webhook_delivered"] is True  # not given: kept
    for bad in (
        {"DaysAfterCreation": "-3"},
        {"DaysAfterLastAccess": "1e3"},
        {"AfterFirstDownload": "maybe"},
        {},
    ):
        r = requests.post(url, data=bad, auth=(acct.sid, acct.token), timeout=TIMEOUT)
        assert_twilio_error(r, 400, 20001)
    r = requests.post(url, data={"DaysAfterCreation": "36501"}, auth=(acct.sid, acct.token), timeout=TIMEOUT)
    assert "from 1 to 36500" in assert_twilio_error(r, 400, 20001)["message"]
    assert (
        requests.get(url, auth=(acct.sid, acct.token), timeout=TIMEOUT).json()["days_after_last_access"] == 7
    )


def _cli(srv: RunningServer, *args: str) -> Done:
    """``mediagate retention ...`` in this process (tests/support/cli.py)."""
    return run_cli(srv.env, "retention", *args)


def _cli_process(srv: RunningServer, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The executable itself: a run that crashes (a crash point ends the process)."""
    return subprocess.run(
        [str(MEDIAGATE), "retention", *args],
        env={**srv.env, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# A CLI process killed between two batches and a second run that resumes: a system test
# (`make test-system`). Its non-crashing half (show, the dry run, a batched run and its
# audit rows) runs in process: tests/inprocess/test_lifecycle_retention.py.
@pytest.mark.system
@pytest.mark.parametrize(("backend", "storage"), COMBOS)
def test_a_run_that_crashes_between_batches_resumes(
    server_factory: Callable[..., RunningServer], files: FileServer, backend: str, storage: str
) -> None:
    srv = server_factory(
        backend, storage, MEDIAGATE_RETENTION_INTERVAL="0", MEDIAGATE_RETENTION_MAX_DAYS="30"
    )
    first = one_media(srv, files)
    acct = first.account
    items = [first] + [
        add_media(srv, acct, first.message_sid, "image/png", png_bytes(600 + i)) for i in range(4)
    ]
    young = add_media(srv, acct, first.message_sid, "image/png", png_bytes(999))
    old = [m.media_sid for m in items]
    with srv.runtime.tx() as session:
        session.execute(
            update(Media).where(Media.sid.in_(old)).values(date_created=utcnow() - timedelta(days=10))
        )
    # The deployment maximum, ``show`` and the dry run are checked in process
    # (tests/inprocess/test_lifecycle_retention.py); here only the crash and the resume.
    set_rule(srv, acct, DaysAfterCreation="7")

    crashed = _cli_process(
        srv, "run", "--account", acct.sid, "--batch", "2", MEDIAGATE_TEST_CRASH_AT="retention-after-batch@2"
    )
    assert crashed.returncode == 137, crashed.stderr
    left = _left(srv, old)
    assert len(left) == 1  # two batches committed; the second died before deleting its objects
    orphans = [m for m in items if m.media_sid not in left and exists(srv.runtime, m.key)]
    assert len(orphans) == 2

    resumed = _cli(srv, "run", "--account", acct.sid, "--batch", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert "1 media deleted" in resumed.stdout
    assert _left(srv, old) == set() and media_service.get(
        srv.runtime, acct.sid, first.message_sid, young.media_sid
    )
    with srv.runtime.sessions() as session:
        details = list(
            session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "retention.delete"))
        )
    # One audit row per committed batch, and together they count each media once.
    assert sorted(int(str(d).split()[0]) for d in details) == [1, 2, 2]
    # The crashed batch's objects are orphans: the gc takes them (the rows are gone for good).
    gc = subprocess.run(
        [str(MEDIAGATE), "media", "gc", "--grace", "-60"],
        env=srv.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gc.returncode == 0, gc.stderr
    assert not any(exists(srv.runtime, m.key) for m in items) and exists(srv.runtime, young.key)


def _left(srv: RunningServer, sids: list[str]) -> set[str]:
    with srv.runtime.sessions() as session:
        return set(session.scalars(select(Media.sid).where(Media.sid.in_(sids))))


def test_inbound_media_go_once_their_webhook_got_a_2xx(server: RunningServer, files: FileServer) -> None:
    """Through the carrier ingress and the real webhook worker: the message whose SmsUrl
    answered 200 loses its media at the next pass (the real CLI), the one answered 500 keeps them."""
    from tests.e2e.test_inbound import carrier_inbound, claim

    acct = server.new_account("retention-webhook")
    set_rule(server, acct, AfterWebhookDelivered="true")
    with running_receiver() as receiver:
        receiver.answer("/refusing", *([500] * 50))
        numbers = {path: claim(server, acct, receiver.url(path)) for path in ("/accepting", "/refusing")}
        sent = {}
        for path, number in numbers.items():
            body = png_bytes(1500 + len(path))
            url = files.add(f"/retention/{acct.sid}{path}.png", body)
            r = carrier_inbound(server, To=number, From="+14155550100", Body="pic", MediaUrl=[url])
            assert r.status_code == 201, r.text
            sent[path] = r.json()["sid"]
        receiver.wait_for("/accepting")
        receiver.wait_for("/refusing")
        _wait_delivered(server, sent["/accepting"])
        run = _cli(server, "run", "--account", acct.sid)
    assert run.returncode == 0, run.stderr
    assert "1 media deleted" in run.stdout
    with server.runtime.sessions() as session:
        left = {
            r.message_sid: r.storage_key
            for r in session.execute(
                select(Media.message_sid, Media.storage_key).where(Media.account_sid == acct.sid)
            )
        }
    assert set(left) == {sent["/refusing"]}
    assert exists(server.runtime, left[sent["/refusing"]])
    listed = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{sent['/accepting']}/Media.json",
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )
    assert listed.status_code == 200 and listed.json()["media_list"] == []


def _wait_delivered(server: RunningServer, message_sid: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while True:
        with server.runtime.sessions() as session:
            status = session.scalar(
                select(WebhookDelivery.status).where(
                    WebhookDelivery.message_sid == message_sid, WebhookDelivery.kind == "incoming"
                )
            )
        if status == "delivered":
            return
        assert time.monotonic() < deadline, f"webhook of {message_sid} still {status}"
        time.sleep(0.1)
