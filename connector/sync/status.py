"""`seqsync status`: recent runs, connections that ended in error, sequences and their load."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from connector.store.schema import connection_history, connections, records, runs, sequences


def recent_runs(engine: Engine, limit: int = 10) -> list[dict[str, Any]]:
    query = select(runs).order_by(runs.c.id.desc()).limit(limit)
    out = []
    with engine.connect() as conn:
        for row in conn.execute(query):
            summary = row.summary or {}
            out.append({
                "id": row.id,
                "started_on": row.started_on.isoformat() if row.started_on else None,
                "clock": row.clock.isoformat() if row.clock else None,
                "outcome": row.outcome,
                "dry_run": row.dry_run,
                "duration_seconds": summary.get("duration_seconds"),
                "rows_pulled": sum(summary.get("rows_pulled", {}).values()),
                "activities_created": sum(summary.get("activities_created", {}).values()),
                "activities_completed": summary.get("activities_completed", 0),
                "errors": summary.get("errors", 0),
                "crm_requests": summary.get("crm_requests", 0),
                "retries": summary.get("retries", 0),
                "throttled": summary.get("throttled", 0),
                "error": row.error,
            })
    return out


def connections_in_error(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    """Connections that ended with reason `error`, for records not reconnected since."""
    query = (
        select(
            connection_history.c.record_id, connection_history.c.sequence_name,
            connection_history.c.at, connection_history.c.message, records.c.name,
        )
        .join(records, records.c.id == connection_history.c.record_id, isouter=True)
        .join(connections, connections.c.record_id == connection_history.c.record_id,
              isouter=True)
        .where(
            connection_history.c.event == "ended",
            connection_history.c.reason == "error",
            connections.c.id.is_(None),
        )
        .order_by(connection_history.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [
            {"record_id": r.record_id, "record_name": r.name or "", "sequence": r.sequence_name,
             "at": r.at.isoformat(), "message": r.message or ""}
            for r in conn.execute(query)
        ]


def sequence_load(engine: Engine) -> list[dict[str, Any]]:
    counts = (
        select(connections.c.sequence_id, func.count().label("connected"))
        .group_by(connections.c.sequence_id)
        .subquery()
    )
    query = (
        select(sequences.c.id, sequences.c.name, sequences.c.entity, sequences.c.status,
               func.coalesce(counts.c.connected, 0))
        .join(counts, counts.c.sequence_id == sequences.c.id, isouter=True)
        .order_by(sequences.c.name)
    )
    with engine.connect() as conn:
        return [
            {"id": r[0], "name": r[1], "entity": r[2], "status": r[3], "connected": int(r[4])}
            for r in conn.execute(query)
        ]
