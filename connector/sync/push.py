"""Phase 4: create the outbox's activities in the CRM, exactly once each.

Every outbox item carries a deterministic activity id, and the CRM is asked to create the row
with that id. A resend after a crash therefore meets "already exists", which counts as success,
so a run can die anywhere and the next one neither loses nor duplicates an activity.

Pending items are read in chunks of `batch_size` (`store.outbox.pending_chunks`), turned into
bodies (`payloads`), sent with CreateMultiple, several chunks in flight (as many as the client's
adaptive concurrency allows: the server's `x-ms-dop-hint`, halved on throttling) with a per-row
fallback (`send`), and what the CRM said is recorded (`outcomes`). All database writes happen
on the calling thread; threads only talk to the CRM.

Several workers on PostgreSQL share the push: each chunk is a claim (`store.outbox.Claim`),
its rows locked by a transaction that stays open until the outcome is written in it. Other
workers skip locked rows; a worker killed mid-chunk gives its rows back with its transaction,
and whoever sends them again meets "already exists" for those the CRM got.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from connector.engine.models import StepType
from connector.mapping import ActivityMapping
from connector.store import outbox as outbox_store
from connector.store.outbox import Claim, OutboxStatus
from connector.sync.cancellations import push_cancellations
from connector.sync.crm import CrmWriter
from connector.sync.outcomes import record_outcome
from connector.sync.payloads import Payload, build_payloads
from connector.sync.record_updates import push_record_updates
from connector.sync.run_context import SyncContext
from connector.sync.send import ChunkOutcome, send_chunk
from connector.sync.templates import Templates, apply_templates


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
    push_record_updates(ctx, crm)
    return touched


def _push_type(
    ctx: SyncContext, crm: CrmWriter, step_type: StepType, mapping: ActivityMapping
) -> bool:
    pushed_any = False
    templates = Templates(crm, ctx.mappings.template)
    # On PostgreSQL every chunk in flight holds a pooled connection (its claim): never more
    # chunks than the pool has room for, two connections kept for everything else.
    room = max(1, ctx.store.pool_capacity - 2) if not ctx.store.is_sqlite else None
    in_flight: dict[Future[ChunkOutcome], Claim] = {}
    try:
        with ThreadPoolExecutor(max_workers=ctx.settings.sync.max_workers_cap) as pool:
            size = ctx.settings.sync.batch_size
            for claim in outbox_store.claim_chunks(ctx.store, step_type, size):
                try:
                    payloads = build_payloads(mapping, claim.rows)
                    refused: list[tuple[str, str, str]] = []
                    if step_type is StepType.EMAIL:
                        payloads, refused = apply_templates(ctx, crm, templates, mapping,
                                                            payloads)
                except BaseException:
                    claim.release()
                    raise
                if not payloads:
                    # Every email of the chunk refused: written in the claim's own transaction
                    # (on PostgreSQL its rows are locked by it).
                    try:
                        record_outcome(ctx, ChunkOutcome(step_type, failed=refused), claim)
                    finally:
                        claim.release()
                    continue
                future = pool.submit(_send, crm, step_type, mapping, payloads, refused)
                in_flight[future] = claim
                while len(in_flight) >= _allowed(crm, room):
                    pushed_any |= _record_some(ctx, in_flight)
            while in_flight:
                pushed_any |= _record_some(ctx, in_flight)
    finally:
        for claim in in_flight.values():  # the run stops: claimed rows are pending again
            claim.release()
    return pushed_any


def _send(
    crm: CrmWriter, step_type: StepType, mapping: ActivityMapping, payloads: list[Payload],
    refused: list[tuple[str, str, str]],
) -> ChunkOutcome:
    """Send a chunk; emails whose template was refused are failed with its outcome."""
    outcome = send_chunk(crm, step_type, mapping, payloads)
    outcome.failed.extend(refused)
    return outcome


def _allowed(crm: CrmWriter, room: int | None) -> int:
    # Re-read the allowance each time: throttling lowers it while the run goes on.
    allowed = max(1, crm.concurrency)
    return allowed if room is None else min(allowed, room)


def _record_some(ctx: SyncContext, in_flight: dict[Future[ChunkOutcome], Claim]) -> bool:
    """Wait for at least one chunk, record every finished one (removed from `in_flight`)."""
    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
    pushed_any = False
    for future in done:
        claim = in_flight.pop(future)
        try:
            # CrmUnavailable and bugs propagate and end the run.
            pushed_any |= record_outcome(ctx, future.result(), claim)
        finally:
            claim.release()
    return pushed_any
