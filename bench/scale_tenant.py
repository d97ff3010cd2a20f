"""What the benchmark does to the tenant between syncs, and how it checks the outcome.

Changes go through the Web API like a seller's edits would (UpdateMultiple, `$batch` deletes),
with seqsync's own client so they survive the mock's throttling too. The check reads every
activity back from the CRM and compares it with the state's outbox: each activity seqsync
recorded as pushed exists exactly once, and no lead has two activities for one step.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.config import load_settings
from connector.dataverse.client import BatchOperation, DataverseClient

BULK = 1000
ACTIVITY_SETS = {"email": "emails", "phonecall": "phonecalls", "task": "tasks"}


def crm_client(config: Path, secret: str) -> DataverseClient:
    os.environ["BENCH_MOCK_SECRET"] = secret
    return DataverseClient(load_settings(config).crm)


def _chunks(items: list[str], size: int = BULK) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _every(items: list[str], share: float) -> list[str]:
    """An evenly spread `share` of `items` (deterministic)."""
    if share <= 0 or not items:
        return []
    step = max(1, round(1 / share))
    return items[::step]


@dataclass
class Changes:
    leads_changed: list[str] = field(default_factory=list)
    leads_deleted: list[str] = field(default_factory=list)
    activities_completed: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"leads_changed": len(self.leads_changed),
                "leads_deleted": len(self.leads_deleted),
                "activities_completed": len(self.activities_completed)}


def change_tenant(client: DataverseClient, state_db: Path, completed_at: str, *,
                  changed: float = 0.01, deleted: float = 0.001,
                  completed: float = 0.10) -> Changes:
    """Edit `changed` of the leads, delete `deleted` of them, complete `completed` of the
    open activities (UpdateMultiple / `$batch`, 1,000 rows a request)."""
    with sqlite3.connect(state_db) as db:
        leads = [r[0] for r in db.execute(
            "SELECT id FROM records WHERE \"table\" = 'lead' AND is_deleted = 0 ORDER BY id")]
        open_emails = [r[0] for r in db.execute(
            "SELECT activity_id FROM outbox WHERE status = 'pushed' AND crm_state = 'open' "
            "AND closed_on IS NULL AND activity_type = 'email' ORDER BY activity_id")]
    out = Changes()
    out.leads_deleted = _every(leads, deleted)
    gone = set(out.leads_deleted)
    out.leads_changed = [i for i in _every(leads[1:], changed) if i not in gone]
    out.activities_completed = _every(open_emails, completed)
    for part in _chunks(out.leads_changed):
        client.update_multiple("leads", "lead", [
            {"leadid": i, "jobtitle": "Head of Purchasing"} for i in part], key="leadid")
    for part in _chunks(out.activities_completed):
        client.update_multiple("emails", "email", [
            {"activityid": i, "statecode": 1, "actualend": completed_at} for i in part],
            key="activityid")
    for part in _chunks(out.leads_deleted):
        client.execute_batch([BatchOperation(method="DELETE", url=f"leads({i})") for i in part],
                             continue_on_error=True)
    return out


@dataclass
class Check:
    """Activities in the CRM against the outbox, per activity table."""

    in_crm: dict[str, int] = field(default_factory=dict)
    pushed: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    lost: int = 0  # pushed according to the state, missing in the CRM
    strays: int = 0  # in the CRM, unknown to the state
    duplicated: int = 0  # a second activity for one (record, step)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.strays or self.duplicated or self.pending)

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "in_crm": self.in_crm, "pushed": self.pushed,
                "pending": self.pending, "lost": self.lost, "strays": self.strays,
                "duplicated": self.duplicated}


def _state(state: Path | str) -> Any:
    """A DB-API connection to the state: a SQLite file, or a PostgreSQL URL."""
    if isinstance(state, Path):
        return sqlite3.connect(state)
    import psycopg

    return psycopg.connect(state.replace("postgresql+psycopg://", "postgresql://", 1))


def check_exactly_once(client: DataverseClient, state: Path | str) -> Check:
    check = Check()
    mark = "?" if isinstance(state, Path) else "%s"
    with _state(state) as db:
        check.pending = db.execute(
            "SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
        for kind, entity_set in ACTIVITY_SETS.items():
            ours = {a: (r, s) for a, r, s in db.execute(
                "SELECT activity_id, record_id, step_id FROM outbox "
                f"WHERE activity_type = {mark} AND status = 'pushed'", (kind,))}
            check.pushed[kind] = len(ours)
            seen: set[str] = set()
            per_step: Counter[tuple[str, str]] = Counter()
            for row in client.query(entity_set, ["activityid", "_regardingobjectid_value"]):
                activity = str(row["activityid"]).lower()
                seen.add(activity)
                if activity not in ours:
                    check.strays += 1
                    continue
                per_step[ours[activity]] += 1
            check.in_crm[kind] = len(seen)
            check.lost += len(set(ours) - seen)
            check.duplicated += sum(n - 1 for n in per_step.values() if n > 1)
    return check
