"""The pacing rule: owners' working hours, business-day waits and the daily cap on StepDue.

Built in (not an example plugin) and on only when [pacing] or a sequence asks for it. The
decisions are the engine's (`engine.pacing`); this module reads what they need from the store
and hands them to the StepDue operation. What the cap holds back is simply left due: the next
run that has room plans it, earliest due first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection

from connector.config import PacingConfig, Settings
from connector.engine.pacing import (
    Admission,
    OwnerPacing,
    WorkingHours,
    admit,
    used_per_day,
)
from connector.pipeline.context import Context, Message, PluginStep, Stage
from connector.store import pacing as pacing_store
from connector.store import workers as worker_store
from connector.store.connections import DuePage


def _clock(text: str | None, fallback: int) -> time:
    try:
        hour, minute = (int(part) for part in (text or "").split(":"))
        return time(hour, minute)
    except ValueError:
        return time(fallback % 24) if fallback < 24 else time(23, 59)


def default_hours(config: PacingConfig) -> WorkingHours:
    return WorkingHours(
        tz=ZoneInfo(config.timezone), start=time(config.start_hour),
        end=time(config.end_hour) if config.end_hour < 24 else time(23, 59, 59),
        weekdays=frozenset(config.weekdays),
    )


def owner_hours(db: Connection, config: PacingConfig) -> dict[str | None, WorkingHours]:
    """Each owner's working hours: their CRM time zone and day where known, else [pacing]."""
    base = default_hours(config)
    found: dict[str | None, WorkingHours] = {}
    for owner_id, got in pacing_store.owner_settings_of(db).items():
        try:
            tz = ZoneInfo(got.timezone) if got.timezone else base.tz
        except (ZoneInfoNotFoundError, ValueError):
            tz = base.tz
        start = _clock(got.work_start, config.start_hour) if got.work_start else base.start
        end = _clock(got.work_end, config.end_hour) if got.work_end else base.end
        if start >= end:
            start, end = base.start, base.end
        found[owner_id] = WorkingHours(tz=tz, start=start, end=end, weekdays=base.weekdays)
    return found


def admission(db: Connection, settings: Settings, now: datetime, *, complete: bool = False
              ) -> Admission | None:
    """Which due connections the daily caps let plan now; None when no cap is set.

    Planning ranks only as many per owner as a cap could admit; `complete` ranks every due
    connection, so that every held one is named (for `seqsync status`).
    """
    config = settings.pacing
    sequence_caps = pacing_store.capped_sequences(db)
    if config.max_per_owner_per_day is None and not sequence_caps:
        return None
    hours_of = owner_hours(db, config)
    base = default_hours(config)
    used, used_by_sequence = used_per_day(
        pacing_store.recent_creations(db, now), hours_of, base)
    candidates = (pacing_store.ranked_due(db, now, None, {}) if complete else
                  pacing_store.ranked_due(db, now, config.max_per_owner_per_day, sequence_caps))
    found = admit(candidates, now, hours_of, base, config.max_per_owner_per_day,
                  sequence_caps, used, used_by_sequence)
    found.capped = set(sequence_caps)
    found.global_cap = config.max_per_owner_per_day is not None
    return found


def held_back(db: Connection, settings: Settings, now: datetime) -> list[dict[str, object]]:
    """Due connections the caps keep for a later day, grouped by why: count, earliest due."""
    found = admission(db, settings, now, complete=True)
    if found is None:
        return []
    groups: dict[str, list[datetime]] = {}
    for connection_id, reason in found.held.items():
        groups.setdefault(reason, []).append(found.held_due[connection_id])
    return [{"reason": reason, "connections": len(due), "earliest_due": min(due).isoformat()}
            for reason, due in sorted(groups.items())]


# The pacing rule's steps on StepDue (see PacingRule.steps).
PACING_STEPS = frozenset({"pacing", "pacing-count"})


def daily_caps_apply(db: Connection, settings: Settings) -> bool:
    """Whether a daily cap is set, in [pacing] or on an active sequence."""
    return (settings.pacing.max_per_owner_per_day is not None
            or bool(pacing_store.capped_sequences(db)))


def leaves_activities_alone(db: Connection, settings: Settings) -> bool:
    """Whether pacing plans every due activity step now, at its due time: no working hours and
    no daily cap. (Business days only lengthen waits.) Set-based planning, which knows nothing
    of pacing, is exact only then."""
    return not settings.pacing.working_hours and not daily_caps_apply(db, settings)


@dataclass
class PacingRule:
    """StepDue at PreOperation: hand the operation the owners' calendars and drop the due
    connections the caps hold back; at PostOperation: count them in the result."""

    settings: Settings
    _held: dict[int, int] = field(default_factory=dict)

    def before(self, ctx: Context) -> None:
        db = ctx.database
        config = self.settings.pacing
        ctx.pacing = OwnerPacing(
            hours_of=owner_hours(db, config), default=default_hours(config),
            working_hours=config.working_hours, business_days=config.business_days,
            business_sequences=frozenset(pacing_store.business_day_sequences(db)),
        )
        if not daily_caps_apply(db, self.settings):
            return
        # Several workers on PostgreSQL: one counts against the caps at a time, and holds its
        # turn until its plan is committed, so the next one counts what it planned.
        worker_store.hold_until_commit(db, "daily-caps")
        # Ranked again for every page: activities planned by the pages before it count as used,
        # so the cap holds exactly however the due connections fall into pages.
        allowed = admission(db, self.settings, ctx.now)
        if allowed is None:
            return
        page = list(ctx.target)
        kept = [c for c in page if allowed.allows(c.id, c.sequence_id)]
        if len(kept) == len(page):
            return
        self._held[id(ctx)] = len(page) - len(kept)
        target = ctx.target
        ctx.target = (DuePage(kept, target.owners, target.db)
                      if isinstance(target, DuePage) else kept)

    def after(self, ctx: Context) -> None:
        held = self._held.pop(id(ctx), 0)
        if held and ctx.result is not None:
            ctx.result.held_back += held

    def steps(self) -> list[PluginStep]:
        return [
            PluginStep(Message.STEP_DUE, Stage.PRE_OPERATION, self.before, 400, name="pacing"),
            PluginStep(Message.STEP_DUE, Stage.POST_OPERATION, self.after, 400,
                       name="pacing-count"),  # both named in PACING_STEPS
        ]

