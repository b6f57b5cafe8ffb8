"""The wired-up parts a request or a CLI command works with.

``create_app`` and the CLI each build one ``Runtime`` from settings and hand
it to services; tests build their own. Nothing reaches for module globals.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mediagate.cluster.coherence import Coherence
from mediagate.cluster.invalidation import Invalidation
from mediagate.cluster.journal import Journal as InvalidationJournal
from mediagate.cluster.shared_slots import SharedSlots
from mediagate.core import clock as clocks
from mediagate.core.clock import Clock, OffsetClock, SystemClock
from mediagate.core.crypto import Keyring, load_master_secret
from mediagate.core.fsmodes import private_dir
from mediagate.core.settings import Settings
from mediagate.db.engine import engine_for, make_sessionmaker, upgrade
from mediagate.media import signing_key_store
from mediagate.media.access import AccessRecorder
from mediagate.media.access_audit import AccessAudit
from mediagate.media.fetch import FetchPolicy, MediaFetcher
from mediagate.media.fetch_limits import FetchGate
from mediagate.media.signing import Signer
from mediagate.storage import MediaStore, make_store

if TYPE_CHECKING:
    # Not at import time: it imports prometheus_client, which `mediagate serve`
    # must configure (observability/multiproc.py) before anything imports it.
    from mediagate.accounts.quotas import IngestMeter
    from mediagate.media.direct_delivery import DirectAccounts
    from mediagate.media.hotcache import HotCaches
    from mediagate.media.media import EdgeObjectCache
    from mediagate.testmode.state import TestMode


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: Keyring
    store: MediaStore
    signer: Signer
    fetcher: MediaFetcher
    fetch_gate: FetchGate  # fair shares of MediaUrl fetching (media/fetch_limits.py)
    ingest_meter: IngestMeter  # the hourly ingest quota's counters (accounts/quotas.py)
    direct_accounts: DirectAccounts  # whose content URL answers the bytes (media/direct_delivery.py)
    # The cross-process invalidation channel and the caches it keeps honest.
    invalidation: Invalidation
    hot: HotCaches  # the content redirect's credentials and media rows
    edge_objects: EdgeObjectCache  # the secured host's lookups
    access_audit: AccessAudit  # queued access events (media/access_audit.py)
    # Reads the invalidation records; the server's lifespan starts it (cluster/coherence.py).
    coherence: Coherence | None = None
    # Concurrency slots counted across processes, with MEDIAGATE_REDIS_URL (cluster/shared_slots.py).
    shared_slots: SharedSlots | None = None
    # Fetches waiting to be written (retention's last access / first download).
    access: AccessRecorder = field(default_factory=lambda: AccessRecorder(50_000))
    # What time it is for every rule that reads time (core/clock.py): the system
    # clock, or a clock tests and the test mode move forward.
    clock: Clock = field(default_factory=SystemClock)
    # MEDIAGATE_TEST_MODE only (testmode/): the clock /v1/Testing/Clock moves, faults, journal.
    testing: TestMode | None = None

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    def close(self) -> None:
        if self.coherence is not None:
            self.coherence.stop()
        self.invalidation.stop()
        self.signer.stop()
        self.fetcher.close()
        if self.shared_slots is not None:
            self.shared_slots.close()
        self.engine.dispose()


def build_runtime(settings: Settings, *, migrate: bool = True, clock: Clock | None = None) -> Runtime:
    from mediagate.accounts import test_credentials
    from mediagate.accounts.quotas import IngestMeter
    from mediagate.cluster import invalidation as inv
    from mediagate.media import encryption
    from mediagate.media.direct_delivery import DirectAccounts
    from mediagate.media.hotcache import HotCaches
    from mediagate.media.media import EdgeObjectCache

    private_dir(settings.data_dir)
    engine = engine_for(settings)
    if migrate:
        upgrade(engine)
    clock = clock if clock is not None else SystemClock()
    testing = None
    if settings.test_mode:
        from mediagate.testmode.faults import Faults
        from mediagate.testmode.journal import Journal as TestJournal
        from mediagate.testmode.state import TestMode

        # Every rule reads this clock; POST /v1/Testing/Clock moves it forward.
        clock = OffsetClock(clock)
        testing = TestMode(clock, Faults(), TestJournal(settings.test_journal_size, clock))
    # Sessions carry the clock to the column defaults (db/models.py), so a row
    # stamped by a default carries the runtime's time, not the wall clock's.
    sessions = make_sessionmaker(engine.execution_options(**{clocks.EXECUTION_OPTION: clock}))
    keyring = Keyring(load_master_secret(settings.secret_key, settings.data_dir))
    store = encryption.wrap_store(settings, sessions, keyring, make_store(settings))
    policy = FetchPolicy(allow_private=settings.allow_private_media_urls)
    shared = (
        SharedSlots(
            settings.redis_url,
            settings.redis_key_prefix,
            lease=settings.shared_slot_lease,
            timeout=settings.redis_timeout,
        )
        if settings.redis_url
        else None
    )
    journal = InvalidationJournal(engine, clock)
    bus = Invalidation(
        settings.redis_url,
        settings.redis_key_prefix,
        health_interval=settings.redis_health_interval,
        health_timeout=settings.redis_health_timeout,
        journal=journal,
    )
    coherence = Coherence(
        bus,
        journal,
        clock,
        interval=settings.coherence_poll_interval,
        bound=settings.coherence_bound,
        retention=settings.invalidation_retention,
    )
    signer = Signer(
        signing_key_store.loader(sessions, keyring),
        settings.signed_url_ttl,
        settings.signing_key_refresh,
        clock=clock,
    )
    # Another process retired a key (or published one): re-read now, not at the
    # next refresh. After a lost connection, re-read too (a message may be lost).
    bus.subscribe(inv.SIGNING_KEY, signer.forget)
    bus.on_reset(signer.try_reload_quietly)
    direct_accounts = DirectAccounts(settings.direct_delivery_refresh)
    bus.subscribe(inv.DELIVERY, lambda _: direct_accounts.invalidate())
    edge_objects = EdgeObjectCache(bus)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        keyring=keyring,
        store=store,
        signer=signer,
        fetcher=MediaFetcher(policy),
        fetch_gate=FetchGate(settings.fetch_concurrency, settings.fetch_concurrency_per_account, shared),
        shared_slots=shared,
        ingest_meter=IngestMeter(
            settings.redis_url, settings.redis_key_prefix, clock, redis_timeout=settings.redis_timeout
        ),
        direct_accounts=direct_accounts,
        access=AccessRecorder(settings.access_buffer_max, clock),
        invalidation=bus,
        coherence=coherence,
        hot=HotCaches(bus),
        edge_objects=edge_objects,
        access_audit=AccessAudit(settings.access_audit_queue_size, clock),
        clock=clock,
        testing=testing,
    )
    signing_key_store.ensure_active(sessions, keyring, signer, bus)
    # Accounts older than migration 0012 get their test auth token (it needs the keyring).
    test_credentials.issue_missing(sessions, keyring)
    return runtime
