"""number assignments: which account owns a phone number in this deployment

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "number_assignments",
        sa.Column("phone_number", sa.String(length=32), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_sid"], ["accounts.sid"]),
        sa.PrimaryKeyConstraint("phone_number"),
    )
    op.create_index(
        op.f("ix_number_assignments_account_sid"), "number_assignments", ["account_sid"], unique=False
    )
    # Numbers claimed before assignments existed stay with the account that holds
    # them, so an upgrade does not cut off a deployment's inbound traffic.
    op.execute(
        "INSERT INTO number_assignments (phone_number, account_sid, actor, date_created) "
        "SELECT phone_number, account_sid, 'migration-0004', date_created FROM incoming_phone_numbers"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_number_assignments_account_sid"), table_name="number_assignments")
    op.drop_table("number_assignments")
