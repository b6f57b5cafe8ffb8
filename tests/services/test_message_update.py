"""Twilio's UpdateMessage (``POST .../Messages/{SM|MM}.json``), in process on SQLite and
PostgreSQL: ``Body=""`` redacts a post-flight message (here, in the stored webhook
requests, and audited), the representation stays Twilio's; every other request gets
Twilio's error (30400 malformed, 30409 cancel of a message that is not scheduled,
20009 a message still in flight, 404, 403 for a key without the permission)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mediagate.accounts import accounts, keys
from mediagate.accounts import permissions as perms
from mediagate.core import sids
from mediagate.core.clock import ManualClock
from mediagate.core.timefmt import rfc2822
from mediagate.db.models import AuditEvent, WebhookDelivery
from mediagate.http.app import create_app
from mediagate.messaging import message_status, messages
from mediagate.runtime.context import Runtime
from mediagate.webhooks import enqueue
from tests.conftest import MakeRuntime
from tests.support.oai import oai_file

T0 = datetime(2026, 5, 24, 17, 18, 27, tzinfo=UTC)


@dataclass
class World:
    rt: Runtime
    clock: ManualClock
    account_sid: str
    token: str

    def send(self, body: str = "code 123456", status: str | None = "delivered") -> str:
        new = messages.NewMessage(to="+15551230001", from_="+15557650001", body=body, media_urls=[])
        sid = messages.create(self.rt, self.account_sid, new, actor="test").sid
        if status is not None:
            message_status.set_status(self.rt, sid, status)
        return sid

    def path(self, message_sid: str, account_sid: str | None = None) -> str:
        return f"/2010-04-01/Accounts/{account_sid or self.account_sid}/Messages/{message_sid}.json"


@pytest.fixture
def world(make_runtime: MakeRuntime) -> World:
    clock = ManualClock(T0)
    rt = make_runtime(clock=clock)
    made = accounts.create(rt, "redaction")
    return World(rt, clock, made.account.sid, made.auth_token)


def _post(world: World, calls: list[tuple[str, Any, tuple[str, str] | None]]) -> list[httpx.Response]:
    """Each (path, form, auth) POSTed through the app, in order; auth None: the account's token."""

    async def go() -> list[httpx.Response]:
        app = create_app(world.rt)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mediagate.test") as client:
            out = []
            for path, data, auth in calls:
                out.append(await client.post(path, data=data, auth=auth or (world.account_sid, world.token)))
            return out

    return asyncio.run(go())


def _one(world: World, path: str, data: Any, auth: tuple[str, str] | None = None) -> httpx.Response:
    return _post(world, [(path, data, auth)])[0]


