"""Plain data the engine works on. Frozen and slotted: cheap to build by the million, safe to share.

This module is the contract between the engine, the pipeline, the store and the sync layer.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType


class StepType(StrEnum):
    EMAIL = "email"
    PHONECALL = "phonecall"
    TASK = "task"
    WAIT = "wait"


ACTIVITY_STEP_TYPES = frozenset({StepType.EMAIL, StepType.PHONECALL, StepType.TASK})


class SequenceStatus(StrEnum):
    INACTIVE = "inactive"
    ACTIVE = "active"


class ConnectionState(StrEnum):
    # The current step comes due at `due_at` (an activity step not yet planned, or a wait).
    SCHEDULED = "scheduled"
    # The current step's activity is in the outbox or the CRM; we wait for a seller to finish it.
    WAITING = "waiting"


class EndReason(StrEnum):
    USER_DISCONNECTED = "user_disconnected"
    SEQUENCE_DELETED = "sequence_deleted"
    RECORD_CLOSED = "record_closed"
    RECORD_DELETED = "record_deleted"
    COMPLETED = "completed"
    ERROR = "error"


class ActivityOutcome(StrEnum):
    COMPLETED = "completed"
    CANCELED = "canceled"


MAX_WAIT = timedelta(days=30)

# Namespace for deterministic activity ids: uuid5(ACTIVITY_NAMESPACE, "conn:step:attempt").
ACTIVITY_NAMESPACE = uuid.UUID("6f1d0c1e-5a4b-4f3e-9a57-2d3c8e0b7a11")


_ID_PREFIX = hashlib.sha1(ACTIVITY_NAMESPACE.bytes, usedforsecurity=False)


def activity_id_for(connection_id: str, step_id: str, attempt: int = 0) -> str:
    """The CRM id of the activity for one step of one connection: the same on every retry.

    It is `str(uuid.uuid5(ACTIVITY_NAMESPACE, "conn:step:attempt"))`, computed on bytes:
    planning calls this once per due activity, and building a uuid.UUID each time showed up
    in its profile. Stored states depend on the text; a test pins it to uuid5.
    """
    digest = _ID_PREFIX.copy()
    digest.update(f"{connection_id}:{step_id}:{attempt}".encode())
    raw = bytearray(digest.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    type: StepType
    name: str = ""
    description: str = ""
    template: str | None = None
    days: int = 0
    hours: int = 0

    @property
    def is_wait(self) -> bool:
        return self.type is StepType.WAIT

    @property
    def wait(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours)


@dataclass(frozen=True, slots=True)
class Sequence:
    id: str
    name: str
    entity: str
    status: SequenceStatus = SequenceStatus.INACTIVE
    description: str = ""
    owner: str = ""
    created_on: datetime | None = None
    modified_on: datetime | None = None
    steps: tuple[Step, ...] = ()

    @property
    def is_active(self) -> bool:
        return self.status is SequenceStatus.ACTIVE

    @property
    def activity_count(self) -> int:
        return sum(1 for s in self.steps if not s.is_wait)


@dataclass(frozen=True, slots=True)
class Record:
    """The local mirror of one CRM lead or opportunity."""

    id: str  # the CRM primary key, lower-case GUID
    table: str  # logical name: "lead", "opportunity", ...
    name: str = ""
    owner_id: str | None = None
    is_open: bool = True
    is_deleted: bool = False
    statecode: int | None = None
    email: str | None = None
    phone: str | None = None
    columns: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    owner_type: str | None = None  # the owner's table: a user (None, "systemuser") or "team"


@dataclass(frozen=True, slots=True)
class Connection:
    """A record's current place on a sequence. At most one per record."""

    id: str
    record_id: str
    sequence_id: str
    step_id: str
    state: ConnectionState
    due_at: datetime | None
    connected_on: datetime
    step_started_on: datetime
    activity_id: str | None = None
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One line of a connection's history; never deleted."""

    connection_id: str
    record_id: str
    sequence_id: str
    event: str  # connected | step_planned | step_completed | step_skipped | ended
    at: datetime
    step_id: str | None = None
    reason: EndReason | None = None
    message: str | None = None


# Effects: what the engine asks the shell to do.


@dataclass(frozen=True, slots=True)
class PlanActivity:
    """Put one CRM activity for a due step into the outbox."""

    activity_id: str
    connection_id: str
    record_id: str
    step_id: str
    activity_type: StepType
    subject: str
    description: str
    template: str | None
    due_at: datetime


@dataclass(frozen=True, slots=True)
class CancelPendingActivity:
    """Drop an outbox item that was never pushed."""

    activity_id: str


Effect = PlanActivity | CancelPendingActivity


# Message targets shared by the pipeline, the CLI and the sync layer.


@dataclass(frozen=True, slots=True)
class ActivityResult:
    """A CRM activity this tool created was completed or canceled at `at`."""

    activity_id: str
    outcome: ActivityOutcome
    at: datetime


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    sequence_id: str
    record_ids: tuple[str, ...] | list[str]


@dataclass(frozen=True, slots=True)
class DisconnectRequest:
    record_ids: tuple[str, ...] | list[str]
    reason: EndReason = EndReason.USER_DISCONNECTED
    message: str | None = None


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """What happened to one record of a bulk Connect or Disconnect."""

    record_id: str
    status: str  # connected | disconnected | skipped
    reason: str = ""  # why it was skipped, phrased for the user

    @property
    def ok(self) -> bool:
        return self.status != "skipped"
