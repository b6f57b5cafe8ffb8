"""Quotas per account against the real server: stored bytes and media, ingest per hour,
at message create and at carrier inbound, under concurrency, with metrics and the CLI."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select
from twilio.base.exceptions import TwilioRestException

from mediagate.accounts import quotas
from mediagate.db.models import AccountUsage, Media
from tests.e2e.test_inbound import carrier_inbound, claim
from tests.support.cli import run_cli
from tests.support.clients import assert_twilio_error, settled_message, twilio_client
from tests.support.console_http import console_session
from tests.support.fileserver import FileServer, png_bytes
from tests.support.scrape import scrape, value
from tests.support.server import Account, RunningServer
from tests.support.stored import stored_keys

pytestmark = pytest.mark.e2e
SERVER_STORAGES = ("local", "s3")
TIMEOUT = 30


def png_url(files: FileServer, size: int = 2000) -> str:
    body = png_bytes(size) + secrets.token_bytes(8)  # a distinct object each time
    return files.add(f"/quota/{secrets.token_hex(8)}.png", body)


def create(server: RunningServer, acct: Account, urls: list[str]) -> requests.Response:
    return requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": urls},
        auth=(acct.sid, acct.token),
        timeout=TIMEOUT,
    )


def counted(server: RunningServer, account_sid: str) -> tuple[int, int, int, int]:
    """(bytes, media) in the usage counter, and (bytes, media) of the media rows themselves."""
    with server.runtime.sessions() as session:
        row = session.get(AccountUsage, account_sid)
        assert row is not None
        real = session.execute(
            select(func.coalesce(func.sum(Media.size), 0), func.count(Media.sid)).where(
                Media.account_sid == account_sid
            )
        ).one()
    return row.bytes_stored, row.media_count, int(real[0]), int(real[1])


def test_media_quota_refuses_the_create_and_keeps_what_was_accepted(
    server: RunningServer, files: FileServer
) -> None:
    acct = server.new_account("quota-media")
    quotas.set_overrides(server.runtime, acct.sid, max_media=2)
    client = twilio_client(server, acct.sid, acct.token)
    first = client.messages.create(to="+15551230001", from_="+15557650001", media_url=[png_url(files)])
    second = client.messages.create(to="+15551230001", from_="+15557650001", media_url=[png_url(files)])
    for sid in (first.sid, second.sid):  # fetched after the creates answered
        settled_message(server, acct, sid)
    before = stored_keys(server.runtime, acct.sid)
    assert len(before) == 2

    with pytest.raises(TwilioRestException) as refused:
        client.messages.create(to="+15551230001", from_="+15557650001", media_url=[png_url(files)])
    assert refused.value.status == 403 and refused.value.code == 20403
    assert "Media quota exceeded" in refused.value.msg and "at most 2" in refused.value.msg
    # Nothing accepted before was touched, nothing new was stored.
    assert stored_keys(server.runtime, acct.sid) == before
    assert len(client.messages.list()) == 2

    # Deleting media frees the quota again.
    client.messages(first.sid).delete()
    third = client.messages.create(to="+15551230001", from_="+15557650001", media_url=[png_url(files)])
    assert settled_message(server, acct, third.sid)["num_media"] == "1"
    used_bytes, used_media, real_bytes, real_media = counted(server, acct.sid)
    assert (used_bytes, used_media) == (real_bytes, real_media) and used_media == 2


def test_bytes_quota_is_checked_on_the_fetched_size(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("quota-bytes")
    quotas.set_overrides(server.runtime, acct.sid, max_bytes=5000)
    first = create(server, acct, [png_url(files, 3000)])
    assert first.status_code == 201
    settled_message(server, acct, first.json()["sid"])
    # Under the quota when created; over it once fetched: the message fails when stored.
    r = create(server, acct, [png_url(files, 3000)])
    assert r.status_code == 201, r.text
    failed = settled_message(server, acct, r.json()["sid"])
    assert failed["status"] == "failed" and failed["error_code"] == 20403, failed
    assert "Storage quota exceeded" in failed["error_message"]
    assert len(stored_keys(server.runtime, acct.sid)) == 1
    # An override of 0 lifts the limit for this account only.
    quotas.set_overrides(server.runtime, acct.sid, max_bytes=0)
    third = create(server, acct, [png_url(files, 3000)])
    assert third.status_code == 201
    assert settled_message(server, acct, third.json()["sid"])["num_media"] == "1"
    samples = scrape(server)
    assert value(samples, "mediagate_quota_refusals_total", quota="bytes") >= 1
    assert value(samples, "mediagate_quota_usage", quota="bytes") >= 6000
    assert value(samples, "mediagate_quota_usage", quota="media") >= 2


def test_inbound_over_quota_is_refused_to_the_carrier(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("quota-inbound")
    number = claim(server, acct, "http://127.0.0.1:9/unused")
    quotas.set_overrides(server.runtime, acct.sid, max_media=1)
    ok = carrier_inbound(server, To=number, From="+15550001111", MediaUrl=png_url(files))
    assert ok.status_code == 201, ok.text
    refused = carrier_inbound(server, To=number, From="+15550001111", MediaUrl=png_url(files))
    assert_twilio_error(refused, 403, 20403)
    assert len(stored_keys(server.runtime, acct.sid)) == 1
    assert len(twilio_client(server, acct.sid, acct.token).messages.list()) == 1


def test_concurrent_creates_and_deletes_keep_the_count_exact(
    server: RunningServer, files: FileServer
) -> None:
    acct = server.new_account("quota-race")
    limit = 6
    quotas.set_overrides(server.runtime, acct.sid, max_media=limit)
    client = twilio_client(server, acct.sid, acct.token)
    seed = [
        client.messages.create(to="+15551230001", from_="+15557650001", media_url=[png_url(files)]).sid
        for _ in range(3)
    ]
    for sid in seed:  # stored (and counted) before the race starts
        settled_message(server, acct, sid)
    urls = [png_url(files) for _ in range(10)]

    def delete(sid: str) -> int:
        return requests.delete(
            f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{sid}.json",
            auth=(acct.sid, acct.token),
            timeout=TIMEOUT,
        ).status_code

    # Creates and deletes at once; the media are stored in the background, each
    # message's charge deciding against the quota in its own transaction.
    with ThreadPoolExecutor(4) as creating, ThreadPoolExecutor(3) as deleting:
        creates = [creating.submit(create, server, acct, [u]) for u in urls]
        deletes = [deleting.submit(delete, sid) for sid in seed]
        answers = [f.result() for f in creates]
        assert [f.result() for f in deletes] == [204, 204, 204]
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {201, 403}, statuses
    outcomes = [settled_message(server, acct, r.json()["sid"]) for r in answers if r.status_code == 201]
    # A message the quota had no room for when its media were stored fails with 20403.
    assert all(m["error_code"] == 20403 for m in outcomes if m["status"] == "failed"), outcomes
    stored = sum(1 for m in outcomes if m["status"] != "failed")
    # Never above the limit, whatever the interleaving; at least limit - 3 got in
    # (the 3 seeded media were all gone by the end).
    used_bytes, used_media, real_bytes, real_media = counted(server, acct.sid)
    assert (used_bytes, used_media) == (real_bytes, real_media)
    assert used_media == stored <= limit
    assert stored >= limit - 3
    assert len(stored_keys(server.runtime, acct.sid)) == stored


def test_cli_shows_and_sets_the_quota(server: RunningServer) -> None:
    acct = server.new_account("quota-cli")

    def cli(*args: str) -> dict[str, dict[str, int | None]]:
        done = run_cli(server.env, "accounts", "quota", acct.sid, *args, "--json")  # tests/support/cli.py
        assert done.returncode == 0, done.stderr
        data: dict[str, dict[str, int | None]] = json.loads(done.stdout)
        return data

    shown = cli("--max-media", "7", "--ingest-per-hour", "0")
    assert shown["media"] == {"used": 0, "limit": 7, "override": 7}
    assert shown["ingest_per_hour"]["override"] == 0
    back = cli("--max-media", "default")
    assert back["media"]["override"] is None
    bad = run_cli(server.env, "accounts", "quota", acct.sid, "--max-media", "-3")
    assert bad.returncode != 0 and "whole number" in bad.stderr


@pytest.mark.system
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_hourly_ingest_is_shared_by_every_process_through_redis(
    server_factory: Callable[..., RunningServer], files: FileServer, backend: str
) -> None:
    """Several server processes (granian ``--workers 2``): ``make test-system`` (issue 22).
    ``make test`` checks the shared counter and the 429 in process, on both databases
    (tests/inprocess/test_quotas_shared_ingest.py)."""
    srv = server_factory(
        backend,
        serve_args=["--workers", "2"],
        MEDIAGATE_REDIS_URL="redis://127.0.0.1:6379/0",
        MEDIAGATE_REDIS_KEY_PREFIX=f"test-quotas-{secrets.token_hex(6)}",
        MEDIAGATE_QUOTA_INGEST_PER_HOUR="3",
    )
    acct = srv.new_account("quota-hourly")
    # Fresh connections each time, so the two workers both take requests.
    statuses = []
    for _ in range(5):
        r = requests.post(
            f"{srv.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
            data={"To": "+15551230001", "From": "+15557650001", "MediaUrl": png_url(files)},
            auth=(acct.sid, acct.token),
            headers={"Connection": "close"},
            timeout=TIMEOUT,
        )
        statuses.append(r.status_code)
        if r.status_code == 201:
            settled_message(srv, acct, r.json()["sid"])
        if r.status_code == 429:
            body = assert_twilio_error(r, 429, 20429)
            assert "Ingest quota exceeded" in body["message"]
            assert int(r.headers["Retry-After"]) >= 1
    assert statuses == [201, 201, 201, 429, 429]
    assert len(stored_keys(srv.runtime, acct.sid)) == 3


def test_the_console_dashboard_shows_the_quotas(server: RunningServer, files: FileServer) -> None:
    acct = server.new_account("quota-console")
    quotas.set_overrides(server.runtime, acct.sid, max_media=7)
    made = create(server, acct, [png_url(files)])
    assert made.status_code == 201
    settled_message(server, acct, made.json()["sid"])  # stored after the create answered
    page = console_session(server.base_url, acct.sid, acct.token).get(
        server.base_url + "/console/dashboard", timeout=TIMEOUT
    )
    assert page.status_code == 200
    panel = page.text.split('id="quotas"', 1)[1].split("</section>", 1)[0]
    assert re.search(r'id="quota-media">1<', panel) and "of 7" in panel
    assert "of no limit" in panel  # bytes and hourly: the deployment has none


def test_loopback_to_a_full_recipient_is_undelivered(server: RunningServer, files: FileServer) -> None:
    sender = server.new_account("quota-loop-sender")
    recipient = server.new_account("quota-loop-recipient")
    number = claim(server, recipient, "http://127.0.0.1:9/unused")
    quotas.set_overrides(server.runtime, recipient.sid, max_bytes=100)
    client = twilio_client(server, sender.sid, sender.token)
    out = client.messages.create(to=number, from_="+14155550105", media_url=[png_url(files)])
    deadline = time.monotonic() + 60
    while (status := client.messages(out.sid).fetch()).status in ("queued", "sending", "sent"):
        assert time.monotonic() < deadline, status.status
        time.sleep(0.2)
    assert status.status == "undelivered" and status.error_code == 30008
    assert stored_keys(server.runtime, recipient.sid) == []  # the copies were removed
    assert len(stored_keys(server.runtime, sender.sid)) == 1  # the sender's own media stays
    assert twilio_client(server, recipient.sid, recipient.token).messages.list() == []
