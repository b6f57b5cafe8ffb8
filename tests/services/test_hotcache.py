"""``media/hotcache.py`` and the content redirect's answers from memory, on a real
database: what is remembered, what never is, and that every revocation made in
this process is refused by the very next request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from mediagate.accounts import accounts, keys
from mediagate.accounts import permissions as perms
from mediagate.cluster.invalidation import Invalidation
from mediagate.core.errors import Forbidden, NotFound, Unauthorized
from mediagate.media import maintenance
from mediagate.media import media as media_service
from mediagate.media.hotcache import HotCaches, Memo
from mediagate.messaging import messages
from mediagate.runtime.context import Runtime
from tests.support.clients import basic
from tests.support.stored import message_with_media


@dataclass
class World:
    rt: Runtime
    account_sid: str
    token: str
    message_sid: str
    media_sid: str

    def memory(self, header: str | None) -> str | None:
        return media_service.content_location_from_memory(
            self.rt, self.account_sid, self.message_sid, self.media_sid, header
        )

    def database(self, header: str | None) -> str:
        return media_service.content_location(
            self.rt, self.account_sid, self.message_sid, self.media_sid, header
        )

    def refused(self, header: str | None) -> type[Exception] | None:
        """What the next request gets: from memory when remembered, else from the database."""
        try:
            if self.memory(header) is None:
                self.database(header)
        except (Unauthorized, Forbidden, NotFound) as exc:
            return type(exc)
        return None


@pytest.fixture
def world(runtime: Runtime) -> Iterator[World]:
    # Entries outlive the test: what is remembered, or dropped by a change, must not
    # depend on how fast a loaded machine runs (the age bound is tested on Memo).
    runtime.hot = HotCaches(runtime.invalidation, max_age=3600.0)
    runtime.signer.start()  # as a server does: signing never reads the database then
    made = accounts.create(runtime, "hot")
    message_sid, media_sid = message_with_media(runtime, made.account.sid, "hot")
    yield World(runtime, made.account.sid, made.auth_token, message_sid, media_sid)
    runtime.signer.stop()


def test_a_good_credential_is_remembered_under_a_digest(world: World) -> None:
    header = basic(world.account_sid, world.token)
    assert world.memory(header) is None  # nothing remembered yet
    url = world.database(header)
    remembered = world.memory(header)
    assert remembered is not None and remembered.split("?")[0] == url.split("?")[0]
    stored = list(world.rt.hot.credentials._items)
    assert stored == [world.rt.hot.digest(header)]
    assert all(world.token.encode() not in key and header.encode() not in key for key in stored)


def test_wrong_secrets_are_never_remembered_and_cannot_grow_memory(world: World) -> None:
    good = basic(world.account_sid, world.token)
    world.database(good)
    for i in range(300):
        wrong = basic(world.account_sid, f"{world.token[:-4]}{i:04d}")
        with pytest.raises(Unauthorized):
            world.database(wrong)
        assert world.memory(wrong) is None
    assert len(world.rt.hot.credentials) == 1
    assert world.memory(good) is not None


def test_memory_is_bounded() -> None:
    memo: Memo[int, int] = Memo(Invalidation(), max_entries=50, max_age=60)
    for i in range(1000):
        memo.put(i, i, memo.begin())
    assert len(memo) == 50
    assert memo.get(999) == 999 and memo.get(0) is None


def test_an_entry_is_not_answered_past_its_maximum_age() -> None:
    elapsed = [0.0]
    memo: Memo[str, str] = Memo(Invalidation(), max_entries=10, max_age=1.0, now=lambda: elapsed[0])
    memo.put("k", "v", memo.begin())
    elapsed[0] = 1.0
    assert memo.get("k") == "v"  # at the bound
    elapsed[0] = 1.001
    assert memo.get("k") is None
    assert memo.stale("k") == "v"  # kept for an outage, never answered as fresh


def test_an_answer_read_before_an_invalidation_is_not_stored() -> None:
    memo: Memo[str, str] = Memo(Invalidation(), max_entries=10, max_age=60)
    generation = memo.begin()
    memo.drop("SKx")  # the key was deleted while the database was being read
    memo.put("SKx", "stale principal", generation)
    assert memo.get("SKx") is None


def test_nothing_is_remembered_while_the_channel_could_miss_messages() -> None:
    bus = Invalidation("redis://127.0.0.1:6379/0", "mg-test-never-started")  # not subscribed
    memo: Memo[str, str] = Memo(bus, max_entries=10, max_age=60)
    memo.put("k", "v", memo.begin())
    assert memo.get("k") is None and len(memo) == 0


Revocation = Callable[[World, str], str]  # performs it, returns the header that must now fail


def _deleted_key(w: World, _: str) -> str:
    key = keys.create(w.rt, w.account_sid, "k", actor="test")
    header = basic(key.key.sid, key.secret)
    w.database(header)
    assert w.memory(header) is not None
    keys.delete(w.rt, w.account_sid, key.key.sid, actor="test")
    return header


def _narrowed_policy(w: World, _: str) -> str:
    key = keys.create(
        w.rt, w.account_sid, "r", actor="test", kind="restricted", permissions=[perms.MEDIA_READ]
    )
    header = basic(key.key.sid, key.secret)
    w.database(header)
    assert w.memory(header) is not None
    others = [p for p in sorted(perms.GRANTABLE) if p != perms.MEDIA_READ][:1]
    keys.update(w.rt, w.account_sid, key.key.sid, None, permissions=others)
    return header


def _promoted_token(w: World, token_header: str) -> str:
    accounts.create_secondary_token(w.rt, w.account_sid, actor="test")
    accounts.promote_secondary_token(w.rt, w.account_sid, actor="test")
    return token_header


def _deleted_secondary(w: World, _: str) -> str:
    change = accounts.create_secondary_token(w.rt, w.account_sid, actor="test")
    header = basic(w.account_sid, change.token)
    w.database(header)
    assert w.memory(header) is not None
    accounts.delete_secondary_token(w.rt, w.account_sid, actor="test")
    return header


def _deleted_media(w: World, token_header: str) -> str:
    media_service.delete(w.rt, w.account_sid, w.message_sid, w.media_sid, actor="test")
    return token_header


def _deleted_message(w: World, token_header: str) -> str:
    messages.delete_message(w.rt, w.account_sid, w.message_sid, actor="test")
    return token_header


REVOCATIONS: dict[str, tuple[Revocation, type[Exception]]] = {
    "deleted key": (_deleted_key, Unauthorized),
    "narrowed restricted key": (_narrowed_policy, Forbidden),
    "promoted token (old primary)": (_promoted_token, Unauthorized),
    "deleted secondary token": (_deleted_secondary, Unauthorized),
    "deleted media": (_deleted_media, NotFound),
    "deleted message": (_deleted_message, NotFound),
}


@pytest.mark.parametrize("name", list(REVOCATIONS))
def test_revocation_is_refused_on_the_very_next_request(world: World, name: str) -> None:
    revoke, refusal = REVOCATIONS[name]
    token_header = basic(world.account_sid, world.token)
    world.database(token_header)
    assert world.memory(token_header) is not None
    header = revoke(world, token_header)
    assert world.refused(header) is refusal


def test_suspended_subaccount_and_parent_reach(world: World) -> None:
    sub = accounts.create_subaccount(world.rt, world.account_sid, "sub")
    message_sid, media_sid = message_with_media(world.rt, sub.account.sid)
    child = World(world.rt, sub.account.sid, sub.auth_token, message_sid, media_sid)
    own, parent = basic(child.account_sid, child.token), basic(world.account_sid, world.token)
    for header in (own, parent):
        child.database(header)
        assert child.memory(header) is not None
    accounts.update(
        world.rt, child.account_sid, actor_account=world.account_sid, friendly_name=None, status="suspended"
    )
    assert child.refused(own) is Unauthorized and child.refused(parent) is Unauthorized
    accounts.update(
        world.rt, child.account_sid, actor_account=world.account_sid, friendly_name=None, status="active"
    )
    assert child.refused(own) is None and child.refused(parent) is None


def test_secured_legacy_media_is_no_longer_public(world: World) -> None:
    accounts.set_enforcement(world.rt, world.account_sid, False, actor="test", via="test")
    message_sid, media_sid = message_with_media(world.rt, world.account_sid)
    legacy = World(world.rt, world.account_sid, world.token, message_sid, media_sid)
    legacy.database(None)
    assert legacy.memory(None) is not None  # anonymous: the public URL, from memory
    for _ in maintenance.secure_legacy(world.rt, world.account_sid, actor="test"):
        pass
    assert legacy.refused(None) is Unauthorized
