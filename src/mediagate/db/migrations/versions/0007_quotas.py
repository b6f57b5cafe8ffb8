"""quotas: per-account quota overrides, usage counters, direct delivery

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 04:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_quotas",
        sa.Column("account_sid", sa.String(length=34), sa.ForeignKey("accounts.sid"), nullable=False),
        sa.Column("max_bytes", sa.BigInteger(), nullable=True),
        sa.Column("max_media", sa.BigInteger(), nullable=True),
        sa.Column("ingest_per_hour", sa.BigInteger(), nullable=True),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_sid"),
    )
    op.create_table(
        "account_usage",
        sa.Column("account_sid", sa.String(length=34), sa.ForeignKey("accounts.sid"), nullable=False),
        sa.Column("bytes_stored", sa.BigInteger(), nullable=False),
        sa.Column("media_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_sid"),
    )
    op.create_table(
        "account_delivery",
        sa.Column("account_sid", sa.String(length=34), sa.ForeignKey("accounts.sid"), nullable=False),
        sa.Column("direct", sa.Boolean(), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_sid"),
    )
    # Every existing account starts from what it stores now.
    op.execute(
        "INSERT INTO account_usage (account_sid, bytes_stored, media_count) "
        "SELECT a.sid, COALESCE(SUM(m.size), 0), COUNT(m.sid) "
        "FROM accounts a LEFT JOIN media m ON m.account_sid = a.sid GROUP BY a.sid"
    )


def downgrade() -> None:
    op.drop_table("account_delivery")
    op.drop_table("account_usage")
    op.drop_table("account_quotas")
