"""Every read the web console makes of the state, in one place (the store's functions and the
shared read models). Pages never touch the database otherwise; writes go through App.execute."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connector import readmodels
from connector.app import App
from connector.engine.models import Sequence, Step
from connector.engine.tree import layout
from connector.errors import NotFound
from connector.readmodels import RecordDetail
from connector.store import records as record_store
from connector.store import runs as run_store
from connector.store import sequences as seq_store
from connector.store import stats as stats_store
from connector.where import parse_where

CANDIDATES_SHOWN = 200


def sequences(app: App, tag: str | None = None,
              owner: str | None = None) -> list[tuple[Sequence, int]]:
    return readmodels.sequences_with_counts(app, tag=tag or None, owner=owner or None)


def sequence(app: App, sequence_id: str) -> Sequence:
    with app.store.begin() as db:
        found = seq_store.load_sequence(db, sequence_id)
    if found is None:
        raise NotFound(f"no sequence with id {sequence_id!r}")
    return found


def name_taken(app: App, name: str) -> bool:
    with app.store.begin() as db:
        return seq_store.name_owner(db, name) is not None


def connected_count(app: App, sequence_id: str) -> int:
    return readmodels.connected_count(app, sequence_id)


def connected_records(app: App, seq: Sequence) -> list[dict[str, Any]]:
    return readmodels.connected_records(app, seq)


def candidates(app: App, seq: Sequence, text: str, where: Mapping[str, str]
               ) -> list[dict[str, Any]]:
    """Open records of the sequence's table on no sequence, by name and column filters."""
    return readmodels.records_with_place(
        app, table=seq.entity, unconnected=True, open_only=True, where=where,
        name_contains=text or None, limit=CANDIDATES_SHOWN,
    )


def where_filters(app: App, seq: Sequence, text: str) -> dict[str, str]:
    """COLUMN=VALUE filters, one a line, checked as the CLI's --where (columns of the
    sequence's table only)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return parse_where(lines, app.settings, seq.entity, option="filter")


def record_names(app: App, ids: list[str]) -> dict[str, str]:
    with app.store.begin() as db:
        return {rid: r.name for rid, r in record_store.load_records(db, ids).items()}


def record(app: App, record_id: str) -> RecordDetail:
    """A record in the local state (a quarantined row that never got there is not found)."""
    detail = readmodels.record_detail(app, record_id)
    if detail.record is None:
        held = detail.quarantined or {}
        raise NotFound(f"record {record_id!r} is quarantined since {held.get('since')}: "
                       f"{held.get('error')}")
    return detail


def runs(app: App, limit: int = 20) -> list[dict[str, Any]]:
    with app.store.begin() as db:
        return run_store.recent(db, limit)


def backlog(app: App, now: datetime) -> dict[str, int]:
    with app.store.begin() as db:
        return stats_store.backlog(db, now)


def outcomes(app: App, seq: Sequence) -> dict[str, Any]:
    """Records on each step now (a funnel down the sequence) and how connections ended."""
    with app.store.begin() as db:
        counts = stats_store.history_counts(db, seq.id)
    return {"steps": [(step, counts.on_step.get(step.id, 0)) for step in seq.steps],
            "tree": tree_rows(seq, counts.on_step, counts.branches),
            "endings": dict(counts.ended)}


def tree_rows(seq: Sequence, on_step: Mapping[str, int],
              branches: Mapping[str, Mapping[str, int]]) -> list[dict[str, Any]]:
    """The step tree flattened top-down: address, depth, the step, records on it now and, for
    a condition, how many times each branch was taken."""
    address = layout(seq).address
    rows: list[dict[str, Any]] = []

    def walk(steps: tuple[Step, ...], depth: int) -> None:
        for step in steps:
            rows.append({"address": address[step.id], "depth": depth, "step": step,
                         "here": on_step.get(step.id, 0),
                         "taken": dict(branches.get(step.id, {}))})
            if step.is_condition:
                walk(step.then, depth + 1)
                walk(step.otherwise, depth + 1)

    walk(seq.steps, 0)
    return rows
