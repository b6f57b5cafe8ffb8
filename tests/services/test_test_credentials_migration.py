"""Migration 0012 gives every existing account a test Account SID of its own; the
first start after it issues their test auth tokens (it needs the master secret,
which a migration does not hold), and those credentials then work."""

from __future__ import annotations

import importlib.util
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from mediagate.accounts import test_credentials
from mediagate.core import sids
from mediagate.core.settings import Settings
from mediagate.db.engine import MIGRATIONS, alembic_config, make_engine
from mediagate.db.models import Account
from mediagate.runtime.context import build_runtime
from tests.conftest import BACKENDS
from tests.support.databases import fresh_database

OLD = ["AC" + "1" * 32, "AC" + "2" * 32]


def _previous_revision() -> str:
    """What 0012 upgrades from (read from the file: merges re-chain the ids)."""
    path = MIGRATIONS / "versions" / "0012_test_credentials.py"
    spec = importlib.util.spec_from_file_location("m0012", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    down: str = module.down_revision
    return down


@pytest.mark.parametrize("backend", BACKENDS)
def test_existing_accounts_get_test_credentials(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path, migrated=False) as url:
        engine = make_engine(url)
        cfg = alembic_config(url)
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, _previous_revision())
            now = datetime.now(UTC)
            with engine.begin() as conn:
                for sid in OLD:
                    conn.execute(
                        text(
                            "INSERT INTO accounts (sid, friendly_name, status, auth_token_hash, "
                            "auth_token_sealed, enforce_media_http_auth, date_created, date_updated) "
                            "VALUES (:sid, 'x', 'active', 'h', 's', true, :now, :now)"
                        ),
                        {"sid": sid, "now": now},
                    )
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT sid, test_account_sid, test_auth_token_hash FROM accounts ORDER BY sid")
                ).all()
        finally:
            engine.dispose()
        assert [r.sid for r in rows] == OLD
        test_sids = {r.test_account_sid for r in rows}
        assert len(test_sids) == 2 and not test_sids & set(OLD)
        assert all(sids.is_sid(s, sids.ACCOUNT) for s in test_sids)
        assert all(r.test_auth_token_hash is None for r in rows)  # not yet: no master secret here

        settings = Settings(data_dir=tmp_path / "data", database_url=url, secret_key=secrets.token_hex(32))
        rt = build_runtime(settings)
        try:
            with rt.sessions() as session:
                issued = {a.sid: a for a in session.query(Account).order_by(Account.sid)}
                tokens = {sid: test_credentials.reveal(rt, a) for sid, a in issued.items()}
                hashes = {sid: a.test_auth_token_hash for sid, a in issued.items()}
            for sid, token in tokens.items():
                assert token is not None and hashes[sid] == rt.keyring.hash_secret(token)
            # Issued once: a second start keeps them.
            assert test_credentials.issue_missing(rt.sessions, rt.keyring) == 0
        finally:
            rt.close()
