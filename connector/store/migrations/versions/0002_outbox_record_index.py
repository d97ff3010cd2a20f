"""Index the outbox by record: `records show` lists a record's activities.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_record", "outbox", ["record_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_record", table_name="outbox")
