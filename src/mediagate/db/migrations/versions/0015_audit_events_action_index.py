"""audit_events.action indexed: whether this deployment hands out presigned URLs
(the ``delivery.presign`` row, media/revocation.py) is asked at every media and
message delete and revocation; without the index that was a scan of every
administrative event ever written.

Revision ID: 0015_audit_events_action_index
Revises: 0014_invalidations
Create Date: 2026-12-06 18:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0015_audit_events_action_index"
down_revision = "0014_invalidations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_events_action", "audit_events", ["action"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_action", table_name="audit_events")
