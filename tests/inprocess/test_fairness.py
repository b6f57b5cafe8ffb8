"""One tenant's slow remote hosts must not stall another tenant (issue 8.2).

Media fetches run in the background (the create answers at once) with
per-account / per-process bounds on how many run at once; webhook senders
are shared with a per-account cap and no batch barrier. The assertions are
about what a slow host saw (how many connections mediagate held open to it
at once) and what was stored, plus a
generous client timeout on the other tenant's request, never a fast-path time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from mediagate.db.models import Media, Message, WebhookDelivery
from tests.support.carrier import carrier_auth
from tests.support.clients import assert_twilio_error
from tests.support.loops import eventually
from tests.support.receiver import Receiver
from tests.support.server import Account, RunningServer
from tests.support.slow import SlowServer, running_slow_server
from tests.support.webhooks import claim, inbound

PER_ACCOUNT = 3
DEADLINE = 8
FLOOD = 48  # more than the 40 threads every sync route shares


@pytest.fixture
def slow() -> Iterator[SlowServer]:
    with running_slow_server() as server:
        yield server


def create(server: RunningServer, acct: Account, media_url: str, timeout: float = 90) -> requests.Response:
    return requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": "+15551230001", "From": "+15557650001", "Body": "flood", "MediaUrl": media_url},
        auth=(acct.sid, acct.token),
        timeout=timeout,
    )


def count(server: RunningServer, model: Any, account_sid: str) -> int:
    with server.runtime.sessions() as session:
        return int(
            session.scalar(select(func.count()).select_from(model).where(model.account_sid == account_sid))
        )


def status_of(server: RunningServer, acct: Account, sid: str) -> dict[str, Any]:
    r = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{sid}.json",
        auth=(acct.sid, acct.token),
        timeout=30,
    )
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_flood_of_slow_media_urls_does_not_stall_another_tenant(
    backend: str, server_factory: Callable[..., RunningServer], slow: SlowServer
) -> None:
    server = server_factory(
        backend,
        MEDIAGATE_FETCH_CONCURRENCY_PER_ACCOUNT=str(PER_ACCOUNT),
        MEDIAGATE_FETCH_DEADLINE=str(DEADLINE),
    )
    flooder, other = server.new_account("flooder"), server.new_account("bystander")
    with ThreadPoolExecutor(FLOOD) as pool:
        futures = [pool.submit(create, server, flooder, slow.url(f"/drip/{n}.png")) for n in range(FLOOD)]
        responses = [f.result() for f in futures]
    # Twilio answers every create at once (queued) and fetches afterwards: none waits
    # for its media, none is refused for the flooder's fetch share.
    assert [r.status_code for r in responses] == [201] * FLOOD, [
        r.text for r in responses if r.status_code != 201
    ]
    assert all(r.json()["status"] == "queued" and r.json()["num_media"] == "0" for r in responses)
    slow.wait_for(1)  # the background worker is fetching the flood
    # The other tenant is answered while the flood holds its fetches open.
    r = requests.get(
        f"{server.base_url}/2010-04-01/Accounts/{other.sid}/Messages.json",
        auth=(other.sid, other.token),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert slow.active >= 1, "the flood was over before the other tenant was answered"
    # Never more than the account's share of fetches open against the slow host at once.
    assert 1 <= slow.max_active <= PER_ACCOUNT, slow.max_active
    slow.stop()  # the drips end: every fetch fails (a short body) and the rest follow fast
    sids = [r.json()["sid"] for r in responses]
    for sid in sids:
        msg = eventually(lambda sid=sid: (m := status_of(server, flooder, sid))["status"] != "queued" and m)
        assert msg["status"] == "failed" and msg["error_code"] == 11200, msg
        assert msg["num_media"] == "0", msg
    assert slow.max_active <= PER_ACCOUNT, slow.max_active
    assert count(server, Message, flooder.sid) == FLOOD
    assert count(server, Media, flooder.sid) == 0


def attempts_of(server: RunningServer, account_sid: str) -> int:
    with server.runtime.sessions() as session:
        rows = session.scalars(
            select(WebhookDelivery.attempts).where(WebhookDelivery.account_sid == account_sid)
        )
        return sum(rows)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_hanging_webhook_endpoint_does_not_delay_another_tenants_webhook(
    backend: str, server_factory: Callable[..., RunningServer], slow: SlowServer, receiver: Receiver
) -> None:
    server = server_factory(backend, MEDIAGATE_WEBHOOK_SENDERS="4", MEDIAGATE_WEBHOOK_SENDERS_PER_ACCOUNT="2")
    hanging, prompt = server.new_account("hanging"), server.new_account("prompt")
    hanging_number = claim(server, hanging, slow.url("/hang"))
    prompt_number = claim(server, prompt, receiver.url("/prompt"))
    for n in range(8):  # more than all the senders
        inbound(server, hanging, hanging_number, f"h{n}")
    slow.wait_for(2, "/hang")  # the hanging tenant holds its share of the senders
    sid = inbound(server, prompt, prompt_number, "on time")
    (hit,) = receiver.wait_for("/prompt", timeout=60)
    assert hit.form["MessageSid"] == sid
    # B was delivered while every one of A's requests was still held open: before the fix
    # it waited for A's batch to time out first (10 s per wave of 4).
    assert attempts_of(server, hanging.sid) == 0
    # One account never held more than its share of the senders.
    assert slow.max_active <= 2, slow.max_active
    slow.release()
    slow.wait_for(8, "/hang")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_carrier_ingress_fetches_within_the_receiving_accounts_share(
    backend: str, server_factory: Callable[..., RunningServer], slow: SlowServer
) -> None:
    server = server_factory(
        backend, MEDIAGATE_FETCH_CONCURRENCY_PER_ACCOUNT="1", MEDIAGATE_FETCH_DEADLINE="4"
    )
    acct = server.new_account("ingress")
    number = claim(server, acct, "http://127.0.0.1:9/unused")

    def deliver(n: int) -> requests.Response:
        return requests.post(
            f"{server.base_url}/v1/Carrier/Inbound",
            data={"To": number, "From": "+14155550199", "Body": "", "MediaUrl": slow.url(f"/drip/in{n}.png")},
            auth=carrier_auth(server),
            timeout=60,
        )

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(deliver, range(6)))
    refused = [r for r in responses if r.status_code == 429]
    assert refused, [r.text for r in responses]
    for r in refused:
        assert_twilio_error(r, 429, 20429)
    # The admitted ones ran into the deadline: a carrier delivery that fails is refused (400).
    for r in responses:
        if r.status_code != 429:
            assert_twilio_error(r, 400, 11200)
    assert slow.max_active == 1
    assert count(server, Message, acct.sid) == 0 and count(server, Media, acct.sid) == 0
