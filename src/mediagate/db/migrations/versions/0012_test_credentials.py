"""Twilio's test credentials: accounts.test_account_sid, test_auth_token_hash, test_auth_token_sealed

Every account gets a test Account SID of its own (AC + 32 hex, unique, never an
account's live SID). Existing accounts get theirs here. Their test auth token
cannot be made here: it is stored hashed and sealed with keys derived from the
server's master secret, which a migration does not hold. The first server or
CLI start after this revision issues it (``accounts.test_credentials.issue_missing``);
until then those accounts' test credentials authenticate nothing.

SQLite keeps test_account_sid nullable (adding NOT NULL there means rebuilding
the accounts table every other table refers to); every row has one all the same.

Revision ID: 0012_test_credentials
Revises: 0011
Create Date: 2026-12-06 11:20:00
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0012_test_credentials"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("test_account_sid", sa.String(length=34), nullable=True))
    op.add_column("accounts", sa.Column("test_auth_token_hash", sa.String(length=64), nullable=True))
    op.add_column("accounts", sa.Column("test_auth_token_sealed", sa.Text(), nullable=True))
    bind = op.get_bind()
    accounts = sa.table("accounts", sa.column("sid", sa.String), sa.column("test_account_sid", sa.String))
    for (sid,) in bind.execute(sa.select(accounts.c.sid)).all():
        bind.execute(
            accounts.update()
            .where(accounts.c.sid == sid)
            .values(test_account_sid="AC" + secrets.token_hex(16))
        )
    if bind.dialect.name == "postgresql":
        op.alter_column("accounts", "test_account_sid", nullable=False)
    op.create_index("ix_accounts_test_account_sid", "accounts", ["test_account_sid"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_accounts_test_account_sid", table_name="accounts")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("test_auth_token_sealed")
        batch.drop_column("test_auth_token_hash")
        batch.drop_column("test_account_sid")
