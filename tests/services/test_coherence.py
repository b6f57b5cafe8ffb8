"""The coherence bound in process (``cluster/coherence.py``, ``cluster/journal.py``),
on SQLite and PostgreSQL with a ManualClock: a change is written to the database
by whoever makes it, a process that reads the records applies it whatever Redis
did, and a process that cannot read them for longer than the bound stops
answering from memory.

Two runtimes on one database stand for two processes: ``a`` makes the change,
``b`` remembered the answer. ``b``'s poller is driven by hand (``poll``), so
nothing here depends on how fast the machine runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mediagate.accounts import accounts, keys
from mediagate.cluster.coherence import BATCH
from mediagate.cluster.invalidation import CREDENTIAL, MEDIA
from mediagate.core.clock import ManualClock
from mediagate.core.errors import NotFound, Unauthorized
from mediagate.db.models import InvalidationRecord
from mediagate.media import media as media_service
from mediagate.media.direct_delivery import set_direct
from mediagate.media.hotcache import HotCaches
from mediagate.runtime.context import Runtime
from tests.conftest import MakeRuntime
from tests.support.cli import run_cli
from tests.support.clients import basic
from tests.support.server import free_port
from tests.support.stored import message_with_media

BOUND = 2.0
INTERVAL = 0.5


@dataclass
class Pair:
    a: Runtime  # makes the change
    b: Runtime  # remembered the answer
    clock: ManualClock
    account_sid: str
    token: str
    message_sid: str
    media_sid: str

    def memory(self, header: str) -> str | None:
        return media_service.content_location_from_memory(
            self.b, self.account_sid, self.message_sid, self.media_sid, header
        )

    def database(self, header: str) -> str:
        return media_service.content_location(
            self.b, self.account_sid, self.message_sid, self.media_sid, header
        )

    def remembered_by_b(self, header: str) -> None:
        self.database(header)
        assert self.memory(header) is not None


def _unreachable_redis() -> str:
    # A port nothing listens on: every publish fails at once (connection refused).
    return f"redis://127.0.0.1:{free_port()}/0"


def _pair(make_runtime: MakeRuntime, *, a_redis: str, b_redis: str) -> Iterator[Pair]:
    clock = ManualClock()
    # Direct delivery re-read only when told (or after 300 s): the poll must tell it.
    common = {"coherence_bound": BOUND, "coherence_poll_interval": INTERVAL, "direct_delivery_refresh": 300.0}
    a = make_runtime(clock=clock, redis_url=a_redis, **common)
    b = make_runtime(clock=clock, redis_url=b_redis, **common)
    # Entries outlive the test (the age bound is not what is tested here).
    b.hot = HotCaches(b.invalidation, max_age=3600.0)
    assert b.coherence is not None
    b.coherence.arm()  # as the server's lifespan does, without the thread
    b.coherence.poll()
    b.signer.start()
    made = accounts.create(a, "coherent")
    message_sid, media_sid = message_with_media(a, made.account.sid, "coherent")
    yield Pair(a, b, clock, made.account.sid, made.auth_token, message_sid, media_sid)
    b.signer.stop()


@pytest.fixture
def pair(make_runtime: MakeRuntime) -> Iterator[Pair]:
    """Both processes configured with a Redis that cannot be reached."""
    yield from _pair(make_runtime, a_redis=_unreachable_redis(), b_redis=_unreachable_redis())


def test_a_change_published_with_redis_unreachable_is_reflected_after_one_poll(pair: Pair) -> None:
    key = keys.create(pair.a, pair.account_sid, "doomed", actor="test")
    header = basic(key.key.sid, key.secret)
    pair.remembered_by_b(header)

    keys.delete(pair.a, pair.account_sid, key.key.sid, actor="test")  # Redis refuses the message
    assert pair.memory(header) is not None  # b has not read the records yet: it still remembers

    assert pair.b.coherence is not None
    assert pair.b.coherence.poll() >= 1
    assert pair.memory(header) is None
    with pytest.raises(Unauthorized):
        pair.database(header)


def test_a_deleted_media_is_reflected_after_one_poll(pair: Pair) -> None:
    header = basic(pair.account_sid, pair.token)
    pair.remembered_by_b(header)
    media_service.delete(pair.a, pair.account_sid, pair.message_sid, pair.media_sid, actor="test")
    assert pair.b.coherence is not None
    pair.b.coherence.poll()
    assert pair.memory(header) is None
    with pytest.raises(NotFound):
        pair.database(header)


def test_a_delivery_mode_change_is_reflected_after_one_poll(pair: Pair) -> None:
    direct = pair.b.direct_accounts
    direct.load(pair.b)
    assert direct.fresh() and not direct.cached(pair.account_sid)
    set_direct(pair.a, pair.account_sid, True)
    assert direct.fresh() and not direct.cached(pair.account_sid)  # b has not read the records yet
    assert pair.b.coherence is not None
    pair.b.coherence.poll()
    assert not direct.fresh()  # the next content request re-reads the set
    direct.load(pair.b)
    assert direct.cached(pair.account_sid)


def test_a_process_whose_poll_fails_longer_than_the_bound_refuses_memory_answers(pair: Pair) -> None:
    header = basic(pair.account_sid, pair.token)
    pair.remembered_by_b(header)
    coherence = pair.b.coherence
    assert coherence is not None
    # The records become unreadable (as with a database b cannot reach).
    with pair.a.engine.begin() as conn:
        conn.execute(text("ALTER TABLE invalidations RENAME TO invalidations_away"))
    try:
        with pytest.raises(DBAPIError):
            coherence.poll()
        assert coherence.run_once() == 0  # the worker's pass: logged, not raised
        pair.clock.advance(BOUND - 0.01)
        assert pair.memory(header) is not None  # within the bound since the last good read
        pair.clock.advance(0.02)
        assert pair.memory(header) is None  # past it: nothing from memory
        # ... and nothing is remembered meanwhile: the database path answers every time.
        pair.database(header)
        assert pair.memory(header) is None
    finally:
        with pair.a.engine.begin() as conn:
            conn.execute(text("ALTER TABLE invalidations_away RENAME TO invalidations"))
    # A good read vouches again, after dropping what was remembered before the gap.
    coherence.poll()
    assert pair.memory(header) is None
    pair.remembered_by_b(header)


def test_the_cli_without_redis_settings_reaches_a_process_that_uses_redis(
    make_runtime: MakeRuntime, db_url: str
) -> None:
    """Finding 3: ``mediagate keys delete`` run without MEDIAGATE_REDIS_URL."""
    for pair in _pair(make_runtime, a_redis="", b_redis=_unreachable_redis()):
        key = keys.create(pair.a, pair.account_sid, "doomed", actor="test")
        header = basic(key.key.sid, key.secret)
        pair.remembered_by_b(header)
        env = {
            "MEDIAGATE_DATA_DIR": str(pair.a.settings.data_dir),
            "MEDIAGATE_DATABASE_URL": db_url,
            "MEDIAGATE_SECRET_KEY": pair.a.settings.secret_key,
        }
        done = run_cli(env, "keys", "delete", pair.account_sid, key.key.sid)
        assert done.returncode == 0, done.stderr
        assert "MEDIAGATE_COHERENCE_BOUND" in run_cli(env, "keys", "delete", "--help").stdout
        assert pair.b.coherence is not None
        pair.b.coherence.poll()
        assert pair.memory(header) is None
        with pytest.raises(Unauthorized):
            pair.database(header)


def test_records_are_read_in_order_pruned_by_age_and_a_backlog_forgets_everything(pair: Pair) -> None:
    header = basic(pair.account_sid, pair.token)
    coherence = pair.b.coherence
    assert coherence is not None
    journal = pair.a.invalidation.journal
    assert journal is not None
    journal.record(CREDENTIAL, ["SK-one", "SK-two"])
    head = journal.head()
    assert [(e.topic, e.key) for e in journal.since(head - 2, 10)] == [
        (CREDENTIAL, "SK-one"),
        (CREDENTIAL, "SK-two"),
    ]
    # A backlog larger than one read: b forgets everything rather than replaying it.
    pair.remembered_by_b(header)
    journal.record(MEDIA, [f"ME{i:032x}" for i in range(BATCH)])
    coherence.poll()
    assert pair.memory(header) is None
    pair.remembered_by_b(header)
    coherence.poll()  # caught up: nothing to apply, memory kept
    assert pair.memory(header) is not None
    # Pruned by age on the runtime's clock.
    pair.clock.advance(pair.a.settings.invalidation_retention + 1)
    journal.record(CREDENTIAL, ["SK-fresh"])
    assert journal.prune(pair.a.settings.invalidation_retention) >= BATCH + 2
    with pair.a.sessions() as session:
        assert session.query(InvalidationRecord).count() == 1
