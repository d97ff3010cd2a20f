"""Connecting records to sequences and ending connections. Pure: no I/O, no clock."""

from __future__ import annotations

import uuid
from datetime import datetime

from connector.engine.models import (
    Connection,
    ConnectionState,
    EndReason,
    HistoryEvent,
    Record,
    Sequence,
)


def connect_refusal(
    seq: Sequence,
    record_id: str,
    record: Record | None,
    current_sequence: str | None,
) -> str | None:
    """Why `record_id` cannot be connected to `seq`, or None when it can.

    `current_sequence` is the name of the sequence the record is connected to now, if any.
    """
    if not seq.is_active:
        return f"sequence {seq.name!r} is inactive: activate it first"
    if record is None:
        return f"record {record_id} is not known locally (run a sync first)"
    if record.table != seq.entity:
        return (
            f"record {record_id} is a {record.table}, but sequence {seq.name!r} "
            f"is for {seq.entity} records"
        )
    if record.is_deleted:
        return f"record {record_id} was deleted in the CRM"
    if not record.is_open:
        return f"record {record_id} is closed"
    if current_sequence is not None:
        return (
            f"record {record_id} is already connected to sequence {current_sequence!r}: "
            "disconnect it first"
        )
    return None


def start(
    seq: Sequence, record_id: str, now: datetime, connection_id: str | None = None
) -> tuple[Connection, HistoryEvent]:
    """A new connection at step 1, due now (a valid sequence never starts with a wait)."""
    first = seq.steps[0]
    connection = Connection(
        id=connection_id or str(uuid.uuid4()),
        record_id=record_id,
        sequence_id=seq.id,
        step_id=first.id,
        state=ConnectionState.SCHEDULED,
        due_at=now + first.wait if first.is_wait else now,
        connected_on=now,
        step_started_on=now,
    )
    event = HistoryEvent(connection.id, record_id, seq.id, "connected", now, step_id=first.id)
    return connection, event


def end(
    connection: Connection, reason: EndReason, now: datetime, message: str | None = None
) -> HistoryEvent:
    return HistoryEvent(
        connection.id, connection.record_id, connection.sequence_id, "ended", now,
        step_id=connection.step_id, reason=reason, message=message,
    )
