"""Several workers on one PostgreSQL state: who works, the shared request budget, and the
database-side activity id function set-based planning uses.

Revision ID: 0008_workers
Revises: 0007_team_segments
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_workers"
down_revision = "0007_team_segments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # uuid_generate_v5: the deterministic activity id computed inside INSERT ... SELECT.
        # A trusted extension since PostgreSQL 13: the database owner may create it.
        op.execute('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"')
    # Nothing reads history by connection (only by record), and planning paid for this index
    # on every planned step: one random B-tree insert per connection.
    op.drop_index("ix_history_connection", table_name="connection_history")
    # Push claims walk pending items of a type in id order: without this, every chunk sorted
    # all pending rows (400,000 pending: 3 s a chunk on PostgreSQL).
    op.create_index(
        "ix_outbox_pending", "outbox", ["activity_type", "activity_id"],
        sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_table(
        "request_budget",
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", name=op.f("pk_request_budget")),
    )


def downgrade() -> None:
    op.drop_table("request_budget")
    op.drop_table("workers")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.create_index("ix_history_connection", "connection_history", ["connection_id"])
