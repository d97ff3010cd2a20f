"""Plain data the engine works on. Frozen and slotted: cheap to build by the million, safe to share.

This module is the contract between the engine, the pipeline, the store and the sync layer.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType


class StepType(StrEnum):
    EMAIL = "email"
    PHONECALL = "phonecall"
    TASK = "task"
    WAIT = "wait"
    CONDITION = "condition"
    UPDATE_RECORD = "update_record"
    MOVE_TO_SEQUENCE = "move_to_sequence"


ACTIVITY_STEP_TYPES = frozenset({StepType.EMAIL, StepType.PHONECALL, StepType.TASK})
COMMAND_STEP_TYPES = frozenset({StepType.UPDATE_RECORD, StepType.MOVE_TO_SEQUENCE})


class ExitCriterion(StrEnum):
    """Buyer signals that end a connection (a sequence's `exit_on`)."""

    REPLY = "reply"
    MEETING = "meeting"
    BOUNCE = "bounce"


ALL_EXITS = frozenset(ExitCriterion)


class ConditionKind(StrEnum):
    PREVIOUS = "previous"  # the previous activity step was completed / skipped
    REPLIED_WITHIN_DAYS = "replied_within_days"
    COLUMN = "column"  # a record column compared with a value


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    LT = "lt"
    IN = "in"
    NULL = "null"


class Branch(StrEnum):
    THEN = "then"
    ELSE = "else"


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
    REPLIED = "replied"
    MEETING_BOOKED = "meeting_booked"
    BOUNCED = "bounced"
    MOVED = "moved"


EXIT_REASONS = {
    ExitCriterion.REPLY: EndReason.REPLIED,
    ExitCriterion.MEETING: EndReason.MEETING_BOOKED,
    ExitCriterion.BOUNCE: EndReason.BOUNCED,
}


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
class Condition:
    """What a condition step tests. Only the fields of its `kind` matter."""

    kind: ConditionKind
    previous: str = ""  # completed | skipped
    days: int = 0  # replied_within_days
    column: str = ""  # a Web API column of the record's mapping
    op: Op = Op.EQ
    value: object = None  # a tuple for `in`; for `null`, True (is null) or False (is not)


PREVIOUS_OUTCOMES = ("completed", "skipped")


@dataclass(frozen=True, slots=True)
class Step:
    """One step. Condition steps hold their branches; the tree is immutable like the rest."""

    id: str
    type: StepType
    name: str = ""
    description: str = ""
    template: str | None = None
    days: int = 0
    hours: int = 0
    condition: Condition | None = None
    then: tuple[Step, ...] = ()
    otherwise: tuple[Step, ...] = ()  # the `else` branch (a keyword in Python)
    values: tuple[tuple[str, object], ...] = ()  # update_record: column = value
    sequence: str = ""  # move_to_sequence: the target sequence's name or id

    @property
    def is_wait(self) -> bool:
        return self.type is StepType.WAIT

    @property
    def is_activity(self) -> bool:
        return self.type in ACTIVITY_STEP_TYPES

    @property
    def is_condition(self) -> bool:
        return self.type is StepType.CONDITION

    def branch(self, which: Branch) -> tuple[Step, ...]:
        return self.then if which is Branch.THEN else self.otherwise

    @property
    def wait(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours)


@dataclass(frozen=True, slots=True)
class Pacing:
    """A sequence's own pacing, on top of the global [pacing] settings."""

    max_per_owner_per_day: int | None = None  # activities this sequence creates per owner/day
    business_days: bool = False  # waits count working days and hours of the record's owner


@dataclass(frozen=True, slots=True)
class EnrollRule:
    """A segment: which records every sync connects to the sequence by itself.

    `where` holds COLUMN=VALUE conditions, as `connect --where` takes them (local fields or the
    mapping's extra columns); `created_after` compares the mapped `createdon` column.
    """

    where: tuple[tuple[str, str], ...] = ()
    created_after: date | None = None
    max_per_run: int = 500
    reenroll_after_days: int | None = None  # None: a record that ended it never comes back


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
    exit_on: frozenset[ExitCriterion] = ALL_EXITS
    tags: tuple[str, ...] = ()  # free-form labels, kept sorted and unique
    pacing: Pacing = Pacing()
    enroll: EnrollRule | None = None

    @property
    def is_active(self) -> bool:
        return self.status is SequenceStatus.ACTIVE

    @property
    def activity_count(self) -> int:
        return sum(1 for s in all_steps(self.steps) if s.is_activity)


def all_steps(steps: tuple[Step, ...]) -> list[Step]:
    """Every step of a step tree, in reading order (a condition before its branches)."""
    found: list[Step] = []
    for step in steps:
        found.append(step)
        if step.is_condition:
            found.extend(all_steps(step.then))
            found.extend(all_steps(step.otherwise))
    return found


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
class TableColumns:
    """A target table's columns as its mapping names them (Web API names), for conditions on
    columns and update_record steps. Built by the mapping layer; the engine only reads it."""

    table: str
    fields: Mapping[str, str]  # local Record field (name, email, ...) -> Web API column
    types: Mapping[str, str]  # Web API column -> string | int | float | bool | datetime | guid

    def values(self, record: Record) -> dict[str, object]:
        """The record's value of every mapped column, by Web API column name."""
        found: dict[str, object] = dict(record.columns)
        for local, column in self.fields.items():
            found[column] = getattr(record, local, None)
        return found


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
    # What became of the last activity step (completed | skipped): for `previous` conditions.
    last_outcome: str | None = None
    # When the record last replied (when a reply does not end the connection).
    replied_on: datetime | None = None


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One line of a connection's history; never deleted."""

    connection_id: str
    record_id: str
    sequence_id: str
    # connected | step_planned | step_completed | step_skipped | branch | replied | ended
    event: str
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


@dataclass(frozen=True, slots=True)
class CancelCrmActivity:
    """Set an activity that already exists in the CRM to Canceled (only when configured)."""

    activity_id: str
    activity_type: StepType


@dataclass(frozen=True, slots=True)
class UpdateRecord:
    """Set columns on the record in the CRM (an update_record step)."""

    update_id: str  # deterministic, like activity ids: one update per step per connection
    connection_id: str
    record_id: str
    step_id: str
    values: tuple[tuple[str, object], ...]


@dataclass(frozen=True, slots=True)
class MoveToSequence:
    """Connect the record to another sequence, in the transaction that ends this connection."""

    record_id: str
    sequence: str  # name or id
    at: datetime


Effect = (
    PlanActivity | CancelPendingActivity | CancelCrmActivity | UpdateRecord | MoveToSequence
)


@dataclass(frozen=True, slots=True)
class Signal:
    """Something the buyer did, seen in the CRM's change tracking."""

    kind: ExitCriterion
    record_id: str
    at: datetime
    activity_id: str | None = None  # bounce: the email that failed
    crm_id: str | None = None  # the CRM row that carried it (incoming email, appointment)


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
