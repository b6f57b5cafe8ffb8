"""The content URL's refusals in the durable access audit, on SQLite and PostgreSQL.

A request the authenticator refuses (wrong secret, unknown key, suspended
account, a credential for another account, a key without media read) is
answered exactly as before, and recorded as an ``allowed: false`` event with
the reason class and the credential's sid, never its secret; a flood of them
is one row a second, not one a request."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from mediagate.accounts import accounts, keys
from mediagate.accounts import permissions as perms
from mediagate.core import sids
from mediagate.core.clock import ManualClock
from mediagate.core.errors import Forbidden, Unauthorized
from mediagate.db.models import MediaAccessEvent
from mediagate.edge import decide
from mediagate.http.app import create_app
from mediagate.media import access_audit
from mediagate.media import media as media_service
from mediagate.runtime.context import Runtime
from tests.conftest import MakeRuntime
from tests.support.clients import basic
from tests.support.stored import message_with_media


@dataclass
class World:
    rt: Runtime
    account_sid: str
    token: str
    message_sid: str
    media_sid: str

    @property
    def content_path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages/{self.message_sid}/Media/{self.media_sid}"

    def fetch(self, header: str | None) -> str:
        return media_service.content_location(
            self.rt, self.account_sid, self.message_sid, self.media_sid, header, client="198.51.100.7"
        )


@pytest.fixture
def clock() -> ManualClock:
    # Mid-second: a refusal and the next ones share their UTC second until the test moves time.
    return ManualClock(datetime.now(UTC).replace(microsecond=500_000))


@pytest.fixture
def world(make_runtime: MakeRuntime, clock: ManualClock) -> World:
    runtime = make_runtime(clock=clock)
    made = accounts.create(runtime, "audited")
    message_sid, media_sid = message_with_media(runtime, made.account.sid, "audit")
    return World(runtime, made.account.sid, made.auth_token, message_sid, media_sid)


def _refusal_rows(rt: Runtime) -> list[MediaAccessEvent]:
    access_audit.flush(rt)
    with rt.sessions() as session:
        rows = session.scalars(
            select(MediaAccessEvent).where(MediaAccessEvent.allowed.is_(False)).order_by(MediaAccessEvent.sid)
        ).all()
        session.expunge_all()
    return list(rows)


def _wrong(world: World) -> tuple[str, str, tuple[str, str | None], str]:
    secret = world.token[:-4] + "zzzz"
    return basic(world.account_sid, secret), secret, ("auth_token", world.account_sid), "bad-secret"


def _unknown_key(world: World) -> tuple[str, str, tuple[str, str | None], str]:
    sid = sids.new_sid(sids.KEY)
    return basic(sid, "no-such-secret-1234"), "no-such-secret-1234", ("api_key", sid), "unknown"


def _deleted_key(world: World) -> tuple[str, str, tuple[str, str | None], str]:
    made = keys.create(world.rt, world.account_sid, "gone", actor="test")
    keys.delete(world.rt, world.account_sid, made.key.sid, actor="test")
    return basic(made.key.sid, made.secret), made.secret, ("api_key", made.key.sid), "unknown"


def _suspended(world: World) -> tuple[str, str, tuple[str, str | None], str]:
    # The path's account is a suspended subaccount, asked with its own token.
    sub = accounts.create_subaccount(world.rt, world.account_sid, "sub")
    message_sid, media_sid = message_with_media(world.rt, sub.account.sid)
    accounts.update(
        world.rt, sub.account.sid, actor_account=world.account_sid, friendly_name=None, status="suspended"
    )
    world.account_sid, world.message_sid, world.media_sid = sub.account.sid, message_sid, media_sid
    return basic(sub.account.sid, sub.auth_token), sub.auth_token, ("auth_token", sub.account.sid), "inactive"


def _other_account(world: World) -> tuple[str, str, tuple[str, str | None], str]:
    other = accounts.create(world.rt, "someone else")
    return (
        basic(other.account.sid, other.auth_token),
        other.auth_token,
        ("auth_token", other.account.sid),
        "no-access",
    )


def _no_media_read(world: World) -> tuple[str, str, tuple[str, str | None], str]:
    made = keys.create(
        world.rt,
        world.account_sid,
        "msgs",
        actor="test",
        kind="restricted",
        permissions=[perms.MESSAGES_READ],
    )
    return basic(made.key.sid, made.secret), made.secret, ("api_key", made.key.sid), "permission"


def _malformed(world: World) -> tuple[str, str, tuple[str, str | None], str]:
    # Not a sid: whatever it is (a pasted secret?) is not recorded.
    return basic("not-a-sid-secretish", "pw-secretish"), "secretish", ("none", None), "malformed"


CASES = {
    "wrong-secret": (_wrong, Unauthorized),
    "unknown-key": (_unknown_key, Unauthorized),
    "deleted-key": (_deleted_key, Unauthorized),
    "suspended-account": (_suspended, Unauthorized),
    "another-account": (_other_account, Unauthorized),
    "missing-permission": (_no_media_read, Forbidden),
    "malformed": (_malformed, Unauthorized),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_refused_credential_is_an_audited_refusal(world: World, case: str) -> None:
    make, error = CASES[case]
    header, secret, credential, reason = make(world)
    with pytest.raises(error):
        world.fetch(header)
    rows = _refusal_rows(world.rt)
    got = [
        (
            r.host,
            r.account_sid,
            r.media_sid,
            r.credential_kind,
            r.credential_sid,
            r.reason,
            r.client_ip,
            r.count,
        )
        for r in rows
    ]
    assert got == [("api", world.account_sid, world.media_sid, *credential, reason, "198.51.100.7", 1)]
    # The credential by its sid only: never the secret, never the header.
    stored = " ".join(str(getattr(rows[0], c.name)) for c in MediaAccessEvent.__table__.columns)
    assert secret not in stored and header.split()[1] not in stored


def test_a_flood_of_wrong_secrets_is_one_row_a_second(world: World, clock: ManualClock) -> None:
    for _ in range(3):
        for i in range(400):
            with pytest.raises(Unauthorized):
                world.fetch(basic(world.account_sid, f"{world.token[:-4]}{i:04d}"))
        clock.advance(1)
    rows = _refusal_rows(world.rt)
    assert [r.count for r in rows] == [400, 400, 400]
    assert {(r.reason, r.credential_sid) for r in rows} == {("bad-secret", world.account_sid)}


def test_the_answers_are_unchanged_and_the_api_lists_the_refusals(world: World) -> None:
    """Over HTTP: every credential refusal is the same 401 (or the 403 of a
    missing permission) as before, whatever the reason, and the account's
    ``MediaAccessEvents`` lists the refusals with their reasons."""
    refusals = [
        _wrong(world),
        _unknown_key(world),
        _other_account(world),
        _malformed(world),
        _no_media_read(world),
    ]

    async def run() -> tuple[list[tuple[int, Any]], dict[str, Any]]:
        app = create_app(world.rt)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://mediagate.test", timeout=60) as client,
        ):
            answers = []
            for header, *_ in refusals:
                r = await client.get(world.content_path, headers={"Authorization": header})
                answers.append((r.status_code, r.json()))
            await asyncio.to_thread(access_audit.flush, world.rt)
            listed = await client.get(
                f"/v1/Accounts/{world.account_sid}/MediaAccessEvents",
                params={"MediaSid": world.media_sid},
                auth=(world.account_sid, world.token),
            )
            assert listed.status_code == 200, listed.text
            return answers, listed.json()

    answers, listed = asyncio.run(run())
    unauthorized = (401, Unauthorized().body())
    forbidden = (403, Forbidden("Authorization Failed", code=70051).body())
    assert answers == [unauthorized] * 4 + [forbidden]
    events = [e for e in listed["media_access_events"] if not e["allowed"]]
    assert sorted((e["reason"], e["credential_sid"], e["count"]) for e in events) == sorted(
        (reason, credential[1], 1) for _, _, credential, reason in refusals
    )
    assert all(e["host"] == "api" and e["media_sid"] == world.media_sid for e in events)


def test_an_allowed_access_is_still_recorded_as_allowed(world: World) -> None:
    world.fetch(basic(world.account_sid, world.token))
    access_audit.flush(world.rt)
    with world.rt.sessions() as session:
        allowed = session.scalar(
            select(func.count()).select_from(MediaAccessEvent).where(MediaAccessEvent.allowed.is_(True))
        )
    assert allowed == 1
    assert _refusal_rows(world.rt) == []


def test_direct_delivery_audits_its_refusals_the_same_way(world: World) -> None:
    """Direct delivery (MediaDelivery Mode=direct) decides through the content
    URL's check, so its refusals are recorded alike."""
    header, _, credential, reason = _wrong(world)
    with pytest.raises(Unauthorized):
        decide.direct(
            world.rt,
            world.account_sid,
            world.message_sid,
            world.media_sid,
            "GET",
            header,
            decide.NO_CONDITIONS,
            "198.51.100.7",
            memory_only=False,
        )
    rows = _refusal_rows(world.rt)
    assert [(r.credential_kind, r.credential_sid, r.reason, r.count) for r in rows] == [
        (*credential, reason, 1)
    ]
