"""What each message returns. Counts are for logs, run reports and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.engine.models import RecordOutcome, Sequence


@dataclass
class RecordChangedResult:
    inserted: int = 0
    updated: int = 0
    disconnected: int = 0


@dataclass
class RecordDeletedResult:
    deleted: int = 0  # known records now flagged deleted
    disconnected: int = 0


@dataclass
class ActivityCompletedResult:
    advanced: int = 0  # connections moved to their next step
    completed: int = 0  # connections that finished their last step
    ignored: int = 0  # not ours, already closed, or not what the connection waits for


@dataclass
class SignalResult:
    ended: int = 0  # connections ended by an exit criterion
    noted: int = 0  # replies remembered for conditions
    ignored: int = 0  # no connection, before it started, or not its email


@dataclass
class StepDueResult:
    connections: int = 0  # connections looked at
    planned: int = 0  # activities put in the outbox
    deferred: int = 0  # due steps a plugin moved later (business hours)
    held_back: int = 0  # due connections the daily cap keeps for a later day (pacing)
    waits_completed: int = 0
    completed: int = 0  # connections that ended with `completed`
    moved: int = 0  # connections that moved to another sequence
    updates: int = 0  # record updates queued for the CRM
    skipped: int = 0  # no longer scheduled, or their sequence is not active


@dataclass
class BulkResult:
    """Per-record outcomes of Connect or Disconnect, in the order the ids were given."""

    outcomes: list[RecordOutcome] = field(default_factory=list)
    cancelled: int = 0  # unpushed outbox items cancelled (Disconnect)
    to_cancel: int = 0  # open CRM activities marked for cancelling (Disconnect)

    @property
    def succeeded(self) -> int:
        return sum(1 for o in self.outcomes if o.ok)

    @property
    def skipped(self) -> list[RecordOutcome]:
        return [o for o in self.outcomes if not o.ok]


@dataclass
class SequenceDeleted:
    sequence: Sequence
    disconnected: int = 0
