"""Phase 3: turn due steps into outbox items, through the pipeline's `StepDue` message."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from connector.app import App
from connector.errors import InvalidInput
from connector.pipeline.context import Message
from connector.pipeline.results import StepDueResult
from connector.store import connections as connection_store

if TYPE_CHECKING:  # the engine benchmark plans without loading the CRM client
    from connector.sync.run_context import SyncContext

# Due connections planned per transaction. Each planned connection touches entries spread
# over GUID-keyed indexes; the bigger the transaction, the more of them share a page written
# at commit (measured on 1M due: ~220 us per connection at 5,000 a commit, ~170 at 20,000).
PLAN_TRANSACTION_ROWS = 20_000


def plan(ctx: SyncContext) -> None:
    ctx.progress.phase("plan")
    for result in plan_due_batches(ctx.app, ctx.now):
        ctx.report.activities_planned += result.planned
        ctx.report.held_back += result.held_back
        ctx.progress.advance(result.connections)


def plan_due_batches(
    app: App, now: datetime, batch_size: int = 5000
) -> Iterator[StepDueResult]:
    """Plan every due step: reads due connections page by page (keyset on id, active
    sequences only) and runs one StepDue message per page of `batch_size`, several pages a
    transaction (PLAN_TRANSACTION_ROWS). Results are yielded once their transaction has
    committed."""
    if now.tzinfo is None:
        raise InvalidInput(f"now={now.isoformat()} has no time zone")
    after = ""
    with app.store.begin() as db:
        # Past a few pages, sorting the due rows per page costs more than walking the ids.
        walk_ids = connection_store.due_count(db, now) > 4 * batch_size
    pages_per_transaction = max(1, PLAN_TRANSACTION_ROWS // max(1, batch_size))
    while True:
        results: list[StepDueResult] = []
        # Pages are read in the message's own transaction: StepDue then trusts those rows
        # instead of reading them a second time.
        with app.pipeline.transaction() as tx:
            assert tx.db is not None
            for _ in range(pages_per_transaction):
                page = connection_store.due_page(tx.db, now, after, batch_size, walk_ids=walk_ids)
                if not page:
                    break
                after = page[-1].id
                results.append(tx.execute(Message.STEP_DUE, page, now=now))
        yield from results
        if len(results) < pages_per_transaction:
            return
