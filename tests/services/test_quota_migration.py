"""Migration 0007 starts every existing account's usage counters from what it stores."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from mediagate.db.engine import MIGRATIONS, alembic_config, make_engine
from tests.conftest import BACKENDS
from tests.support.databases import fresh_database


def _previous_revision() -> str:
    """What 0007 upgrades from (read from the file: merges re-chain the ids)."""
    path = MIGRATIONS / "versions" / "0007_quotas.py"
    spec = importlib.util.spec_from_file_location("m0007", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    down: str = module.down_revision
    return down


@pytest.mark.parametrize("backend", BACKENDS)
def test_existing_media_is_counted(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path, migrated=False) as url:
        engine = make_engine(url)
        cfg = alembic_config(url)
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, _previous_revision())
            now = datetime.now(UTC)
            with engine.begin() as conn:
                for sid in ("AC" + "1" * 32, "AC" + "2" * 32):
                    conn.execute(
                        text(
                            "INSERT INTO accounts (sid, friendly_name, status, auth_token_hash, "
                            "auth_token_sealed, enforce_media_http_auth, date_created, date_updated) "
                            "VALUES (:sid, 'x', 'active', 'h', 's', true, :now, :now)"
                        ),
                        {"sid": sid, "now": now},
                    )
                conn.execute(
                    text(
                        'INSERT INTO messages (sid, account_sid, "to", "from", body, status, direction, '
                        "num_media, num_segments, date_created, date_updated) VALUES "
                        "(:sid, :acct, '+1', '+2', '', 'queued', 'outbound-api', 2, 1, :now, :now)"
                    ),
                    {"sid": "MM" + "1" * 32, "acct": "AC" + "1" * 32, "now": now},
                )
                for n, size in ((1, 100), (2, 250)):
                    conn.execute(
                        text(
                            "INSERT INTO media (sid, account_sid, message_sid, content_type, size, sha256, "
                            "storage_key, auth_required, date_created, date_updated) VALUES "
                            "(:sid, :acct, :msg, 'image/png', :size, 'x', 'k', true, :now, :now)"
                        ),
                        {
                            "sid": "ME" + str(n) * 32,
                            "acct": "AC" + "1" * 32,
                            "msg": "MM" + "1" * 32,
                            "size": size,
                            "now": now,
                        },
                    )
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT account_sid, bytes_stored, media_count FROM account_usage "
                        "ORDER BY account_sid"
                    )
                ).all()
            assert [tuple(r) for r in rows] == [("AC" + "1" * 32, 350, 2), ("AC" + "2" * 32, 0, 0)]
        finally:
            engine.dispose()
