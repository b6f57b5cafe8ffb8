"""The wired-up parts a request or a CLI command works with.

``create_app`` and the CLI each build one ``Runtime`` from settings and hand
it to services; tests build their own. Nothing reaches for module globals.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mediagate.crypto import Keyring, load_master_secret
from mediagate.db.engine import engine_for, make_sessionmaker, upgrade
from mediagate.fsmodes import private_dir
from mediagate.services.fetch import FetchPolicy, MediaFetcher
from mediagate.services.fetch_limits import FetchGate
from mediagate.settings import Settings
from mediagate.signing import Signer
from mediagate.storage import MediaStore, make_store


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: Keyring
    store: MediaStore
    signer: Signer
    fetcher: MediaFetcher
    fetch_gate: FetchGate  # fair shares of MediaUrl fetching (services/fetch_limits.py)

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.signer.stop()
        self.fetcher.close()
        self.engine.dispose()


def build_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    from mediagate.services import encryption, signing_keys

    private_dir(settings.data_dir)
    engine = engine_for(settings)
    if migrate:
        upgrade(engine)
    sessions = make_sessionmaker(engine)
    keyring = Keyring(load_master_secret(settings.secret_key, settings.data_dir))
    store = encryption.wrap_store(settings, sessions, keyring, make_store(settings))
    policy = FetchPolicy(allow_private=settings.allow_private_media_urls)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        keyring=keyring,
        store=store,
        signer=Signer(
            signing_keys.loader(sessions, keyring), settings.signed_url_ttl, settings.signing_key_refresh
        ),
        fetcher=MediaFetcher(policy),
        fetch_gate=FetchGate(settings.fetch_concurrency, settings.fetch_concurrency_per_account),
    )
    signing_keys.ensure_active(runtime)
    return runtime
