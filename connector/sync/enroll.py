"""Phase 2b: segments. Each active sequence with an [enroll] rule connects the open,
unconnected records that newly match it, at most max_per_run a sync, through the same Connect
message `seqsync connect` sends (so every connect rule holds)."""

from __future__ import annotations

import logging

from connector.engine.models import ConnectRequest, Sequence, SequenceStatus
from connector.pipeline.context import Message
from connector.store import enrollment as enrollment_store
from connector.store import sequences as seq_store
from connector.store.chunks import chunks
from connector.sync.cooperation import segment_turn
from connector.sync.run_context import SyncContext

log = logging.getLogger("seqsync.sync")

CONNECT_SLICE = 5000  # records per Connect message (one transaction each)


def enroll(ctx: SyncContext) -> None:
    with ctx.store.begin() as db:
        ruled = [s for s in seq_store.list_sequences(db, SequenceStatus.ACTIVE) if s.enroll]
    if not ruled:
        return
    with segment_turn(ctx.store) as my_turn:
        if not my_turn:
            # Two workers picking at once would pick the same records and each enrol up to
            # max_per_run; the one enrolling now covers this sync's matches.
            log.info("enrolment: another worker is enrolling segments now; left to it")
            return
        _enroll_ruled(ctx, ruled)


def _enroll_ruled(ctx: SyncContext, ruled: list[Sequence]) -> None:
    ctx.progress.phase("enroll")
    for seq in ruled:
        with ctx.store.begin() as db:
            found = enrollment_store.pick(db, seq, ctx.now)
        enrolled = 0
        for batch in chunks(found.ids, CONNECT_SLICE):
            result = ctx.app.execute(Message.CONNECT, ConnectRequest(seq.id, batch), now=ctx.now)
            enrolled += result.succeeded
        with ctx.store.begin() as db:
            enrollment_store.record_run(db, seq.id, ctx.now, found, enrolled)
        if enrolled:
            ctx.report.enrolled[seq.name] += enrolled
        ctx.progress.advance(enrolled)
