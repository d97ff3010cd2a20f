"""Fewer index entries per planned step: planning a million due connections writes each of
these for every one of them.

- history: `ix_history_sequence_event` goes (branch counts read the leading columns of
  `ix_history_sequence_stats` just as well); `ix_history_sequence_record` becomes
  `ix_history_sequence_ended`, holding only `ended` events, the only ones enrolment asks for.
- connections, PostgreSQL only: `ix_connections_due` holds scheduled connections only, so
  marking a planned connection waiting adds no entry to it. (SQLite keeps the whole index: it
  uses a partial index only for a literal in the query.)

Revision ID: 0009_planning_indexes
Revises: 0008_workers
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_planning_indexes"
down_revision = "0008_workers"
branch_labels = None
depends_on = None

ENDED = sa.text("event = 'ended'")
SCHEDULED = sa.text("state = 'scheduled'")


def upgrade() -> None:
    op.drop_index("ix_history_sequence_event", table_name="connection_history")
    op.drop_index("ix_history_sequence_record", table_name="connection_history")
    op.create_index("ix_history_sequence_ended", "connection_history",
                    ["sequence_id", "record_id", "at"],
                    sqlite_where=ENDED, postgresql_where=ENDED)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_connections_due", table_name="connections")
        op.create_index("ix_connections_due", "connections", ["state", "due_at"],
                        postgresql_where=SCHEDULED)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_connections_due", table_name="connections")
        op.create_index("ix_connections_due", "connections", ["state", "due_at"])
    op.drop_index("ix_history_sequence_ended", table_name="connection_history")
    op.create_index("ix_history_sequence_record", "connection_history",
                    ["sequence_id", "record_id", "event", "at"])
    op.create_index("ix_history_sequence_event", "connection_history",
                    ["sequence_id", "event", "step_id"])
