"""Pacing: working hours in an owner's time zone, waits in business days, and a daily cap of
activities per owner. Pure: every function takes the times it needs; no I/O, no clock.

A cap never drops work: what it holds back stays due, and is planned on a later run in the
order it came due, as soon as its owner's day has room again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector.engine.models import Sequence, Step
from connector.errors import InvalidInput


def zone(name: str, where: str) -> ZoneInfo:
    """The IANA time zone `name`, or a one-line InvalidInput naming `where` it came from."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{where}: unknown time zone {name!r} (an IANA name such as "
                           "'Europe/Paris')") from None


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """An owner's working week: [start, end) on `weekdays` (Monday = 0) in `tz`."""

    tz: tzinfo
    start: time = time(9)
    end: time = time(17)
    weekdays: frozenset[int] = frozenset(range(5))

    def _opening(self, day: date) -> datetime:
        return datetime.combine(day, self.start, self.tz)

    def _closing(self, day: date) -> datetime:
        return datetime.combine(day, self.end, self.tz)

    def _next_workday(self, day: date) -> date:
        day += timedelta(days=1)
        while day.weekday() not in self.weekdays:
            day += timedelta(days=1)
        return day

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` itself inside working hours, else the next opening (same zone as given)."""
        local = moment.astimezone(self.tz)
        day = local.date()
        if day.weekday() in self.weekdays:
            if local < self._opening(day):
                return self._opening(day).astimezone(moment.tzinfo)
            if local < self._closing(day):
                return moment
        return self._opening(self._next_workday(day)).astimezone(moment.tzinfo)

    def next_day_opening(self, moment: datetime) -> datetime:
        """The opening of the first working day after `moment`'s local day."""
        local = moment.astimezone(self.tz)
        return self._opening(self._next_workday(local.date())).astimezone(moment.tzinfo)

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def wait_end(self, step: Step, started: datetime) -> datetime:
        """When a wait that started at `started` ends, counted in business time: `days`
        working days (same local time of day, inside working hours), then `hours` working
        hours."""
        moment = started
        if step.days:
            local = started.astimezone(self.tz)
            day = local.date()
            for _ in range(step.days):
                day = self._next_workday(day)
            moment = datetime.combine(day, local.time(), self.tz)
        moment = self.next_opening(moment)
        remaining = timedelta(hours=step.hours)
        while remaining:
            local = moment.astimezone(self.tz)
            left_today = self._closing(local.date()) - local
            if remaining <= left_today:
                moment = moment + remaining
                break
            remaining -= left_today
            moment = self.next_day_opening(moment)
        return moment.astimezone(started.tzinfo)


DueAdjuster = Callable[[Step, datetime], datetime]


@dataclass(frozen=True)
class OwnerPacing:
    """Per-owner calendars for one planning pass: which working hours each owner keeps, and
    whether activities wait for them and waits count business days."""

    hours_of: Mapping[str | None, WorkingHours]
    default: WorkingHours
    working_hours: bool = False
    business_days: bool = False  # for every sequence
    business_sequences: frozenset[str] = frozenset()

    def hours(self, owner_id: str | None) -> WorkingHours:
        return self.hours_of.get(owner_id, self.default)

    def adjuster(self, owner_id: str | None, then: DueAdjuster | None) -> DueAdjuster | None:
        """`then` (other plugins' adjusters), followed by the owner's next opening."""
        if not self.working_hours:
            return then
        hours = self.hours(owner_id)

        def adjust(step: Step, due: datetime) -> datetime:
            return hours.next_opening(then(step, due) if then else due)

        return adjust

    def wait_end(self, owner_id: str | None, seq: Sequence
                 ) -> Callable[[Step, datetime], datetime] | None:
        if not (self.business_days or seq.id in self.business_sequences
                or seq.pacing.business_days):
            return None
        return self.hours(owner_id).wait_end


def used_per_day(
    creations: Iterable[tuple[str | None, str | None, datetime]],
    hours_of: Mapping[str | None, WorkingHours],
    default: WorkingHours,
) -> tuple[dict[tuple[str | None, date], int], dict[tuple[str, str | None, date], int]]:
    """Activities created per (owner, owner's local day), and per (sequence, owner, day)."""
    used: dict[tuple[str | None, date], int] = defaultdict(int)
    by_sequence: dict[tuple[str, str | None, date], int] = defaultdict(int)
    for owner, sequence_id, created in creations:
        day = hours_of.get(owner, default).local_day(created)
        used[(owner, day)] += 1
        if sequence_id:
            by_sequence[(sequence_id, owner, day)] += 1
    return dict(used), dict(by_sequence)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A connection due now, as the cap sees it."""

    connection_id: str
    sequence_id: str
    owner_id: str | None
    due_at: datetime


@dataclass
class Admission:
    """Which due connections may plan an activity now, and why the others wait.

    Only the first connections per owner come ranked (see `admit`); one beyond them is held
    when a cap applies to it: the global one, or its sequence's (`capped`).
    """

    admitted: set[str] = field(default_factory=set)
    held: dict[str, str] = field(default_factory=dict)  # connection id -> reason
    held_due: dict[str, datetime] = field(default_factory=dict)  # connection id -> due at
    global_cap: bool = False
    capped: set[str] = field(default_factory=set)  # sequences with their own cap

    def allows(self, connection_id: str, sequence_id: str) -> bool:
        if connection_id in self.admitted:
            return True
        if connection_id in self.held:
            return False
        return not self.global_cap and sequence_id not in self.capped


def admit(
    candidates: Iterable[Candidate],
    now: datetime,
    hours_of: Mapping[str | None, WorkingHours],
    default_hours: WorkingHours,
    global_cap: int | None,
    sequence_caps: Mapping[str, int],
    used: Mapping[tuple[str | None, date], int],
    used_by_sequence: Mapping[tuple[str, str | None, date], int],
) -> Admission:
    """Admit due connections in due order (then id) while their owner's day has room.

    `used` counts activities already created for (owner, owner's local day); likewise
    `used_by_sequence` per sequence. Records without an owner share one budget (owner None).
    A held connection stays due: a later run admits it first, so nothing is lost and the order
    holds.
    """
    taken: dict[tuple[str | None, date], int] = defaultdict(int, used)
    taken_seq: dict[tuple[str, str | None, date], int] = defaultdict(int, used_by_sequence)
    result = Admission()
    for cand in sorted(candidates, key=lambda c: (c.due_at, c.connection_id)):
        day = hours_of.get(cand.owner_id, default_hours).local_day(now)
        owner = cand.owner_id or "(no owner)"
        cap = sequence_caps.get(cand.sequence_id)
        reason = None
        if global_cap is not None and taken[(cand.owner_id, day)] >= global_cap:
            reason = f"owner {owner} reached [pacing] max_per_owner_per_day = {global_cap} on {day}"
        elif cap is not None and taken_seq[(cand.sequence_id, cand.owner_id, day)] >= cap:
            reason = f"owner {owner} reached the sequence's max_per_owner_per_day = {cap} on {day}"
        if reason is not None:
            result.held[cand.connection_id] = reason
            result.held_due[cand.connection_id] = cand.due_at
            continue
        taken[(cand.owner_id, day)] += 1
        taken_seq[(cand.sequence_id, cand.owner_id, day)] += 1
        result.admitted.add(cand.connection_id)
    return result
