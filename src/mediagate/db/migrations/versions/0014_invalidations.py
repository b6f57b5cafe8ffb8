"""invalidations: the durable record of changes that make remembered answers stale

Each process polls it (cluster/coherence.py) so that a change reaches every
process within MEDIAGATE_COHERENCE_BOUND, with or without Redis.

Revision ID: 0014_invalidations
Revises: 0013_media_fetches
Create Date: 2026-12-06 11:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_invalidations"
down_revision = "0013_media_fetches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invalidations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("topic", sa.String(length=24), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_invalidations_date_created", "invalidations", ["date_created"])


def downgrade() -> None:
    op.drop_index("ix_invalidations_date_created", table_name="invalidations")
    op.drop_table("invalidations")
