"""Three index entries fewer per planned step. Planning a million due connections wrote each
of these a million times, under random GUID keys:

- `ix_connections_activity` goes: a completion finds its connection through the outbox's
  primary key (every planned activity has its outbox row, which names the connection).
- `ix_outbox_connection` goes: a disconnected connection's items are found through
  `ix_outbox_record`, as a connection's items all carry its record.
- `ix_history_sequence_connection` keeps only the events that open or close a step's span,
  the only ones `sequence stats` reads from it; `step_planned` lines, most of the history,
  are no longer in it (at 1M planned steps it was 224 MB, as big as the table).

Measured on 1,000,000 due connections: bench/README.md.

Revision ID: 0010_fewer_plan_index_entries
Revises: 0009_planning_indexes
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_fewer_plan_index_entries"
down_revision = "0009_planning_indexes"
branch_labels = None
depends_on = None

SPAN_COLUMNS = ["sequence_id", "connection_id", "id", "event", "step_id", "at"]
# As in schema.STEP_SPAN_SQL when this revision was written; a revision keeps its own copy.
STEP_SPAN = sa.text("event IN ('connected', 'step_completed', 'step_skipped', 'branch')")


def upgrade() -> None:
    op.drop_index("ix_connections_activity", table_name="connections")
    op.drop_index("ix_outbox_connection", table_name="outbox")
    op.drop_index("ix_history_sequence_connection", table_name="connection_history")
    op.create_index("ix_history_sequence_connection", "connection_history", SPAN_COLUMNS,
                    sqlite_where=STEP_SPAN, postgresql_where=STEP_SPAN)


def downgrade() -> None:
    op.drop_index("ix_history_sequence_connection", table_name="connection_history")
    op.create_index("ix_history_sequence_connection", "connection_history", SPAN_COLUMNS)
    op.create_index("ix_outbox_connection", "outbox", ["connection_id"])
    op.create_index("ix_connections_activity", "connections", ["activity_id"])
