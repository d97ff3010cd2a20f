"""The state store's tables (SQLAlchemy Core). Portable SQL only: SQLite today, PostgreSQL later.

Times are stored as timezone-aware UTC datetimes. Ids are lower-case GUID strings.
"""

from __future__ import annotations

from datetime import UTC as _UTC
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on every backend.

    SQLite has no time zone type, so values are stored as naive UTC there and made aware again
    on the way out; PostgreSQL keeps `timestamptz`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass timezone-aware times")
        if value.tzinfo is not _UTC:
            value = value.astimezone(_UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)
UTC = UtcDateTime()

sequences = Table(
    "sequences",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    # lower(name): names are unique case-insensitively, enforced by the database.
    Column("name_key", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("entity", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # inactive | active
    Column("owner", String(200), nullable=False, default=""),
    Column("created_on", UTC, nullable=False),
    Column("modified_on", UTC, nullable=False),
    # Buyer signals that end its connections (revision 0004): comma-separated, "" for none.
    Column("exit_on", String(64), nullable=False, server_default="reply,meeting,bounce"),
    Column("tags", JSON, nullable=False, default=list),  # revision 0005_team_ops
    # {"max_per_owner_per_day": n, "business_days": bool}; revision 0006_team_pacing
    Column("pacing", JSON, nullable=True),
    # The segment rule ([enroll] of its file); revision 0007_team_segments.
    Column("enroll", JSON, nullable=True),
)

steps = Table(
    "steps",
    metadata,
    Column("id", ID, primary_key=True),
    Column("sequence_id", ID, ForeignKey("sequences.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),  # 1-based, within its branch
    # email | phonecall | task | wait | condition | update_record | move_to_sequence
    Column("type", String(16), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("template", String(200), nullable=True),
    Column("wait_days", Integer, nullable=False, default=0),
    Column("wait_hours", Integer, nullable=False, default=0),
    # Revision 0004: a step in a condition's branch names the condition and the branch
    # (then | else); top-level steps have neither. `settings` holds what only some step types
    # have: a condition's test, update_record's columns, move_to_sequence's target.
    Column("parent_id", ID, nullable=True),
    Column("branch", String(8), nullable=True),
    Column("settings", JSON, nullable=True),
    Index("ix_steps_sequence_position", "sequence_id", "position"),
)

records = Table(
    "records",
    metadata,
    Column("id", ID, primary_key=True),  # the CRM primary key
    Column("table", String(64), nullable=False),  # lead | opportunity | ...
    Column("name", String(400), nullable=False, default=""),
    Column("owner_id", ID, nullable=True),
    Column("owner_type", String(64), nullable=True),  # revision 0003: "team", else a user
    Column("is_open", Boolean, nullable=False, default=True),
    Column("is_deleted", Boolean, nullable=False, default=False),
    Column("statecode", Integer, nullable=True),
    Column("email", String(320), nullable=True),
    Column("phone", String(100), nullable=True),
    Column("columns", JSON, nullable=False, default=dict),  # extra mapped columns
    Column("crm_modified_on", UTC, nullable=True),
    Column("synced_on", UTC, nullable=True),
    Index("ix_records_table_open", "table", "is_open", "is_deleted"),
)

# The current connection of a record. UNIQUE(record_id) is the "one sequence per record" rule
# held by the database itself; ended connections move to connection_history.
connections = Table(
    "connections",
    metadata,
    Column("id", ID, primary_key=True),
    Column("record_id", ID, ForeignKey("records.id"), nullable=False),
    Column("sequence_id", ID, ForeignKey("sequences.id"), nullable=False),
    Column("step_id", ID, nullable=False),
    Column("state", String(16), nullable=False),  # scheduled | waiting
    Column("due_at", UTC, nullable=True),
    Column("activity_id", ID, nullable=True),
    Column("attempt", Integer, nullable=False, default=0),
    Column("connected_on", UTC, nullable=False),
    Column("step_started_on", UTC, nullable=False),
    # Revision 0004: inputs of condition steps (previous outcome, latest reply).
    Column("last_outcome", String(16), nullable=True),
    Column("replied_on", UTC, nullable=True),
    UniqueConstraint("record_id", name="uq_connections_record_id"),
    Index("ix_connections_sequence", "sequence_id"),
    # PostgreSQL: scheduled connections only (revision 0009), so planning adds no entry.
    Index("ix_connections_due", "state", "due_at",
          postgresql_where=text("state = 'scheduled'")),
    # (ix_connections_activity was dropped by revision 0010: completions find their
    # connection through the outbox's primary key.)
)

# History events that open or close the time spent on a step (`sequence stats`): connecting
# enters step 1; completing, skipping or branching leaves a step for the next.
STEP_SPAN_EVENTS = ("connected", "step_completed", "step_skipped", "branch")
STEP_SPAN_SQL = "event IN ({})".format(", ".join(f"'{e}'" for e in STEP_SPAN_EVENTS))

# Every connection's story, including the ended ones and why they ended. Append-only.
connection_history = Table(
    "connection_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connection_id", ID, nullable=False),
    Column("record_id", ID, nullable=False),
    Column("sequence_id", ID, nullable=False),
    Column("sequence_name", String(200), nullable=False, default=""),
    Column("event", String(32), nullable=False),  # connected|step_planned|step_completed|...|ended
    Column("step_id", ID, nullable=True),
    Column("step_name", String(200), nullable=True),
    Column("at", UTC, nullable=False),
    Column("reason", String(32), nullable=True),  # EndReason for `ended`
    Column("message", Text, nullable=True),
    Index("ix_history_record", "record_id", "id"),
    # (ix_history_connection was dropped by revision 0008_workers: nothing reads by it.)
    # (ix_history_sequence_event, revision 0004, was dropped by 0009: branch counts read
    # ix_history_sequence_stats' leading columns.)
    # Revision 0005_team_ops, for `sequence stats`: counts by event and reason, and each
    # connection's events in order (time on step), both read from the index alone.
    Index("ix_history_sequence_stats", "sequence_id", "event", "reason", "step_id", "at",
          "message"),
    # Revision 0010: only the events that open or close a step's span, so a planned step, the
    # commonest line by far, adds no entry to the widest index of the table.
    Index("ix_history_sequence_connection", "sequence_id", "connection_id", "id", "event",
          "step_id", "at", sqlite_where=text(STEP_SPAN_SQL), postgresql_where=text(STEP_SPAN_SQL)),
    # Which records left a sequence, and when, for enrolment (revision 0009: `ended` only,
    # where 0007's ix_history_sequence_record held every event).
    Index("ix_history_sequence_ended", "sequence_id", "record_id", "at",
          sqlite_where=text("event = 'ended'"), postgresql_where=text("event = 'ended'")),
)

# What each sync's enrolment did per sequence (revision 0007_team_segments).
enrollment_runs = Table(
    "enrollment_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sequence_id", ID, nullable=False),
    Column("at", UTC, nullable=False),
    Column("matched", Integer, nullable=False),  # open records the rule matches
    Column("enrolled", Integer, nullable=False),
    Column("on_other_sequence", Integer, nullable=False),  # left alone
    Column("ended_before", Integer, nullable=False),  # not re-enrolled (yet)
    Column("left_for_next_run", Integer, nullable=False),  # over max_per_run
    Index("ix_enrollment_runs_sequence", "sequence_id", "id"),
)

# Activities to create in the CRM, and what became of them. The activity_id is deterministic
# (engine.models.activity_id_for), so a resend after a crash is recognised as the same row.
outbox = Table(
    "outbox",
    metadata,
    Column("activity_id", ID, primary_key=True),
    Column("connection_id", ID, nullable=False),
    Column("record_id", ID, nullable=False),
    Column("record_table", String(64), nullable=False),
    Column("step_id", ID, nullable=False),
    Column("activity_type", String(16), nullable=False),  # email | phonecall | task
    Column("subject", String(400), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("template", String(200), nullable=True),
    Column("owner_id", ID, nullable=True),
    Column("owner_type", String(64), nullable=True),  # revision 0003: "team", else a user
    Column("due_at", UTC, nullable=False),
    # pending -> pushed (exists in the CRM) | cancelled (never pushed) | failed (permanent error);
    # pushed -> to_cancel when a disconnect asks the sync to cancel the open CRM activity.
    Column("status", String(16), nullable=False),
    # For pushed rows: open | completed | canceled, as last seen in the CRM.
    Column("crm_state", String(16), nullable=True),
    Column("created_on", UTC, nullable=False),
    Column("pushed_on", UTC, nullable=True),
    Column("closed_on", UTC, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_outbox_status", "status", "activity_type"),
    # (ix_outbox_connection was dropped by revision 0010: a connection's items are found
    # by its record.)
    Index("ix_outbox_record", "record_id"),  # revision 0002: a record's activities
    # Revision 0008_workers: pending items of a type in id order, what push claims walk on
    # PostgreSQL (keyset on activity_id). Partial: only what is still to send is indexed.
    Index("ix_outbox_pending", "activity_type", "activity_id",
          sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
    # Revision 0006_team_pacing: what each owner got today, for the daily cap.
    Index("ix_outbox_owner_created", "owner_id", "created_on"),
)

# CRM users' settings as read from `usersettingscollection` (revision 0006_team_pacing): the
# time zone and working hours pacing uses for the records they own.
owner_settings = Table(
    "owner_settings",
    metadata,
    Column("owner_id", ID, primary_key=True),
    Column("timezone", String(64), nullable=True),  # IANA name; None: not mappable
    Column("timezonecode", Integer, nullable=True),
    Column("work_start", String(5), nullable=True),  # "08:00"
    Column("work_end", String(5), nullable=True),
    Column("read_on", UTC, nullable=False),
)

# Column updates of update_record steps, to send to the CRM (revision 0004). The id is
# deterministic like an activity id; a PATCH is idempotent, so a resend is harmless.
record_updates = Table(
    "record_updates",
    metadata,
    Column("update_id", ID, primary_key=True),
    Column("connection_id", ID, nullable=False),
    Column("record_id", ID, nullable=False),
    Column("record_table", String(64), nullable=False),
    Column("step_id", ID, nullable=False),
    Column("values", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # pending | pushed | failed
    Column("created_on", UTC, nullable=False),
    Column("pushed_on", UTC, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_record_updates_status", "status"),
)

# CRM rows that could not be mapped or stored, kept with their error until a later read of
# the row (it changed, or `sync --full`) succeeds. The rest of the pull goes on without them.
quarantine = Table(
    "quarantine",
    metadata,
    Column("table", String(64), primary_key=True),
    Column("record_id", String(200), primary_key=True),  # as the CRM sent it (maybe not a GUID)
    Column("error", Text, nullable=False),
    Column("first_seen_on", UTC, nullable=False),
    Column("last_seen_on", UTC, nullable=False),
)

# Small key/value state: delta links per table, schema facts, run counters.
sync_state = Table(
    "sync_state",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_on", UTC, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_on", UTC, nullable=False),
    Column("finished_on", UTC, nullable=True),
    Column("clock", UTC, nullable=False),  # the engine's `now` for the run (--now)
    Column("outcome", String(16), nullable=False),  # running | ok | partial | failed | interrupted
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("summary", JSON, nullable=True),
    Column("error", Text, nullable=True),
)

# Revision 0008_workers: every process working on this state (several on PostgreSQL), what it
# did last, for `seqsync status`. Rows are kept; status shows the ones seen recently.
workers = Table(
    "workers",
    metadata,
    Column("id", String(120), primary_key=True),  # host:pid:start
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_on", UTC, nullable=False),
    Column("seen_on", UTC, nullable=False),
    Column("action", String(200), nullable=False),
)

# The CRM request budget all workers share: requests sent per time bucket (a tenth of the
# service-protection window), summed over the last window before each request is sent.
request_budget = Table(
    "request_budget",
    metadata,
    Column("bucket", BigInteger, primary_key=True, autoincrement=False),
    Column("used", Integer, nullable=False),
)
