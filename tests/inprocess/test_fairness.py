"""One tenant's slow remote hosts must not stall another tenant (issue 8.2).

Media fetches run in the background (the create answers at once) with
per-account / per-process bounds on how many run at once; webhook senders
are shared with a per-account cap and no batch barrier. The assertions are
about what a slow host saw (how many connections mediagate held open to it
at once) and what was stored, plus a
generous client timeout on the other tenant's request, never a fast-path time.

In process (tests/support/inprocess.py; moved from tests/e2e for issue 22): the
shares, the background fetch worker and the webhook senders are the app's own and
run in its lifespan here as in ``mediagate serve``; the sync routes share the same
anyio thread pool (40 threads) behind ``httpx.ASGITransport``. Nothing asserted here
depends on granian; each case no longer pays a server process start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from mediagate.db.models import Media, Message, WebhookDelivery
from mediagate.messaging import carrier_credentials
from tests.support.clients import assert_twilio_error
from tests.support.inprocess import InProcessServer, in_process_server
from tests.support.loops import eventually
from tests.support.receiver import Receiver
from tests.support.server import Account
from tests.support.slow import SlowServer, running_slow_server
from tests.support.webhooks import random_number

PER_ACCOUNT = 3
DEADLINE = 8
FLOOD = 48  # more than the 40 threads every sync route shares


Factory = Callable[..., InProcessServer]


@pytest.fixture
def slow() -> Iterator[SlowServer]:
    with running_slow_server() as server:
        yield server


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Factory]:
    """``server_factory(backend, **settings)``: the app in process on a fresh database."""
    opened: list[AbstractContextManager[InProcessServer]] = []

    def start(backend: str, **settings: object) -> InProcessServer:
        made = in_process_server(backend, tmp_path / f"app{len(opened)}", **settings)
        opened.append(made)
        return made.__enter__()

    try:
        yield start
    finally:
        for made in reversed(opened):
            made.__exit__(None, None, None)


def carrier_auth(server: InProcessServer) -> tuple[str, str]:
    """A deployment-level carrier credential (tests/support/carrier.py, for this runtime)."""
    made = carrier_credentials.create(server.runtime, "tests")
    return made.credential.sid, made.secret


def claim(server: InProcessServer, acct: Account, sms_url: str) -> str:
    """A fresh number assigned to ``acct`` and claimed with this SmsUrl (tests/support/webhooks.py)."""
    number = random_number()
    server.assign_number(acct.sid, number)
    r = server.http.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": number, "SmsUrl": sms_url, "SmsMethod": "POST"},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return number


def inbound(server: InProcessServer, acct: Account, number: str, body: str, auth: tuple[str, str]) -> str:
    """An inbound SMS to ``number`` through the carrier ingress; its message sid."""
    r = server.http.post(
        f"{server.base_url}/v1/Carrier/Inbound",
        data={"To": number, "From": "+14155550199", "Body": body},
        auth=auth,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    sid: str = r.json()["sid"]
    return sid


def create(server: InProcessServer, acct: Account, media_url: str, timeout: float = 90) -> requests.Response:
    return server.http.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages.json",
        data={"To": "+15551230001", "From": "+15557650001", "Body": "flood", "MediaUrl": media_url},
        auth=(acct.sid, acct.token),
        timeout=timeout,
    )


def count(server: InProcessServer, model: Any, account_sid: str) -> int:
    with server.runtime.sessions() as session:
        return int(
            session.scalar(select(func.count()).select_from(model).where(model.account_sid == account_sid))
        )


def status_of(server: InProcessServer, acct: Account, sid: str) -> dict[str, Any]:
    r = server.http.get(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/Messages/{sid}.json",
        auth=(acct.sid, acct.token),
        timeout=30,
    )
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_flood_of_slow_media_urls_does_not_stall_another_tenant(
    backend: str, server_factory: Factory, slow: SlowServer
) -> None:
    server = server_factory(backend, fetch_concurrency_per_account=PER_ACCOUNT, fetch_deadline=DEADLINE)
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
    r = server.http.get(
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


def attempts_of(server: InProcessServer, account_sid: str) -> int:
    with server.runtime.sessions() as session:
        rows = session.scalars(
            select(WebhookDelivery.attempts).where(WebhookDelivery.account_sid == account_sid)
        )
        return sum(rows)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_hanging_webhook_endpoint_does_not_delay_another_tenants_webhook(
    backend: str, server_factory: Factory, slow: SlowServer, receiver: Receiver
) -> None:
    server = server_factory(backend, webhook_senders=4, webhook_senders_per_account=2)
    hanging, prompt = server.new_account("hanging"), server.new_account("prompt")
    hanging_number = claim(server, hanging, slow.url("/hang"))
    prompt_number = claim(server, prompt, receiver.url("/prompt"))
    carrier = carrier_auth(server)
    for n in range(8):  # more than all the senders
        inbound(server, hanging, hanging_number, f"h{n}", carrier)
    slow.wait_for(2, "/hang")  # the hanging tenant holds its share of the senders
    sid = inbound(server, prompt, prompt_number, "on time", carrier)
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
    backend: str, server_factory: Factory, slow: SlowServer
) -> None:
    # The deadline is a real wait (the admitted delivery drips until it runs out): 2 s
    # instead of 4 s, still far longer than six threads take to reach the ingress.
    server = server_factory(backend, fetch_concurrency_per_account=1, fetch_deadline=2)
    acct = server.new_account("ingress")
    number = claim(server, acct, "http://127.0.0.1:9/unused")
    carrier = carrier_auth(server)

    def deliver(n: int) -> requests.Response:
        return server.http.post(
            f"{server.base_url}/v1/Carrier/Inbound",
            data={"To": number, "From": "+14155550199", "Body": "", "MediaUrl": slow.url(f"/drip/in{n}.png")},
            auth=carrier,
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
