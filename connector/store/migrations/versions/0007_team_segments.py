"""Segments: a sequence's enrolment rule, what each sync enrolled, and history by record.

Revision ID: 0007_team_segments
Revises: 0006_team_pacing
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_team_segments"
down_revision = "0006_team_pacing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sequences") as batch:
        batch.add_column(sa.Column("enroll", sa.JSON(), nullable=True))
    op.create_index("ix_history_sequence_record", "connection_history",
                    ["sequence_id", "record_id", "event", "at"])
    op.create_table(
        "enrollment_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sequence_id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("enrolled", sa.Integer(), nullable=False),
        sa.Column("on_other_sequence", sa.Integer(), nullable=False),
        sa.Column("ended_before", sa.Integer(), nullable=False),
        sa.Column("left_for_next_run", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_enrollment_runs"),
    )
    op.create_index("ix_enrollment_runs_sequence", "enrollment_runs", ["sequence_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_enrollment_runs_sequence", table_name="enrollment_runs")
    op.drop_table("enrollment_runs")
    op.drop_index("ix_history_sequence_record", table_name="connection_history")
    with op.batch_alter_table("sequences") as batch:
        batch.drop_column("enroll")
