"""Phase 1: mirror the target tables (leads, opportunities) through change tracking.

Each page is applied in its own transaction through the pipeline (`RecordChanged`,
`RecordDeleted`), so the rule plugins disconnect closed and deleted records. The delta link is
saved only after the last page it covers is committed.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from connector.dataverse.errors import DataverseError
from connector.errors import CrmUnavailable, SeqsyncError
from connector.mapping import TargetMapping
from connector.store.schema import records
from connector.sync import state
from connector.sync.context import SyncContext

log = logging.getLogger("seqsync.sync.pull")


def pull(ctx: SyncContext) -> None:
    for mapping in ctx.mappings.targets:
        ctx.progress.phase(f"pull {mapping.logical_name}")
        try:
            pull_table(ctx, mapping)
        except CrmUnavailable:
            raise  # the CRM is gone or refuses us: nothing else will work either
        except (DataverseError, SeqsyncError) as exc:
            # A hostile or broken answer for one table: keep its old delta link (the next run
            # reads the same changes again) and carry on with the rest of the run.
            log.error("pull of %s stopped: %s", mapping.entity_set, exc)
            ctx.report.add_error(None, f"pull {mapping.entity_set}: {exc}", kind="pull")


def pull_table(ctx: SyncContext, mapping: TargetMapping) -> None:
    key = state.delta_key(mapping.entity_set)
    saved = state.get_value(ctx.engine, key)
    link = None if ctx.full_read else saved  # `sync --full`: re-read as if the token expired
    seen: set[str] | None = None
    new_link: str | None = None
    for page in ctx.client.read_changes(
        mapping.entity_set, mapping.select_columns(), mapping.primary_key, link,
        ctx.page_size, on_expired="reread",
    ):
        if page.full_read and saved is not None and seen is None:
            # The saved token was rejected (the client logged why) or --full was asked: this
            # full read is the only way to learn what was deleted, by what it did not return.
            ctx.report.full_reads.append(mapping.entity_set)
            seen = set()
        # Map the whole page before writing any of it: one bad row keeps the page out entirely.
        batch = [mapping.to_record(row) for row in page.upserts]
        if batch:
            ctx.app.execute("RecordChanged", batch, table=mapping.logical_name, now=ctx.now)
            ctx.report.rows_pulled[mapping.logical_name] += len(batch)
            if seen is not None:
                seen.update(r.id for r in batch)
        if page.deleted_ids:
            deleted = [i.lower() for i in page.deleted_ids]
            ctx.app.execute("RecordDeleted", deleted, table=mapping.logical_name, now=ctx.now)
            ctx.report.rows_deleted[mapping.logical_name] += len(deleted)
        ctx.progress.advance(len(batch) + len(page.deleted_ids))
        if page.delta_link:
            new_link = page.delta_link
    if seen is not None:
        _delete_unseen(ctx, mapping, seen)
    if new_link:
        state.set_value(ctx.engine, key, new_link)


def _delete_unseen(ctx: SyncContext, mapping: TargetMapping, seen: set[str]) -> None:
    query = select(records.c.id).where(
        records.c.table == mapping.logical_name, records.c.is_deleted.is_(False)
    )
    with ctx.engine.connect() as conn:
        gone = [rid for rid in conn.execute(query).scalars() if rid not in seen]
    if gone:
        log.warning(
            "%d %s rows are gone from the CRM (found by the full re-read); "
            "treating them as deleted",
            len(gone), mapping.logical_name,
        )
        ctx.app.execute("RecordDeleted", gone, table=mapping.logical_name, now=ctx.now)
        ctx.report.rows_deleted[mapping.logical_name] += len(gone)
