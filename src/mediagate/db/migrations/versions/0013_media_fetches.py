"""media fetches: the MediaUrls of outbound messages still to be fetched

A create answers ``queued`` at once (as Twilio does) and leaves its MediaUrls
here; a background worker in every process claims them, fetches and stores the
media, then deletes the row (messaging/media_fetches.py).

Revision ID: 0013_media_fetches
Revises: 0012_test_credentials
Create Date: 2026-12-06 11:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_media_fetches"
down_revision = "0012_test_credentials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_fetches",
        sa.Column("message_sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("urls", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_sid"),
    )


def downgrade() -> None:
    op.drop_table("media_fetches")
