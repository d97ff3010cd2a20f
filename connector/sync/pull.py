"""Phase 1: mirror the target tables (leads, opportunities) through change tracking.

Each page is applied in its own transaction through the pipeline (`RecordChanged`,
`RecordDeleted`), so the rule plugins disconnect closed and deleted records. The delta link is
saved only after the last page it covers is committed.
"""

from __future__ import annotations

import logging

from connector.dataverse.client import ChangePage
from connector.mapping import TargetMapping
from connector.store import records as record_store
from connector.sync.changes import each_table, follow
from connector.sync.run_context import SyncContext

log = logging.getLogger("seqsync.sync.pull")


def pull(ctx: SyncContext) -> None:
    each_table(ctx, "pull", ctx.mappings.targets, lambda m: m.logical_name,
               lambda m: m.entity_set, pull_table)


def pull_table(ctx: SyncContext, mapping: TargetMapping) -> None:
    def apply(page: ChangePage) -> None:
        # Map the whole page before writing any of it: one bad row keeps the page out entirely.
        batch = [mapping.to_record(row) for row in page.upserts]
        if batch:
            ctx.app.execute("RecordChanged", batch, table=mapping.logical_name, now=ctx.now)
            ctx.report.rows_pulled[mapping.logical_name] += len(batch)
        if page.deleted_ids:
            deleted = [i.lower() for i in page.deleted_ids]
            ctx.app.execute("RecordDeleted", deleted, table=mapping.logical_name, now=ctx.now)
            ctx.report.rows_deleted[mapping.logical_name] += len(deleted)
        ctx.progress.advance(len(batch) + len(page.deleted_ids))

    def vanished(seen: set[str]) -> None:
        with ctx.store.read() as db:
            gone = [rid for rid in record_store.live_ids(db, mapping.logical_name)
                    if rid not in seen]
        if gone:
            log.warning(
                "%d %s rows vanished while the delta token was expired; treating them as deleted",
                len(gone), mapping.logical_name,
            )
            ctx.app.execute("RecordDeleted", gone, table=mapping.logical_name, now=ctx.now)
            ctx.report.rows_deleted[mapping.logical_name] += len(gone)

    follow(ctx, mapping.entity_set, mapping.select_columns(), mapping.primary_key, apply,
           vanished)
