"""access audit and early revocation: media_access_events, revocation cutoffs

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns without defaults: no table rewrite on PostgreSQL.
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("media_urls_revoked_before", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("media") as batch:
        batch.add_column(sa.Column("urls_revoked_before", sa.BigInteger(), nullable=True))
    op.create_table(
        "media_access_events",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("media_sid", sa.String(length=34), nullable=False),
        sa.Column("host", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("credential_kind", sa.String(length=24), nullable=False),
        sa.Column("credential_sid", sa.String(length=34), nullable=True),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(
        "ix_access_account_created", "media_access_events", ["account_sid", "date_created", "sid"]
    )
    op.create_index("ix_access_media_created", "media_access_events", ["media_sid", "date_created", "sid"])
    op.create_index("ix_media_access_events_date_created", "media_access_events", ["date_created"])


def downgrade() -> None:
    op.drop_table("media_access_events")
    with op.batch_alter_table("media") as batch:
        batch.drop_column("urls_revoked_before")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("media_urls_revoked_before")
