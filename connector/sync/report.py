"""What one sync run did, in numbers. Thread-safe: push workers count into it concurrently."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class RunReport:
    clock: datetime
    dry_run: bool = False
    started_on: datetime | None = None
    finished_on: datetime | None = None
    outcome: str = "running"  # ok | partial | failed
    rows_pulled: Counter[str] = field(default_factory=Counter)  # by table
    rows_deleted: Counter[str] = field(default_factory=Counter)
    full_reads: list[str] = field(default_factory=list)
    disconnected: Counter[str] = field(default_factory=Counter)  # by reason
    activities_planned: int = 0
    enrolled: Counter[str] = field(default_factory=Counter)  # by sequence name (segments)
    held_back: int = 0  # due connections the pacing caps keep for a later day
    activities_created: Counter[str] = field(default_factory=Counter)  # by type
    activities_already_existed: int = 0
    activities_completed: int = 0
    activities_skipped: int = 0
    activities_canceled_in_crm: int = 0
    signals: Counter[str] = field(default_factory=Counter)  # buyer signals seen, by kind
    records_updated: int = 0  # update_record steps carried out in the CRM
    errors: list[dict[str, str]] = field(default_factory=list)
    crm_requests: int = 0
    retries: int = 0
    throttled: int = 0
    retry_wait_seconds: float = 0.0
    crm_replies: dict[str, int] = field(default_factory=dict)  # "<kind> <status>" -> n
    would_write: list[dict[str, Any]] = field(default_factory=list)  # --dry-run only
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_error(self, record_id: str | None, message: str, kind: str = "record") -> None:
        with self._lock:
            self.errors.append({"kind": kind, "record_id": record_id or "", "message": message})

    def note_write(self, entry: dict[str, Any]) -> None:
        """A write --dry-run held back."""
        with self._lock:
            self.would_write.append(entry)

    def count_created(self, activity_type: str, n: int) -> None:
        with self._lock:
            self.activities_created[activity_type] += n

    @property
    def duration_seconds(self) -> float:
        if self.started_on is None or self.finished_on is None:
            return 0.0
        return (self.finished_on - self.started_on).total_seconds()

    def summary(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "clock": self.clock.isoformat(),
            "dry_run": self.dry_run,
            "rows_pulled": dict(self.rows_pulled),
            "rows_deleted": dict(self.rows_deleted),
            "full_reads": list(self.full_reads),
            "records_disconnected": dict(self.disconnected),
            "activities_planned": self.activities_planned,
            "enrolled": dict(self.enrolled),
            "held_back": self.held_back,
            "activities_created": dict(self.activities_created),
            "activities_already_existed": self.activities_already_existed,
            "activities_completed": self.activities_completed,
            "activities_skipped": self.activities_skipped,
            "activities_canceled_in_crm": self.activities_canceled_in_crm,
            "signals": dict(self.signals),
            "records_updated": self.records_updated,
            "errors": len(self.errors),
            "error_details": self.errors[:50],
            "crm_requests": self.crm_requests,
            "retries": self.retries,
            "throttled": self.throttled,
            "retry_wait_seconds": round(self.retry_wait_seconds, 3),
            "duration_seconds": round(self.duration_seconds, 3),
        }
