"""Push: set the columns update_record steps asked for on their records in the CRM.

A PATCH with `If-Match: *` updates and never creates; sending it twice is harmless, so an item
whose result was lost is simply sent again by the next run.
"""

from __future__ import annotations

from typing import Any

from connector.dataverse.errors import is_busy
from connector.store import updates as update_store
from connector.sync.crm import CrmWriter
from connector.sync.run_context import SyncContext
from connector.sync.send import patch_in_batches


def push_record_updates(ctx: SyncContext, crm: CrmWriter) -> None:
    with ctx.store.read() as db:
        rows = update_store.pending(db)
    if not rows:
        return
    ctx.progress.phase("update records", total=len(rows))

    def patch(row: Any) -> tuple[str, dict[str, Any]]:
        return (f"{ctx.mappings.target(row.record_table).entity_set}({row.record_id})",
                dict(row.values))

    for part in patch_in_batches(crm, rows, patch):
        done: list[str] = []
        for row, result in part:
            if result.ok:
                done.append(row.update_id)
            elif is_busy(result.error):
                continue  # stays pending: the next run sends it again
            else:
                message = f"update_record {dict(row.values)}: {result.message}"
                with ctx.store.begin() as db:
                    update_store.mark(db, [row.update_id], update_store.FAILED, ctx.now, message)
                ctx.report.add_error(row.record_id, message)
        if done:
            with ctx.store.begin() as db:
                update_store.mark(db, done, update_store.PUSHED, ctx.now)
        ctx.report.records_updated += len(done)
        ctx.progress.advance(len(part))
