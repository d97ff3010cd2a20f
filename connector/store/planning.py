"""Set-based planning: the common due step planned by the database itself, a slice at a time.

The common case is a scheduled connection whose current step is an email, phone call or task
of an active sequence, due now. Planning it means an outbox row, a history line and the
connection waiting on the new activity, which the database does for a whole slice in a few
statements: the slice is chosen into a temporary table, INSERT ... SELECT fills the outbox and
the history from it, and the connections are marked waiting (on SQLite by an UPDATE from the
slice; on PostgreSQL by the very statement that claims the slice). The activity id is the same
deterministic uuid5 as `engine.models.activity_id_for` (SQLite: that very function, registered
on the connection; PostgreSQL: uuid-ossp's uuid_generate_v5), so a plan redone after a crash
names the same activities.

On PostgreSQL the slice is claimed `FOR UPDATE SKIP LOCKED`: several workers plan disjoint
slices at once, and a worker that dies mid-slice releases it with its transaction. The claim
updates the rows it locks, so each connection is found once along the primary key instead of
once to choose it and again to mark it.

Everything else that is due (a wait step ending, a step that no longer exists) and every due
connection when a plugin watches StepDue goes through the pipeline's StepDue message instead.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, text

from connector.engine.models import ACTIVITY_NAMESPACE, ConnectionState, StepType
from connector.store.db import SQLITE_ACTIVITY_ID
from connector.store.schema import UTC

ACTIVITY_TYPES = tuple(t.value for t in (StepType.EMAIL, StepType.PHONECALL, StepType.TASK))

# The slice carries what the outbox and the history need from the connection, so that those
# statements never join the connections again: on PostgreSQL a join of a 20,000-row temporary
# table to a million connections was planned as a hash join over the whole table, three times
# a slice (measured: 0.3 s of every statement, half of the slice's time at 1M).
_SLICE_COLUMNS = ("id VARCHAR(36) PRIMARY KEY, activity_id VARCHAR(36) NOT NULL, "
                  "record_id VARCHAR(36) NOT NULL, sequence_id VARCHAR(36) NOT NULL, "
                  "step_id VARCHAR(36) NOT NULL, due_at {time} NOT NULL")
_TEMP = {
    "sqlite": "CREATE TEMP TABLE IF NOT EXISTS plan_slice ("
              + _SLICE_COLUMNS.format(time="DATETIME") + ")",
    "postgresql": "CREATE TEMP TABLE IF NOT EXISTS plan_slice ("
                  + _SLICE_COLUMNS.format(time="TIMESTAMP WITH TIME ZONE")
                  + ") ON COMMIT DELETE ROWS",
}
# The slice's own sorts (outbox rows in key order) stay in memory: 4 MB, PostgreSQL's
# default, spilled them to disk at 20,000 a slice.
_PG_WORK_MEM = "SET LOCAL work_mem = '64MB'"


def _activity_id_sql(dialect: str) -> str:
    if dialect == "sqlite":
        return f"{SQLITE_ACTIVITY_ID}(c.id, c.step_id, c.attempt)"
    return (
        f"CAST(uuid_generate_v5(CAST('{ACTIVITY_NAMESPACE}' AS uuid), "
        "c.id || ':' || c.step_id || ':' || CAST(c.attempt AS VARCHAR)) AS VARCHAR)"
    )


def _due_filter(alias: str = "c") -> str:
    types = ", ".join(f"'{t}'" for t in ACTIVITY_TYPES)
    # (sequence, step) pairs of active sequences' activity steps: a handful of rows, so the
    # connections themselves can be read along whichever index serves best.
    return (
        f"FROM connections {alias} "
        f"WHERE {alias}.state = '{ConnectionState.SCHEDULED.value}' AND {alias}.due_at <= :now "
        f"AND ({alias}.sequence_id, {alias}.step_id) IN (SELECT st.sequence_id, st.id "
        "FROM steps st JOIN sequences s ON s.id = st.sequence_id "
        f"WHERE s.status = 'active' AND st.type IN ({types}))"
    )


def _walk(alias: str, after: str | None) -> str:
    return "" if after is None else f" AND {alias}.id > :after ORDER BY {alias}.id"


def _choose_sqlite(after: str | None) -> str:
    return ("INSERT INTO plan_slice (id, activity_id, record_id, sequence_id, step_id, due_at) "
            f"SELECT c.id, {_activity_id_sql('sqlite')}, c.record_id, c.sequence_id, c.step_id, "
            f"c.due_at {_due_filter()}{_walk('c', after)} LIMIT :limit")


_MARK_WAITING_SQLITE = (
    f"UPDATE connections SET state = '{ConnectionState.WAITING.value}', "
    "activity_id = p.activity_id FROM plan_slice p WHERE connections.id = p.id"
)


def _claim_postgresql(after: str | None) -> str:
    """Claim the slice and mark it waiting in one statement. The rows are locked `FOR UPDATE
    SKIP LOCKED` by the inner SELECT and updated at once, so each is found once, along the
    primary key; the slice table gets what the UPDATE returns."""
    return (
        "WITH moved AS (UPDATE connections c SET "
        f"state = '{ConnectionState.WAITING.value}', activity_id = "
        f"{_activity_id_sql('postgresql')} "
        f"WHERE c.id = ANY(ARRAY(SELECT d.id {_due_filter('d')}{_walk('d', after)} LIMIT :limit "
        "FOR UPDATE OF d SKIP LOCKED)) "
        "RETURNING c.id, c.activity_id, c.record_id, c.sequence_id, c.step_id, c.due_at) "
        "INSERT INTO plan_slice (id, activity_id, record_id, sequence_id, step_id, due_at) "
        "SELECT id, activity_id, record_id, sequence_id, step_id, due_at FROM moved"
    )


def plan_due_slice(
    db: Connection, now: datetime, limit: int, after: str | None = None
) -> tuple[int, str | None]:
    """Plan up to `limit` due activity steps in the transaction `db`; returns how many, and
    the last connection id of the slice.

    `after` (a connection id, "" to start) walks the connections in id order along the primary
    key instead of the due index: when most connections are due, every slice would otherwise
    re-read the due index past the entries earlier slices left behind (dead ones on
    PostgreSQL until vacuum). Fewer than `limit` means none is left that this worker may take
    (other workers may hold some).
    """
    dialect = "sqlite" if db.dialect.name == "sqlite" else "postgresql"
    times = (bindparam("now", type_=UTC),)
    db.execute(text(_TEMP[dialect]))
    if dialect == "sqlite":
        db.execute(text("DELETE FROM plan_slice"))
    else:
        db.execute(text(_PG_WORK_MEM))
    choose = _choose_sqlite(after) if dialect == "sqlite" else _claim_postgresql(after)
    chosen = db.execute(
        text(choose).bindparams(*times), {"now": now, "limit": limit, "after": after or ""}
    ).rowcount
    if not chosen:
        return 0, after
    db.execute(
        text(
            "INSERT INTO outbox (activity_id, connection_id, record_id, record_table, step_id, "
            "activity_type, subject, description, template, owner_id, owner_type, due_at, "
            "status, created_on) "
            "SELECT p.activity_id, p.id, p.record_id, r.\"table\", p.step_id, st.type, "
            "COALESCE(NULLIF(st.name, ''), st.type), st.description, st.template, r.owner_id, "
            "r.owner_type, p.due_at, 'pending', :now "
            # CROSS JOIN keeps SQLite on the slice first: with ORDER BY it would rather
            # walk a whole index in that order.
            "FROM plan_slice p CROSS JOIN records r JOIN steps st ON st.id = p.step_id "
            "WHERE r.id = p.record_id ORDER BY p.activity_id"
        ).bindparams(*times),
        {"now": now},
    )
    db.execute(
        text(
            "INSERT INTO connection_history (connection_id, record_id, sequence_id, "
            "sequence_name, event, step_id, step_name, at) "
            "SELECT p.id, p.record_id, p.sequence_id, s.name, 'step_planned', p.step_id, "
            "COALESCE(NULLIF(st.name, ''), st.type), :now "
            "FROM plan_slice p JOIN sequences s ON s.id = p.sequence_id "
            "JOIN steps st ON st.id = p.step_id ORDER BY p.record_id"
        ).bindparams(*times),
        {"now": now},
    )
    if dialect == "sqlite":
        db.execute(text(_MARK_WAITING_SQLITE))
    last = db.execute(text("SELECT MAX(id) FROM plan_slice")).scalar()
    return int(chosen), last


def refresh_statistics(db: Connection) -> None:
    """After a big plan, tell PostgreSQL's planner how the outbox and the connections look now:
    statistics from before the plan (an empty outbox) make it sort every pending row for each
    push chunk instead of reading the pending index (measured: 2-3 s a chunk at 400,000)."""
    if db.dialect.name == "postgresql":
        db.execute(text("ANALYZE outbox, connections"))
