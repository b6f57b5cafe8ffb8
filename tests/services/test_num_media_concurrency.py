"""A message's ``num_media`` under concurrent adds and deletes of its media
(issue 9, finding 4), at the service layer, on SQLite and PostgreSQL.

Each operation runs on its own thread with its own session from the real
engine's pool; a barrier releases them together, so their transactions
overlap. A count kept as read-modify-write loses updates here; the count must
equal the rows that are really there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from mediagate.accounts import accounts
from mediagate.core.errors import NotFound
from mediagate.db.models import Media, Message
from mediagate.media import media
from mediagate.messaging import messages
from mediagate.runtime.context import Runtime

ROUNDS = 3  # each round a new message: more chances for the interleaving a lost update needs
WIDTH = 8  # operations released together


def new_message(rt: Runtime, n: int) -> tuple[str, str, list[str]]:
    account_sid = accounts.create(rt, "num-media").account.sid
    msg = messages.create(
        rt, account_sid, messages.NewMessage("+15550001111", "+15550002222", "hi", []), actor="t"
    )
    sids = [media.add(rt, account_sid, msg.sid, "image/png", [b"\x89PNG" + bytes([i])]).sid for i in range(n)]
    return account_sid, msg.sid, sids


def at_once(calls: list[Callable[[], str]]) -> list[str]:
    """Run the calls on their own threads, released together by a barrier; what each returned."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], str]) -> str:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def adding(rt: Runtime, account_sid: str, message_sid: str, i: int) -> Callable[[], str]:
    def call() -> str:
        media.add(rt, account_sid, message_sid, "image/png", [b"\x89PNG" + bytes([100 + i])])
        return "added"

    return call


def deleting(rt: Runtime, account_sid: str, message_sid: str, media_sid: str) -> Callable[[], str]:
    def call() -> str:
        try:
            media.delete(rt, account_sid, message_sid, media_sid, actor="t")
        except NotFound:
            return "not found"
        return "deleted"

    return call


def counts(rt: Runtime, account_sid: str, message_sid: str) -> tuple[int, int, int]:
    """(the column, what the service reports, the rows there really are)."""
    with rt.sessions() as session:
        msg = session.get(Message, message_sid)
        assert msg is not None
        rows = session.scalar(select(func.count()).select_from(Media).where(Media.message_sid == message_sid))
    return msg.num_media, messages.get(rt, account_sid, message_sid).num_media, int(rows or 0)


def test_concurrent_deletes_of_every_media_leave_zero(runtime: Runtime) -> None:
    for _ in range(ROUNDS):
        account_sid, message_sid, sids = new_message(runtime, WIDTH)
        done = at_once([deleting(runtime, account_sid, message_sid, sid) for sid in sids])
        assert done == ["deleted"] * WIDTH
        assert counts(runtime, account_sid, message_sid) == (0, 0, 0)


def test_concurrent_adds_count_every_media(runtime: Runtime) -> None:
    for _ in range(ROUNDS):
        account_sid, message_sid, _ = new_message(runtime, 1)
        done = at_once([adding(runtime, account_sid, message_sid, i) for i in range(WIDTH)])
        assert done == ["added"] * WIDTH
        assert counts(runtime, account_sid, message_sid) == (WIDTH + 1,) * 3


def test_concurrent_adds_and_deletes_agree_with_the_rows(runtime: Runtime) -> None:
    half = WIDTH // 2
    for _ in range(ROUNDS):
        account_sid, message_sid, sids = new_message(runtime, WIDTH)
        calls = [deleting(runtime, account_sid, message_sid, sid) for sid in sids[:half]]
        # Two deletes of the same media as well: one wins, the other finds nothing and changes nothing.
        calls.append(deleting(runtime, account_sid, message_sid, sids[0]))
        calls += [adding(runtime, account_sid, message_sid, i) for i in range(half)]
        done = at_once(calls)
        assert sorted(done) == sorted(["deleted"] * half + ["not found"] + ["added"] * half)
        assert counts(runtime, account_sid, message_sid) == (WIDTH,) * 3
