"""The CRM request budget every worker on one state shares.

Dataverse's service protection counts requests per user per sliding window (6,000 per 5
minutes by default). Workers that each kept their own count would together send N times the
limit; instead every request first takes a unit from a counter in the state database.

The window is cut into BUCKETS time buckets; a request may go when the buckets that can overlap
the sliding window ending now (the current one and the BUCKETS before it), plus MARGIN more for
the time between taking a unit and the request reaching the CRM, hold fewer than the limit. That
overestimates, so the workers together stay under the limit in any window. The read-and-add
runs under a transaction-scoped advisory lock on PostgreSQL (SQLite: the write lock of BEGIN
IMMEDIATE), so two workers cannot both take the last unit.
"""

from __future__ import annotations

import math

from sqlalchemy import delete, func, insert, select, update

from connector.store.db import Store
from connector.store.schema import request_budget
from connector.store.workers import hold_until_commit

BUCKETS = 10
MARGIN = 2  # buckets: a request taken now may reach the CRM a little later


def take(store: Store, now: float, limit: int, window_seconds: float) -> float:
    """Take one request from the shared budget at `now` (epoch seconds).

    Returns 0 when the request may be sent (and counts it), else the seconds to wait before
    asking again (nothing counted).
    """
    width = window_seconds / BUCKETS
    current = math.floor(now / width)
    oldest = current - BUCKETS - MARGIN
    with store.begin() as db:
        hold_until_commit(db, "request-budget")
        used, first = db.execute(
            select(func.coalesce(func.sum(request_budget.c.used), 0),
                   func.min(request_budget.c.bucket))
            .where(request_budget.c.bucket >= oldest, request_budget.c.used > 0)
        ).one()
        if int(used) >= limit:
            # The earliest counted bucket stops counting once `current` passes it by BUCKETS.
            free_at = (int(first) + BUCKETS + MARGIN + 1) * width
            return max(free_at - now, 0.01)
        if not db.execute(
            update(request_budget).where(request_budget.c.bucket == current)
            .values(used=request_budget.c.used + 1)
        ).rowcount:
            db.execute(insert(request_budget).values(bucket=current, used=1))
            db.execute(delete(request_budget).where(request_budget.c.bucket < oldest))
        return 0.0
