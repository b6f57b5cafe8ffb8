"""The migrated schema is the one the models declare, on SQLite and PostgreSQL: a
column, index or constraint added to one and not the other (an index in the model
that no migration creates, as ``audit_events.action`` nearly was) fails here."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mediagate.db.models import Base
from mediagate.runtime.context import Runtime


def _documented(diff: Any, dialect: str) -> bool:
    # 0012_test_credentials keeps accounts.test_account_sid nullable on SQLite (NOT NULL
    # there would rebuild the table); every row gets a value and the model says NOT NULL.
    return (
        dialect == "sqlite"
        and isinstance(diff, list)
        and len(diff) == 1
        and diff[0][0] == "modify_nullable"
        and diff[0][2:4] == ("accounts", "test_account_sid")
    )


def test_the_migrations_build_what_the_models_declare(runtime: Runtime) -> None:
    with runtime.engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        dialect = conn.dialect.name
    assert [d for d in found if not _documented(d, dialect)] == []
