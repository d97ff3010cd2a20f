"""The four promises, checked against the mock's tables and the local store.

- duplicates: a (connection, step) with more than one CRM activity, or a CRM activity the
  store does not know (it could only be a second copy that the store lost track of);
- missing: an item the store calls pushed that the CRM does not have (always), and once a run
  has completed, any due step without its activity;
- advanced_without_activity: a connection moved past an activity step whose activity never
  reached the CRM;
- delta_ahead: a saved delta link whose version covers a CRM change the store does not show.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from support.world import ACTIVITY_SETS, World

from connector.store.schema import connection_history, connections, outbox, records, steps
from connector.store.schema import sync_state as sync_state_table

ACTIVITY_STEP_TYPES = {"email", "phonecall", "task"}
TARGET_SETS = {"leads": ("leadid", "fullname"), "opportunities": ("opportunityid", "name")}


@dataclass
class Verdict:
    duplicates: int = 0
    missing: int = 0
    advanced_without_activity: int = 0
    delta_ahead: int = 0
    details: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.missing or self.advanced_without_activity
                    or self.delta_ahead)

    def counts(self) -> dict[str, int]:
        return {"duplicates": self.duplicates, "missing": self.missing,
                "advanced_without_activity": self.advanced_without_activity,
                "delta_ahead": self.delta_ahead}

    def __str__(self) -> str:
        return f"{self.counts()} e.g. {self.details[:5]}"


def check(world: World, now: datetime, *, complete: bool,
          deleted_activities: frozenset[str] = frozenset()) -> Verdict:
    """`complete`: a run has just finished cleanly, so nothing due may still be pending."""
    verdict = Verdict()
    crm = {str(row["activityid"]).lower(): row for row in world.activities()}
    items = world.db(outbox)
    by_id = {i.activity_id: i for i in items}
    _duplicates(verdict, crm, items, by_id)
    _missing(verdict, world, now, crm, items, deleted_activities, complete=complete)
    _advanced(verdict, world, crm, items, deleted_activities)
    _delta(verdict, world, crm, by_id)
    return verdict


def _duplicates(verdict: Verdict, crm: dict[str, Any], items: list[Any],
                by_id: dict[str, Any]) -> None:
    per_step = Counter((i.connection_id, i.step_id) for i in items if i.activity_id in crm)
    for key, n in per_step.items():
        if n > 1:
            verdict.duplicates += n - 1
            verdict.details.append(f"step {key} has {n} CRM activities")
    for activity_id in crm:
        if activity_id not in by_id:
            verdict.duplicates += 1
            verdict.details.append(f"CRM activity {activity_id} unknown to the store")


def _missing(verdict: Verdict, world: World, now: datetime, crm: dict[str, Any],
             items: list[Any], deleted: frozenset[str], *, complete: bool) -> None:
    for item in items:
        if item.status == "pushed" and item.activity_id not in crm \
                and item.activity_id not in deleted:
            verdict.missing += 1
            verdict.details.append(f"outbox {item.activity_id} pushed but not in the CRM")
        elif complete and item.status == "pending":
            verdict.missing += 1
            verdict.details.append(f"outbox {item.activity_id} still pending after a clean run")
    if not complete:
        return
    step_type = {s.id: s.type for s in world.db(steps)}
    with_item = {i.activity_id for i in items}
    for conn in world.db(connections):
        is_activity = step_type.get(conn.step_id) in ACTIVITY_STEP_TYPES
        due = conn.due_at is not None and _aware(conn.due_at) <= now
        if is_activity and due and (conn.activity_id is None
                                    or conn.activity_id not in with_item):
            verdict.missing += 1
            verdict.details.append(f"connection {conn.id} due at {conn.due_at} has no activity")


def _advanced(verdict: Verdict, world: World, crm: dict[str, Any], items: list[Any],
              deleted: frozenset[str]) -> None:
    step_type = {s.id: s.type for s in world.db(steps)}
    landed = {(i.connection_id, i.step_id) for i in items
              if i.activity_id in crm or i.activity_id in deleted}
    for event in world.db(connection_history):
        if event.event not in ("step_completed", "step_skipped"):
            continue
        if step_type.get(event.step_id) not in ACTIVITY_STEP_TYPES:
            continue
        if event.message == "step removed from the sequence":
            continue
        if (event.connection_id, event.step_id) not in landed:
            verdict.advanced_without_activity += 1
            verdict.details.append(
                f"connection {event.connection_id} passed step {event.step_id} without activity"
            )


def delta_version(link: str) -> int:
    token = parse_qs(urlsplit(link).query).get("$deltatoken", [""])[0]
    return int(token.partition("!")[0])


def _delta(verdict: Verdict, world: World, crm: dict[str, Any], by_id: dict[str, Any]) -> None:
    links = {row.key.removeprefix("delta:"): row.value for row in world.db(sync_state_table)
             if row.key.startswith("delta:")}
    local = {r.id: r for r in world.db(records)}
    store = world.crm.dv.store
    for entity_set, link in links.items():
        version = delta_version(link)
        with store.lock:
            table = store.tables[entity_set]
            rows = [dict(r) for r in table.rows.values() if r["versionnumber"] <= version]
            gone = [i for v, i in zip(table.deleted_versions, table.deleted_ids, strict=True)
                    if v <= version and i not in table.rows]
        if entity_set in TARGET_SETS:
            key, name = TARGET_SETS[entity_set]
            for row in rows:
                mine = local.get(str(row[key]).lower())
                if mine is None or mine.name != (row.get(name) or "") \
                        or mine.statecode != row.get("statecode"):
                    verdict.delta_ahead += 1
                    verdict.details.append(f"{entity_set} {row[key]} v{row['versionnumber']} "
                                           f"not applied but delta link is at v{version}")
            for row_id in gone:
                mine = local.get(row_id)
                if mine is not None and not mine.is_deleted:
                    verdict.delta_ahead += 1
                    verdict.details.append(f"{entity_set} {row_id} deleted but still live")
        elif entity_set in ACTIVITY_SETS:
            for row in rows:
                item = by_id.get(str(row["activityid"]).lower())
                if item is not None and row.get("statecode") != 0 and item.closed_on is None \
                        and item.status != "failed":
                    verdict.delta_ahead += 1
                    verdict.details.append(
                        f"{entity_set} {row['activityid']} v{row['versionnumber']} closed in the "
                        f"CRM but open locally ({item.status}); delta link at v{version}")


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
