"""Push, job 3 of 3: record what the CRM said about a chunk, on the calling thread."""

from __future__ import annotations

import logging

from connector.engine.models import DisconnectRequest, EndReason
from connector.store import outbox as outbox_store
from connector.store.outbox import Claim
from connector.sync.run_context import SyncContext
from connector.sync.send import ChunkOutcome

log = logging.getLogger("seqsync.sync.push")


def record_outcome(ctx: SyncContext, outcome: ChunkOutcome, claim: Claim) -> bool:
    """One transaction per chunk (the claim's own); True when the CRM got new rows from it."""
    ok = outcome.created + outcome.existed
    with claim.writing() as db:
        if ok:
            outbox_store.mark_pushed(db, ok, ctx.now)
        for activity_id, _record_id, message in outcome.failed:
            outbox_store.mark_failed(db, activity_id, message)
    ctx.report.count_created(outcome.activity_type.value, len(outcome.created))
    ctx.report.activities_already_existed += len(outcome.existed)
    if outcome.deferred:
        ctx.report.add_error(
            None, f"{len(outcome.deferred)} {outcome.activity_type.value} activities left "
            f"for the next run: {outcome.deferred_reason}", kind="crm",
        )
    for activity_id, record_id, message in outcome.failed:
        _fail(ctx, activity_id, record_id, message)
    ctx.progress.advance(len(ok) + len(outcome.failed) + len(outcome.deferred))
    return bool(outcome.created)


def _fail(ctx: SyncContext, activity_id: str, record_id: str, message: str) -> None:
    """A permanent refusal: the item is failed (with the chunk's outcome) and its connection
    ends, visibly, with `error`."""
    log.warning("activity %s for record %s refused by the CRM: %s", activity_id, record_id, message)
    ctx.app.execute(
        "Disconnect", DisconnectRequest([record_id], EndReason.ERROR, message[:2000]), now=ctx.now
    )
    ctx.report.add_error(record_id, message)