def _error(r: httpx.Response, status: int, code: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and body["status"] == status, body
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    return str(body["message"])


def _audited(rt: Runtime, message_sid: str) -> list[AuditEvent]:
    with rt.sessions() as session:
        rows = list(session.scalars(select(AuditEvent).where(AuditEvent.target == message_sid)))
        session.expunge_all()
    return rows


def test_redaction_empties_the_body_and_keeps_the_rest(world: World) -> None:
    sid = world.send()
    before = messages.get(world.rt, world.account_sid, sid)
    world.clock.advance(5)
    r = _one(world, world.path(sid), {"Body": ""})
    assert r.status_code == 200, r.text
    body = r.json()
    # Twilio's own redactBody example (twilio_api_v2010.json, UpdateMessage) has exactly these keys.
    spec = json.loads(oai_file("twilio_api_v2010.json").read_text())
    op = spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"]["post"]
    example = op["responses"]["200"]["content"]["application/json"]["examples"]["redactBody"]["value"]
    assert set(body) == set(example)
    assert body["body"] == "" and body["status"] == "delivered" and body["sid"] == sid
    assert body["num_segments"] == "1" and body["num_media"] == "0"
    assert body["date_created"] == rfc2822(before.date_created)
    assert body["date_updated"] == rfc2822(T0 + timedelta(seconds=5))
    after = messages.get(world.rt, world.account_sid, sid)
    assert after.body == "" and after.status == before.status and after.to == before.to
    [event] = _audited(world.rt, sid)
    assert (event.action, event.account_sid, event.actor) == (
        "message.redact",
        world.account_sid,
        world.account_sid,
    )


def test_redacting_twice_answers_the_same_and_audits_once(world: World) -> None:
    sid = world.send()
    first, second = _post(world, [(world.path(sid), {"Body": ""}, None)] * 2)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(_audited(world.rt, sid)) == 1


@pytest.mark.parametrize("status", ["sent", "undelivered", "failed", "received"])
def test_every_post_flight_status_can_be_redacted(world: World, status: str) -> None:
    sid = world.send(status=status)
    r = _one(world, world.path(sid), {"Body": ""})
    assert r.status_code == 200 and r.json()["body"] == "" and r.json()["status"] == status


@pytest.mark.parametrize("status", [None, "sending"])  # None: still queued
def test_a_message_in_flight_keeps_its_body(world: World, status: str | None) -> None:
    sid = world.send(status=status)
    message = _error(_one(world, world.path(sid), {"Body": ""}), 400, 20009)
    assert "complete" in message
    assert messages.get(world.rt, world.account_sid, sid).body == "code 123456"
    assert _audited(world.rt, sid) == []


def test_stored_webhook_requests_lose_the_body_too(world: World) -> None:
    sid = world.send()
    with world.rt.tx() as session:
        enqueue(
            session,
            world.rt,
            account_sid=world.account_sid,
            message_sid=sid,
            kind="incoming",
            url="http://127.0.0.1:9/hook",
            method="POST",
            params=[("MessageSid", sid), ("Body", "code 123456"), ("NumMedia", "0")],
        )
    assert _one(world, world.path(sid), {"Body": ""}).status_code == 200
    with world.rt.sessions() as session:
        [params] = session.scalars(select(WebhookDelivery.params).where(WebhookDelivery.message_sid == sid))
    assert params == [["MessageSid", sid], ["Body", ""], ["NumMedia", "0"]]


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({}, "Body"),
        ({"Body": "", "Status": "canceled"}, "canceled and redacted"),
        ({"Status": "sent"}, "canceled"),
        ({"Body": "new text"}, "empty"),
    ],
)
def test_malformed_updates_are_30400(world: World, form: dict[str, str], says: str) -> None:
    sid = world.send()
    assert says in _error(_one(world, world.path(sid), form), 400, 30400)
    assert messages.get(world.rt, world.account_sid, sid).body == "code 123456"


def test_cancel_is_30409_because_nothing_is_scheduled(world: World) -> None:
    for status in (None, "delivered"):
        sid = world.send(status=status)
        assert "not scheduled" in _error(_one(world, world.path(sid), {"Status": "canceled"}), 400, 30409)
        assert messages.get(world.rt, world.account_sid, sid).status == (status or "queued")


def test_missing_or_foreign_messages_are_404(world: World) -> None:
    other = accounts.create(world.rt, "other")
    theirs = World(world.rt, world.clock, other.account.sid, other.auth_token).send()
    for form in ({"Body": ""}, {"Status": "canceled"}):
        _error(_one(world, world.path(sids.new_sid(sids.SMS)), form), 404, 20404)
        _error(_one(world, world.path(theirs), form), 404, 20404)
    assert messages.get(world.rt, other.account.sid, theirs).body == "code 123456"


def test_restricted_keys_need_messages_update(world: World) -> None:
    sid = world.send()
    without = keys.create(
        world.rt, world.account_sid, "r", actor="test", kind="restricted", permissions=[perms.MESSAGES_READ]
    )
    with_it = keys.create(
        world.rt, world.account_sid, "u", actor="test", kind="restricted", permissions=[perms.MESSAGES_UPDATE]
    )
    refused, allowed = _post(
        world,
        [
            (world.path(sid), {"Body": ""}, (without.key.sid, without.secret)),
            (world.path(sid), {"Body": ""}, (with_it.key.sid, with_it.secret)),
        ],
    )
    _error(refused, 403, 70051)
    assert allowed.status_code == 200 and allowed.json()["body"] == ""
    [event] = _audited(world.rt, sid)
    assert event.actor == with_it.key.sid
