"""Pacing: a sequence's own pacing, owners' settings, and the outbox by owner and day.

Revision ID: 0006_team_pacing
Revises: 0005_team_ops
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_team_pacing"
down_revision = "0005_team_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sequences") as batch:
        batch.add_column(sa.Column("pacing", sa.JSON(), nullable=True))
    op.create_index("ix_outbox_owner_created", "outbox", ["owner_id", "created_on"])
    op.create_table(
        "owner_settings",
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("timezonecode", sa.Integer(), nullable=True),
        sa.Column("work_start", sa.String(5), nullable=True),
        sa.Column("work_end", sa.String(5), nullable=True),
        sa.Column("read_on", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", name="pk_owner_settings"),
    )


def downgrade() -> None:
    op.drop_table("owner_settings")
    op.drop_index("ix_outbox_owner_created", table_name="outbox")
    with op.batch_alter_table("sequences") as batch:
        batch.drop_column("pacing")
