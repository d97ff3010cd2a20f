"""Phase 4: create the outbox's activities in the CRM, exactly once each.

Every outbox item carries a deterministic activity id, and the CRM is asked to create the row
with that id. A resend after a crash therefore meets "already exists", which counts as success,
so a run can die anywhere and the next one neither loses nor duplicates an activity.

Pending items are read in chunks of `batch_size` (`store.outbox.pending_chunks`), turned into
bodies (`payloads`), sent with CreateMultiple, several chunks in flight (as many as the client's
adaptive concurrency allows: the server's `x-ms-dop-hint`, halved on throttling) with a per-row
fallback (`send`), and what the CRM said is recorded (`outcomes`). All database writes happen
on the calling thread; workers only talk to the CRM.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from connector.engine.models import StepType
from connector.mapping import ActivityMapping
from connector.store import outbox as outbox_store
from connector.store.outbox import OutboxStatus
from connector.sync.cancellations import push_cancellations
from connector.sync.crm import CrmWriter
from connector.sync.outcomes import record_outcome
from connector.sync.payloads import build_payloads
from connector.sync.run_context import SyncContext
from connector.sync.send import ChunkOutcome, send_chunk


def push(ctx: SyncContext, crm: CrmWriter) -> set[StepType]:
    """Push every pending item; returns the activity types that got new CRM rows."""
    touched: set[StepType] = set()
    for step_type in (StepType.EMAIL, StepType.PHONECALL, StepType.TASK):
        mapping = ctx.mappings.activity(step_type)
        with ctx.store.read() as db:
            total = outbox_store.of_type_count(db, step_type, OutboxStatus.PENDING)
        ctx.progress.phase(f"push {mapping.logical_name}", total=total)
        if _push_type(ctx, crm, step_type, mapping):
            touched.add(step_type)
    push_cancellations(ctx, crm)
    return touched


def _push_type(
    ctx: SyncContext, crm: CrmWriter, step_type: StepType, mapping: ActivityMapping
) -> bool:
    pushed_any = False
    workers = max(1, crm.concurrency)
    with ThreadPoolExecutor(max_workers=ctx.settings.sync.max_workers_cap) as pool:
        in_flight: set[Future[ChunkOutcome]] = set()
        chunks = outbox_store.pending_chunks(ctx.store, step_type, ctx.settings.sync.batch_size)
        for chunk in chunks:
            payloads = build_payloads(mapping, chunk)
            in_flight.add(pool.submit(send_chunk, crm, step_type, mapping, payloads))
            # Re-read the allowance each time: throttling lowers it while the run goes on.
            workers = max(1, crm.concurrency)
            while len(in_flight) >= workers:
                pushed_any |= _record_some(ctx, in_flight)
        while in_flight:
            pushed_any |= _record_some(ctx, in_flight)
    return pushed_any


def _record_some(ctx: SyncContext, in_flight: set[Future[ChunkOutcome]]) -> bool:
    """Wait for at least one chunk, record every finished one (removed from `in_flight`)."""
    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
    pushed_any = False
    for future in done:
        in_flight.discard(future)
        # CrmUnavailable and bugs propagate and end the run.
        pushed_any |= record_outcome(ctx, future.result())
    return pushed_any
