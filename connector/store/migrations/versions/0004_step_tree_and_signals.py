"""Sequences that react: step trees, exit criteria, condition inputs, record updates.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sequences") as batch:
        batch.add_column(sa.Column("exit_on", sa.String(64), nullable=False,
                                   server_default="reply,meeting,bounce"))
    with op.batch_alter_table("steps") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("branch", sa.String(8), nullable=True))
        batch.add_column(sa.Column("settings", sa.JSON(), nullable=True))
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("last_outcome", sa.String(16), nullable=True))
        batch.add_column(sa.Column("replied_on", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "record_updates",
        sa.Column("update_id", sa.String(36), nullable=False),
        sa.Column("connection_id", sa.String(36), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("record_table", sa.String(64), nullable=False),
        sa.Column("step_id", sa.String(36), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pushed_on", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("update_id", name="pk_record_updates"),
    )
    op.create_index("ix_record_updates_status", "record_updates", ["status"])
    op.create_index("ix_history_sequence_event", "connection_history",
                    ["sequence_id", "event", "step_id"])


def downgrade() -> None:
    op.drop_index("ix_history_sequence_event", table_name="connection_history")
    op.drop_index("ix_record_updates_status", table_name="record_updates")
    op.drop_table("record_updates")
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("replied_on")
        batch.drop_column("last_outcome")
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("settings")
        batch.drop_column("branch")
        batch.drop_column("parent_id")
    with op.batch_alter_table("sequences") as batch:
        batch.drop_column("exit_on")
