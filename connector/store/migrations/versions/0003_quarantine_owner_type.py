"""Quarantine (CRM rows that could not be mapped or stored, with their error), and the owner's
table (a user or a team) on records and outbox items.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column("table", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("first_seen_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_on", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("table", "record_id", name=op.f("pk_quarantine")),
    )
    for table in ("records", "outbox"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("owner_type", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in ("records", "outbox"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("owner_type")
    op.drop_table("quarantine")
