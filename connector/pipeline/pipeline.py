"""Runs a message through PreValidation, PreOperation, the core operation and PostOperation.

One top-level message is one store transaction. Messages started by plugins join it at
depth + 1. Asynchronous PostOperation plugins are queued and run once the outermost
transaction has committed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from connector.config import Settings
from connector.engine.models import TableColumns
from connector.errors import InvalidInput, RuleViolation, SeqsyncError
from connector.pipeline.context import (
    MAX_DEPTH,
    Context,
    Message,
    Mode,
    PluginStep,
    Stage,
)
from connector.store.db import Store

log = logging.getLogger(__name__)


class PluginError(RuleViolation):
    """A plugin failed; the operation was rolled back."""


@dataclass(frozen=True)
class Operation:
    """The core of a message: `pre_image(context)` (optional) and `run(context)`."""

    run: Callable[[Context], None]
    pre_image: Callable[[Context], Any] | None = None


class Transaction:
    """An open transaction from `Pipeline.transaction()`: `db` to read, `execute` to run
    messages in it as top-level messages (depth 1)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.db: Connection | None = None
        self.after_commit: list[tuple[Any, Context]] = []

    def execute(self, message: Message | str, target: Any, *, now: datetime,
                table: str | None = None, user: str | None = None,
                correlation_id: str | None = None) -> Any:
        if self.db is None:
            raise RuntimeError("the transaction has ended")
        return self.pipeline.execute(message, target, now=now, table=table, user=user,
                                     correlation_id=correlation_id, tx=self)


ColumnsOf = Callable[[str], TableColumns | None]


class Pipeline:
    def __init__(self, store: Store, settings: Settings,
                 columns_of: ColumnsOf | None = None) -> None:
        self.store = store
        self.settings = settings
        self._operations: dict[Message, Operation] = {}
        self._steps: list[PluginStep] = []
        # A target table's mapped columns (conditions on columns, update_record steps); the
        # application gives it from the mappings, which this package does not read itself.
        self._columns_of = columns_of

    def columns_of(self, table: str) -> TableColumns | None:
        return self._columns_of(table) if self._columns_of else None

    def set_operation(self, message: Message | str, operation: Operation) -> None:
        self._operations[Message(message)] = operation

    def register(self, *steps: PluginStep) -> None:
        self._steps.extend(steps)

    def registered(self, message: Message | str, stage: Stage, table: str | None = None,
                   mode: Mode | None = None) -> list[PluginStep]:
        """Steps for one stage in execution order (order number, then registration order)."""
        found = [
            s for s in self._steps
            if s.message == message and s.stage == stage
            and (s.table is None or s.table == table)
            and (mode is None or s.mode is mode)
        ]
        return sorted(found, key=lambda s: s.order)

    def watched(self, message: Message | str, besides: Collection[str] = ()) -> bool:
        """Whether any plugin step is registered on `message`, at any stage or mode (those
        named in `besides` not counted)."""
        return any(s.message == message and s.name not in besides for s in self._steps)

    def execute(
        self,
        message: Message | str,
        target: Any,
        *,
        now: datetime,
        table: str | None = None,
        user: str | None = None,
        correlation_id: str | None = None,
        parent: Context | None = None,
        tx: Transaction | None = None,
    ) -> Any:
        try:
            msg = Message(message)
        except ValueError:
            raise InvalidInput(f"unknown message {message!r}") from None
        if msg not in self._operations:
            raise InvalidInput(f"no core operation for message {msg}")
        depth = parent.depth + 1 if parent else 1
        if depth > MAX_DEPTH:
            raise RuleViolation(
                f"{msg} aborted at depth {depth}: plugins started more than {MAX_DEPTH} "
                "nested operations (a plugin loop?)"
            )
        ctx = Context(
            message=msg, target=target, now=now, table=table,
            user=user or (parent.user if parent else self.settings.engine.user),
            correlation_id=correlation_id or (
                parent.correlation_id if parent else str(uuid.uuid4())
            ),
            depth=depth, settings=self.settings, parent=parent, pipeline=self,
        )
        if parent is not None and parent.db is not None:
            ctx.db = parent.db
            ctx.after_commit = parent.after_commit
            self._run(ctx)
            return ctx.result
        if tx is not None:
            ctx.db = tx.db
            ctx.after_commit = tx.after_commit
            self._run(ctx)
            return ctx.result
        with self.store.begin() as db:
            ctx.db = db
            self._run(ctx)
        ctx.db = None
        self._after_commit(ctx.after_commit)
        return ctx.result

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One store transaction the caller can read in and then run top-level messages in
        (`tx.execute`): committed when the block ends, then asynchronous plugins run."""
        tx = Transaction(self)
        with self.store.begin() as db:
            tx.db = db
            yield tx
        tx.db = None
        self._after_commit(tx.after_commit)

    def _after_commit(self, queued: list[tuple[Any, Context]]) -> None:
        for step, step_ctx in queued:
            step_ctx.db = None
            self._run_async(step, step_ctx)

    def _run(self, ctx: Context) -> None:
        operation = self._operations[ctx.message]
        if operation.pre_image is not None:
            ctx.pre_image = operation.pre_image(ctx)
        self._stage(ctx, Stage.PRE_VALIDATION)
        self._stage(ctx, Stage.PRE_OPERATION)
        operation.run(ctx)
        self._stage(ctx, Stage.POST_OPERATION)
        for step in self.registered(ctx.message, Stage.POST_OPERATION, ctx.table, Mode.ASYNC):
            ctx.after_commit.append((step, ctx))

    def _stage(self, ctx: Context, stage: Stage) -> None:
        ctx.stage = stage
        for step in self.registered(ctx.message, stage, ctx.table, Mode.SYNC):
            try:
                step.handler(ctx)
            except SeqsyncError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {step.name!r} failed on {ctx.message} ({stage.name}, "
                    f"{stage.value}): {type(exc).__name__}: {exc}; nothing was saved"
                ) from exc

    def _run_async(self, step: PluginStep, ctx: Context) -> None:
        ctx.stage = Stage.POST_OPERATION
        ctx.db = None
        try:
            step.handler(ctx)
        except Exception as exc:  # after commit there is nothing left to roll back
            log.warning(
                "asynchronous plugin %r failed on %s after commit: %s: %s",
                step.name, ctx.message, type(exc).__name__, exc,
            )
