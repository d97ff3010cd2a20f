"""The activity outbox: activities to create in the CRM, and what became of them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import Connection, Row, bindparam, case, insert, select, update

from connector.engine.models import ActivityResult, PlanActivity
from connector.store.bulk import execute_many
from connector.store.chunks import chunks, unique
from connector.store.schema import outbox

PENDING = "pending"
PUSHED = "pushed"
CANCELLED = "cancelled"
TO_CANCEL = "to_cancel"
CLOSED_CRM_STATES = ("completed", "canceled")


def insert_planned(
    db: Connection,
    planned: list[PlanActivity],
    owners: Mapping[str, tuple[str, str | None]],
    now: datetime,
) -> None:
    """Queue planned activities (status pending), owned like their record.

    `owners` maps record id -> (table, owner id), as `records.owners` returns it.
    """
    if not planned:
        return
    execute_many(db, insert(outbox), [
        {
            "activity_id": p.activity_id, "connection_id": p.connection_id,
            "record_id": p.record_id, "record_table": owners[p.record_id][0],
            "step_id": p.step_id, "activity_type": p.activity_type.value,
            "subject": p.subject or p.activity_type.value, "description": p.description,
            "template": p.template, "owner_id": owners[p.record_id][1],
            "due_at": p.due_at, "status": PENDING, "created_on": now,
        }
        for p in planned
    ])


def cancel_for_connections(
    db: Connection, connection_ids: Iterable[str], *, cancel_open_in_crm: bool
) -> tuple[int, int]:
    """Cancel unpushed items; optionally mark pushed, still-open ones `to_cancel`.

    Returns (cancelled, to_cancel).
    """
    cancelled = to_cancel = 0
    for batch in chunks(unique(connection_ids)):
        cancelled += db.execute(
            update(outbox)
            .where(outbox.c.connection_id.in_(batch), outbox.c.status == PENDING)
            .values(status=CANCELLED)
        ).rowcount
        if cancel_open_in_crm:
            to_cancel += db.execute(
                update(outbox)
                .where(
                    outbox.c.connection_id.in_(batch),
                    outbox.c.status == PUSHED,
                    outbox.c.crm_state == "open",
                )
                .values(status=TO_CANCEL)
            ).rowcount
    return cancelled, to_cancel


def cancel_in_crm(db: Connection, activity_ids: Iterable[str]) -> int:
    """Mark pushed activities that are still open in the CRM for cancelling there."""
    count = 0
    for batch in chunks(unique(activity_ids)):
        count += db.execute(
            update(outbox)
            .where(outbox.c.activity_id.in_(batch), outbox.c.status == PUSHED,
                   outbox.c.crm_state == "open")
            .values(status=TO_CANCEL)
        ).rowcount
    return count


def cancel_pending(db: Connection, activity_ids: Iterable[str]) -> int:
    count = 0
    for batch in chunks(unique(activity_ids)):
        count += db.execute(
            update(outbox)
            .where(outbox.c.activity_id.in_(batch), outbox.c.status == PENDING)
            .values(status=CANCELLED)
        ).rowcount
    return count


def open_rows(db: Connection, activity_ids: Iterable[str]) -> dict[str, Row]:
    """Outbox rows for these ids that are not closed yet (ours and still open)."""
    found: dict[str, Row] = {}
    for batch in chunks(unique(activity_ids)):
        query = select(outbox.c.activity_id, outbox.c.crm_state).where(
            outbox.c.activity_id.in_(batch)
        )
        for row in db.execute(query):
            if row.crm_state not in CLOSED_CRM_STATES:
                found[row.activity_id] = row
    return found


def record_outcomes(db: Connection, results: list[ActivityResult]) -> None:
    """Store the CRM's verdict. A row still `pending` evidently reached the CRM: `pushed`."""
    if results:
        status = case((outbox.c.status == PENDING, PUSHED), else_=outbox.c.status)
        db.execute(
            update(outbox).where(outbox.c.activity_id == bindparam("b_id")).values(
                status=status, crm_state=bindparam("b_state"), closed_on=bindparam("b_at")
            ),
            [{"b_id": r.activity_id, "b_state": r.outcome.value, "b_at": r.at} for r in results],
        )


def of_record(db: Connection, record_id: str) -> list[Row]:
    query = select(outbox).where(outbox.c.record_id == record_id).order_by(outbox.c.created_on)
    return list(db.execute(query))
