"""Two index entries fewer per planned step: planning a million due connections wrote each
of these a million times, under random GUID keys, for lookups other indexes answer.

- `ix_connections_activity`: a completion finds its connection through the outbox's primary
  key (every planned activity has its outbox row, which names the connection).
- `ix_outbox_connection`: a disconnected connection's items are found through
  `ix_outbox_record`, as a connection's items all carry its record.

Each measured on its own on 1,000,000 due connections (PostgreSQL 15, shared_buffers 2 GB): 4
to 7 s of a plan of about 60 s; bench/README.md has the figures.

Revision ID: 0010_plan_without_lookup_indexes
Revises: 0009_planning_indexes
Create Date: 2026-11-30
"""

from alembic import op

revision = "0010_plan_without_lookup_indexes"
down_revision = "0009_planning_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_connections_activity", table_name="connections")
    op.drop_index("ix_outbox_connection", table_name="outbox")


def downgrade() -> None:
    op.create_index("ix_outbox_connection", "outbox", ["connection_id"])
    op.create_index("ix_connections_activity", "connections", ["activity_id"])
