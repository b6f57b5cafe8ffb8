"""encryption at rest: the wrapped data key of each sealed object

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sealed_objects",
        sa.Column("storage_key", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.String(length=128), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("storage_key"),
    )
    op.create_index("ix_sealed_objects_key_id", "sealed_objects", ["key_id"])


def downgrade() -> None:
    op.drop_index("ix_sealed_objects_key_id", table_name="sealed_objects")
    op.drop_table("sealed_objects")
