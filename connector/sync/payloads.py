"""Push, job 1 of 3: the CreateMultiple bodies of a chunk of pending outbox items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connector.mapping import ActivityMapping, PayloadPlan

# (activity id, record id, body)
Payload = tuple[str, str, dict[str, Any]]


def build_payloads(mapping: ActivityMapping, chunk: Sequence[Sequence[Any]]) -> list[Payload]:
    """One payload per row of `chunk` (rows as `store.outbox.pending_chunks` reads them), the
    hot loop of a push: rows go straight from the query's columns into the mapping's
    precomputed plan, with no `Record` per row."""
    plans: dict[str, PayloadPlan] = {}
    out = []
    for (activity_id, record_id, table, subject, description, due_at, owner_id, owner_type,
         found, record_owner, record_owner_type, columns, _) in chunk:
        plan = plans.get(table) or plans.setdefault(table, mapping.payload_plan(table))
        if found is None:  # the record is gone from the state: no owner or To party from it
            recipient = None
        else:
            if not owner_id:
                owner_id, owner_type = record_owner, record_owner_type
            recipient = plan.recipient_of(record_id, columns)
        out.append((activity_id, record_id, plan.body(
            activity_id, record_id, subject, description, due_at, owner_id, recipient,
            owner_type,
        )))
    return out
