"""Push, last step: cancel in the CRM the activities of ended connections, when asked to."""

from __future__ import annotations

from typing import Any

from connector.engine.models import StepType
from connector.store import outbox as outbox_store
from connector.sync.crm import CrmWriter
from connector.sync.run_context import SyncContext
from connector.sync.send import patch_in_batches


def push_cancellations(ctx: SyncContext, crm: CrmWriter) -> None:
    with ctx.store.begin() as db:
        rows = outbox_store.take_cancellations(db)
    if not rows:
        return
    ctx.progress.phase("cancel", total=len(rows))

    def cancel(row: Any) -> tuple[str, dict[str, Any]]:
        mapping = ctx.mappings.activity(StepType(row.activity_type))
        return f"{mapping.entity_set}({row.activity_id})", mapping.cancel_body()

    for part in patch_in_batches(crm, rows, cancel):
        canceled = []
        for row, result in part:
            # 404: a seller deleted it already; either way it is no longer open.
            if result.ok or result.status == 404:
                canceled.append(row.activity_id)
            else:
                ctx.report.add_error(row.record_id, f"cancel {row.activity_id}: {result.message}")
        if canceled:
            with ctx.store.begin() as db:
                outbox_store.mark_canceled_in_crm(db, canceled, ctx.now)
        ctx.report.activities_canceled_in_crm += len(canceled)
        ctx.progress.advance(len(part))
