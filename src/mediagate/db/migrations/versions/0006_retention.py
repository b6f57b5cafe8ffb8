"""retention: per-account retention rules and batched media access tracking

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_rules",
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("days_after_creation", sa.Integer(), nullable=True),
        sa.Column("days_after_last_access", sa.Integer(), nullable=True),
        sa.Column("after_first_download", sa.Boolean(), nullable=False),
        sa.Column("after_webhook_delivered", sa.Boolean(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_sid"], ["accounts.sid"]),
        sa.PrimaryKeyConstraint("account_sid"),
    )
    op.create_table(
        "media_activity",
        sa.Column("media_sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("last_accessed", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_downloaded", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("media_sid"),
    )
    op.create_index("ix_media_activity_account_sid", "media_activity", ["account_sid"])


def downgrade() -> None:
    op.drop_index("ix_media_activity_account_sid", table_name="media_activity")
    op.drop_table("media_activity")
    op.drop_table("retention_rules")
