"""Phase 1: mirror the target tables (leads, opportunities) through change tracking.

Each page is applied in its own transaction through the pipeline (`RecordChanged`,
`RecordDeleted`), so the rule plugins disconnect closed and deleted records. The delta link is
saved only after the last page it covers is committed.
"""

from __future__ import annotations

import logging

from connector.dataverse.client import ChangePage
from connector.engine.models import Record
from connector.errors import StateError
from connector.mapping import RowError, TargetMapping
from connector.store import quarantine
from connector.store import records as record_store
from connector.sync.changes import each_table, follow
from connector.sync.run_context import SyncContext

log = logging.getLogger("seqsync.sync.pull")


def pull(ctx: SyncContext) -> None:
    each_table(ctx, "pull", ctx.mappings.targets, lambda m: m.logical_name,
               lambda m: m.entity_set, pull_table)


def pull_table(ctx: SyncContext, mapping: TargetMapping) -> None:
    with ctx.store.read() as db:
        quarantined_before = quarantine.count(db)

    def apply(page: ChangePage) -> None:
        batch: list[Record] = []
        refused: list[tuple[str, str]] = []
        for row in page.upserts:
            try:
                batch.append(mapping.to_record(row))
            except RowError as exc:
                refused.append((_row_id(mapping, row), str(exc)))
        if batch:
            batch, not_stored = _store(ctx, mapping, batch)
            refused += not_stored
            ctx.report.rows_pulled[mapping.logical_name] += len(batch)
        deleted = [i.lower() for i in page.deleted_ids]
        if deleted:
            ctx.app.execute("RecordDeleted", deleted, table=mapping.logical_name, now=ctx.now)
            ctx.report.rows_deleted[mapping.logical_name] += len(deleted)
        if refused or quarantined_before:
            _quarantine(ctx, mapping, refused, [r.id for r in batch] + deleted)
        ctx.progress.advance(len(page.upserts) + len(page.deleted_ids))

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

    # Owner lookups say whether the owner is a user or a team: activities are bound by type.
    follow(ctx, mapping.entity_set, mapping.select_columns(), mapping.primary_key, apply,
           vanished, lookup_types=mapping.fields.owner_id is not None)


def _row_id(mapping: TargetMapping, row: dict[str, object]) -> str:
    try:
        return mapping.record_id(row)
    except RowError:
        return str(row.get(mapping.primary_key) or "")[:200]


def _store(
    ctx: SyncContext, mapping: TargetMapping, batch: list[Record]
) -> tuple[list[Record], list[tuple[str, str]]]:
    """RecordChanged for the page; if the database refuses it, row by row, so one row it
    cannot hold is set aside (returned with why) and the others are stored."""
    try:
        ctx.app.execute("RecordChanged", batch, table=mapping.logical_name, now=ctx.now)
        return batch, []
    except StateError:
        raise  # locked, full: no other row would fare better
    except Exception:
        log.warning("%d %s rows refused together; storing them one by one",
                    len(batch), mapping.logical_name)
    stored: list[Record] = []
    refused: list[tuple[str, str]] = []
    for record in batch:
        try:
            ctx.app.execute("RecordChanged", [record], table=mapping.logical_name, now=ctx.now)
            stored.append(record)
        except StateError:
            raise
        except Exception as exc:
            refused.append((record.id, f"{mapping.logical_name} {record.id}: cannot store: "
                                       f"{type(exc).__name__}: {exc}"))
    return stored, refused


def _quarantine(
    ctx: SyncContext, mapping: TargetMapping, refused: list[tuple[str, str]], fine: list[str],
) -> None:
    """Rows that could not be mapped or stored wait in quarantine (the rest of the run goes
    on); a row read back fine leaves it."""
    with ctx.store.begin() as db:
        quarantine.release(db, mapping.logical_name, fine)
        for record_id, error in refused:
            quarantine.put(db, mapping.logical_name, record_id, error, ctx.now)
    for record_id, error in refused:
        log.error("quarantined %s %s: %s", mapping.logical_name, record_id, error)
        ctx.report.add_error(record_id, error, kind="quarantine")
