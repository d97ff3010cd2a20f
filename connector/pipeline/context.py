"""What a plugin sees and how it is registered: the Dataverse execution-context model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

if TYPE_CHECKING:
    from connector.config import Settings
    from connector.engine.progression import DueAdjuster
    from connector.pipeline.pipeline import Pipeline

MAX_DEPTH = 8


class Message(StrEnum):
    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"
    ACTIVATE = "Activate"
    DEACTIVATE = "Deactivate"
    CONNECT = "Connect"
    DISCONNECT = "Disconnect"
    STEP_DUE = "StepDue"
    ACTIVITY_COMPLETED = "ActivityCompleted"
    RECORD_CHANGED = "RecordChanged"
    RECORD_DELETED = "RecordDeleted"


class Stage(IntEnum):
    PRE_VALIDATION = 10
    PRE_OPERATION = 20
    POST_OPERATION = 40


class Mode(StrEnum):
    SYNC = "sync"  # inside the transaction; an exception rolls everything back
    ASYNC = "async"  # PostOperation only: after commit; cannot cancel the operation


@dataclass
class Context:
    """The execution context of one message. Plugins read it and may change `target`
    (PreValidation/PreOperation), `shared_variables` and `result` (PostOperation).

    What rule plugins hand to a core operation travels in typed fields, never in
    `shared_variables` (which is for plugins talking to each other): `connect_refusals`,
    `due_adjusters`, `disconnected`. A core operation re-checks against the state any rule it
    depends on, so a later plugin that changes the target cannot slip a record past it.
    """

    message: Message
    target: Any
    now: datetime
    user: str
    correlation_id: str
    depth: int
    settings: Settings
    table: str | None = None
    stage: Stage = Stage.PRE_VALIDATION
    pre_image: Any = None
    post_image: Any = None
    result: Any = None
    shared_variables: dict[str, Any] = field(default_factory=dict)
    # Connect: record id -> why it may not be connected (the connect-preconditions rule).
    connect_refusals: dict[str, str] = field(default_factory=dict)
    # StepDue: functions that move an activity step's due time (business hours, say).
    due_adjusters: list[DueAdjuster] = field(default_factory=list)
    # Delete: connections of the sequence that rules ended before it goes.
    disconnected: int = 0
    parent: Context | None = None
    # The open transaction (None in asynchronous plugins, which run after commit).
    db: Connection | None = None
    pipeline: Pipeline | None = field(default=None, repr=False)
    # Asynchronous plugin runs queued for after the outermost commit (shared with nested ones).
    after_commit: list[tuple[Any, Context]] = field(default_factory=list, repr=False)

    def execute(self, message: Message | str, target: Any, *, table: str | None = None) -> Any:
        """Run another message from this one, at depth + 1, in the same transaction."""
        assert self.pipeline is not None
        return self.pipeline.execute(
            message, target, now=self.now, table=table, user=self.user,
            correlation_id=self.correlation_id, parent=self,
        )

    @property
    def database(self) -> Connection:
        """`db`, the open transaction, for synchronous stages (async ones run after commit)."""
        if self.db is None:
            raise RuntimeError("no open transaction (asynchronous plugins run after commit)")
        return self.db


Handler = Callable[[Context], None]


@dataclass(frozen=True)
class PluginStep:
    """One registration: run `handler` on `message` at `stage`, ordered by `order`."""

    message: Message
    stage: Stage
    handler: Handler
    order: int = 100
    mode: Mode = Mode.SYNC
    name: str = ""
    table: str | None = None  # only for this table (RecordChanged/RecordDeleted), or any

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", Message(self.message))
        object.__setattr__(self, "stage", Stage(self.stage))
        object.__setattr__(self, "mode", Mode(self.mode))
        if self.mode is Mode.ASYNC and self.stage is not Stage.POST_OPERATION:
            raise ValueError("asynchronous plugins can only run at PostOperation (40)")
        if not self.name:
            object.__setattr__(self, "name", getattr(self.handler, "__name__", "plugin"))


def plugin(
    message: Message | str,
    stage: Stage | int,
    order: int = 100,
    *,
    mode: Mode | str = Mode.SYNC,
    table: str | None = None,
    name: str = "",
) -> Callable[[Handler], PluginStep]:
    """Decorator turning `def handler(context)` into a registrable PluginStep."""

    def wrap(handler: Handler) -> PluginStep:
        return PluginStep(
            Message(message), Stage(stage), handler, order, Mode(mode), name, table
        )

    return wrap
