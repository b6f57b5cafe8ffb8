"""The steps every webhook test takes: claim a number whose SmsUrl points at a
receiver (``tests/support/receiver.py``; the ``receiver`` fixture in
``tests/conftest.py``), deliver an inbound message to it, read the deliveries."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import requests

from tests.support.carrier import carrier_auth
from tests.support.server import Account, RunningServer


def random_number() -> str:
    return "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))


def claim(server: RunningServer, acct: Account, sms_url: str, method: str = "POST") -> str:
    """A fresh number assigned to ``acct`` and claimed with this SmsUrl and SmsMethod."""
    number = random_number()
    server.assign_number(acct.sid, number)
    r = requests.post(
        f"{server.base_url}/2010-04-01/Accounts/{acct.sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": number, "SmsUrl": sms_url, "SmsMethod": method},
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return number


def inbound(server: RunningServer, acct: Account, number: str, body: str = "hello") -> str:
    """An inbound SMS to ``number`` through the carrier ingress; its message sid."""
    r = requests.post(
        f"{server.base_url}/v1/Carrier/Inbound",
        data={"To": number, "From": "+14155550199", "Body": body},
        auth=carrier_auth(server),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    sid: str = r.json()["sid"]
    return sid


def deliveries(server: RunningServer, acct: Account, **params: str) -> list[dict[str, Any]]:
    r = requests.get(
        f"{server.base_url}/v1/Accounts/{acct.sid}/WebhookDeliveries",
        params=params,
        auth=(acct.sid, acct.token),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["webhook_deliveries"]
    return rows


def settle(
    server: RunningServer, acct: Account, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
) -> list[dict[str, Any]]:
    """Poll the deliveries API until ``done`` holds (the worker records an attempt
    just after the receiver has seen it)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = deliveries(server, acct)
        if done(rows):
            return rows
        assert time.monotonic() < deadline, f"deliveries never settled: {rows}"
        time.sleep(0.2)
