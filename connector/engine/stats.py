"""How well a sequence works, from counts read out of its history. Pure: no I/O, no clock.

The store counts history lines; this module turns those counts into what `sequence stats`
reports, so the definitions (reached, success) live in one place and are tested as such.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from connector.engine.models import Sequence, Step, all_steps
from connector.engine.tree import layout

# `record_closed` is split by the record's state code: 1 is won (opportunity) or qualified
# (lead), 2 is lost or disqualified. Other codes, or an unknown record, stay `record_closed`.
CLOSED_WON = "closed_won_or_qualified"
CLOSED_LOST = "closed_lost_or_disqualified"
CLOSED_BY_STATECODE = {1: CLOSED_WON, 2: CLOSED_LOST}

SUCCESS_REASONS = frozenset({"replied", "meeting_booked", CLOSED_WON})
# A deleted sequence says nothing about whether the sequence worked.
NOT_JUDGED = frozenset({"sequence_deleted"})

SUCCESS_DEFINITION = (
    "success rate = connections that ended replied, meeting_booked or closed_won_or_qualified "
    "(the record's state code is 1: won or qualified), divided by all connections that ended "
    "for any reason except sequence_deleted; records still on the sequence are not counted"
)


@dataclass(frozen=True, slots=True)
class HistoryCounts:
    """Raw counts the store reads for one sequence (or all of its history since a date)."""

    connected: int = 0
    active: int = 0
    # reason -> connections that ended that way (record_closed already split by state code)
    ended: Mapping[str, int] = field(default_factory=dict)
    # step id -> event (step_completed | step_skipped | ended:<reason>) -> count
    by_step: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # step id -> connections on it now
    on_step: Mapping[str, int] = field(default_factory=dict)
    # step id -> median seconds from entering the step to leaving it (completed or skipped)
    median_seconds: Mapping[str, float] = field(default_factory=dict)
    # step id -> branch -> times taken (condition steps)
    branches: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepStats:
    position: str  # "3", or "3.then.1" inside a condition's branch
    step: Step
    reached: int
    completed: int
    skipped: int
    ended_here: int
    median_seconds: float | None
    branches: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class SequenceStats:
    sequence_id: str
    name: str
    since: datetime | None
    connected: int
    active: int
    ended: Mapping[str, int]
    steps: tuple[StepStats, ...]

    @property
    def ended_total(self) -> int:
        return sum(self.ended.values())

    @property
    def completed(self) -> int:
        return self.ended.get("completed", 0)

    @property
    def successes(self) -> int:
        return sum(n for reason, n in self.ended.items() if reason in SUCCESS_REASONS)

    @property
    def judged(self) -> int:
        return sum(n for reason, n in self.ended.items() if reason not in NOT_JUDGED)

    @property
    def success_rate(self) -> float | None:
        """See SUCCESS_DEFINITION; None while no connection has ended."""
        return self.successes / self.judged if self.judged else None


def step_stats(position: str, step: Step, counts: HistoryCounts) -> StepStats:
    """A step is reached by every connection that left it (completed, skipped, took a branch,
    or ended while on it) or is on it now; ending `completed` comes after the last step's own
    completion, so it is not counted twice. A condition step is completed by taking a branch."""
    events = counts.by_step.get(step.id, {})
    branches = dict(counts.branches.get(step.id, {}))
    completed = events.get("step_completed", 0) + sum(branches.values())
    skipped = events.get("step_skipped", 0)
    ended_here = sum(
        n for name, n in events.items()
        if name.startswith("ended:") and name != "ended:completed"
    )
    return StepStats(
        position=position, step=step,
        reached=completed + skipped + ended_here + counts.on_step.get(step.id, 0),
        completed=completed, skipped=skipped, ended_here=ended_here,
        median_seconds=counts.median_seconds.get(step.id), branches=branches,
    )


def sequence_stats(seq: Sequence, counts: HistoryCounts,
                   since: datetime | None = None) -> SequenceStats:
    return SequenceStats(
        sequence_id=seq.id, name=seq.name, since=since, connected=counts.connected,
        active=counts.active, ended=dict(sorted(counts.ended.items())),
        steps=tuple(step_stats(layout(seq).address[s.id], s, counts)
                    for s in all_steps(seq.steps)),
    )
