"""access events count repeats: media_access_events.count, date_updated

Identical accesses in the same second (same credential, media, host, method,
client and decision) are one row with a count (media/access_audit.py);
date_created is the first of them, date_updated the last. Rows written before
this revision are single accesses: count 1, date_updated null (= date_created).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 09:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("media_access_events", sa.Column("count", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("media_access_events", sa.Column("date_updated", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media_access_events") as batch:
        batch.drop_column("date_updated")
        batch.drop_column("count")
