"""Outbox writes the sync phases share: set columns on many items at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, update

from connector.store.schema import outbox

# SQLite's default limit on bound parameters is 999 in older builds; stay under it.
IN_CHUNK = 900


def update_items(engine: Engine, activity_ids: Sequence[str], **values: Any) -> None:
    """One transaction: `values` on every item in `activity_ids`."""
    if not activity_ids:
        return
    with engine.begin() as conn:
        for start in range(0, len(activity_ids), IN_CHUNK):
            conn.execute(
                update(outbox)
                .where(outbox.c.activity_id.in_(activity_ids[start:start + IN_CHUNK]))
                .values(**values)
            )
