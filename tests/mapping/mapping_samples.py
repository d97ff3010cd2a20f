"""Sample ids and an outbox-shaped item shared by the mapping tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connector.sync.payloads import build_payloads

LEAD_ID = "5f0c1b2a-0000-4000-8000-000000000001"
OPP_ID = "7a1d2c3b-0000-4000-8000-000000000002"
OWNER_ID = "11aa22bb-0000-4000-8000-0000000000ff"
CONTACT_ID = "c0c0c0c0-0000-4000-8000-000000000003"
ACTIVITY_ID = "8f4c0000-0000-4000-8000-0000000000a1"


@dataclass(frozen=True)
class Item:
    """Shaped like a store outbox row: what ActivityMapping.payload reads."""

    activity_id: str = ACTIVITY_ID
    record_id: str = LEAD_ID
    record_table: str = "lead"
    subject: str = "Intro call"
    description: str | None = "Say hello"
    due_at: datetime = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    owner_id: str | None = OWNER_ID


def payload(mapping: Any, item: Any, record: Any = None) -> dict[str, Any]:
    """The body push sends for `item` and its stored `record` (None: gone from the state),
    built by the product's own `build_payloads` from a row shaped like the pending read."""
    row = (
        item.activity_id, item.record_id, item.record_table, item.subject, item.description,
        item.due_at, item.owner_id, getattr(item, "owner_type", None),
        record.id if record is not None else None,
        record.owner_id if record is not None else None,
        record.owner_type if record is not None else None,
        dict(record.columns) if record is not None else None, 0,
    )
    ((_, _, body),) = build_payloads(mapping, [row])
    return body
