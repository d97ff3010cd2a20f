"""Phase 3: turn due steps into outbox items, through the pipeline's `StepDue` message."""

from __future__ import annotations

from connector.app import plan_due_batches
from connector.sync.context import SyncContext


def plan(ctx: SyncContext) -> None:
    ctx.progress.phase("plan")
    for result in plan_due_batches(ctx.app, ctx.now):
        ctx.report.activities_planned += result.planned
        ctx.progress.advance(result.connections)
