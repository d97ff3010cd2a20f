"""The `runs` table: one row per sync run, with its outcome and summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from connector.store.schema import runs


def mark_interrupted(db: Connection) -> int:
    """Runs still `running` whose holder is gone (call with the run lock held): `interrupted`."""
    return db.execute(
        update(runs).where(runs.c.outcome == "running").values(outcome="interrupted")
    ).rowcount


def last_clock(db: Connection) -> datetime | None:
    """The engine clock of the newest run, if any."""
    return db.execute(select(runs.c.clock).order_by(runs.c.id.desc()).limit(1)).scalar()


def start(db: Connection, started_on: datetime | None, clock: datetime, dry_run: bool) -> int:
    result = db.execute(runs.insert().values(
        started_on=started_on, clock=clock, outcome="running", dry_run=dry_run,
    ))
    return int(result.inserted_primary_key[0])


def finish(
    db: Connection, run_id: int, finished_on: datetime | None, outcome: str,
    summary: dict[str, Any], error: str | None,
) -> None:
    db.execute(update(runs).where(runs.c.id == run_id).values(
        finished_on=finished_on, outcome=outcome, summary=summary,
        error=error[:2000] if error else None,
    ))


def recent(db: Connection, limit: int = 10) -> list[dict[str, Any]]:
    query = select(runs).order_by(runs.c.id.desc()).limit(limit)
    out = []
    for row in db.execute(query):
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
            "error": row.error,
        })
    return out
