"""Sequence tags, and history indexes for `sequence stats`.

Revision ID: 0005_team_ops
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_team_ops"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sequences") as batch:
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
    op.create_index(
        "ix_history_sequence_stats", "connection_history",
        ["sequence_id", "event", "reason", "step_id", "at", "message"],
    )
    op.create_index(
        "ix_history_sequence_connection", "connection_history",
        ["sequence_id", "connection_id", "id", "event", "step_id", "at"],
    )


def downgrade() -> None:
    op.drop_index("ix_history_sequence_connection", table_name="connection_history")
    op.drop_index("ix_history_sequence_stats", table_name="connection_history")
    with op.batch_alter_table("sequences") as batch:
        batch.drop_column("tags")
