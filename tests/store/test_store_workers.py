"""Workers sharing one state: the request budget, the change-tracking lock, the registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.store import budget
from connector.store.db import open_store
from connector.store.workers import Backlog, backlog, exclusive, note_worker, recent_workers

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_budget_never_lets_more_than_the_limit_into_any_window(state_url):
    store = open_store(state_url)
    try:
        limit, window = 5, 10.0
        sent: list[float] = []
        now = 1000.0
        while now < 1040:
            wait = budget.take(store, now, limit, window)
            if wait == 0:
                sent.append(now)
                now += 0.25
            else:
                assert wait > 0
                now += wait
        for t in sent:  # any sliding window of `window` seconds holds at most `limit`
            assert sum(1 for s in sent if t - window < s <= t) <= limit
        assert len(sent) >= 3 * limit  # and the budget is used, not starved
    finally:
        store.close()


def test_the_budget_is_shared_between_two_stores_on_one_state(state_url):
    first, second = open_store(state_url), open_store(state_url)
    try:
        assert [budget.take(first, 500.0, 3, 60) for _ in range(2)] == [0, 0]
        assert budget.take(second, 500.1, 3, 60) == 0
        assert budget.take(second, 500.2, 3, 60) > 0  # the third was the other worker's
        assert budget.take(first, 500.2, 3, 60) > 0
    finally:
        first.close()
        second.close()


def test_one_reader_per_table_on_postgresql(pg_url):
    first, second = open_store(pg_url), open_store(pg_url)
    try:
        with exclusive(first, "changes:lead") as got:
            assert got
            with exclusive(second, "changes:lead") as other:
                assert not other
            with exclusive(second, "changes:opportunity") as other:
                assert other
        with exclusive(second, "changes:lead") as again:
            assert again  # released at the end of the block
    finally:
        first.close()
        second.close()


def test_workers_and_backlog_are_visible(state_url):
    store = open_store(state_url)
    try:
        with store.begin() as db:
            note_worker(db, "a:1:x", "a", 1, T0, T0, "plan")
        with store.begin() as db:
            note_worker(db, "a:1:x", "a", 1, T0, T0 + timedelta(minutes=1), "push emails")
            note_worker(db, "b:2:x", "b", 2, T0, T0 - timedelta(hours=2), "pull lead")
        with store.read() as db:
            seen = recent_workers(db, T0 - timedelta(minutes=10))
            assert [(w.id, w.action) for w in seen] == [("a:1:x", "push emails")]
            assert backlog(db, T0) == Backlog(0, 0, 0)
    finally:
        store.close()
