"""Through the pipeline and the store: sequences that branch, move records between each other
and end on buyer signals never give a record two current connections (nor none in the middle
of a move), and never queue one step's activity twice."""

import contextlib
from collections import Counter
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from pipeline_helpers import T0, rid
from sqlalchemy import func, select

from connector.app import open_app
from connector.config import Settings
from connector.engine.models import (
    ActivityOutcome,
    ActivityResult,
    Condition,
    ConditionKind,
    ConnectRequest,
    ExitCriterion,
    Record,
    Sequence,
    Signal,
    Step,
    StepType,
)
from connector.errors import SeqsyncError
from connector.pipeline.context import Message
from connector.store.schema import connection_history, connections, outbox
from connector.sync.plan import plan_due_batches

RECORDS = [rid(n) for n in range(1, 5)]


def _step(id: str, type: StepType, **fields: object) -> Step:
    return Step(id=id, type=type, name=fields.pop("name", id), **fields)  # type: ignore[arg-type]


def _tree(prefix: str, target: str, exits: frozenset[ExitCriterion]) -> tuple[Step, ...]:
    """email; wait; if previous completed: call, (if replied or column) task | move; else
    update, task, move."""
    second = (
        Condition(ConditionKind.REPLIED_WITHIN_DAYS, days=5)
        if ExitCriterion.REPLY not in exits
        else Condition(ConditionKind.COLUMN, column="leadqualitycode", value=1)
    )
    return (
        _step(f"{prefix}-email", StepType.EMAIL),
        _step(f"{prefix}-wait", StepType.WAIT, days=1),
        _step(f"{prefix}-if", StepType.CONDITION,
              condition=Condition(ConditionKind.PREVIOUS, previous="completed"),
              then=(
                  _step(f"{prefix}-call", StepType.PHONECALL),
                  _step(f"{prefix}-if2", StepType.CONDITION, condition=second,
                        then=(_step(f"{prefix}-task", StepType.TASK),),
                        otherwise=(_step(f"{prefix}-move1", StepType.MOVE_TO_SEQUENCE,
                                         sequence=target),)),
              ),
              otherwise=(
                  _step(f"{prefix}-set", StepType.UPDATE_RECORD,
                        values=(("leadqualitycode", 3),)),
                  _step(f"{prefix}-task2", StepType.TASK),
                  _step(f"{prefix}-move2", StepType.MOVE_TO_SEQUENCE, sequence=target),
              )),
    )


class Reacting(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.app = open_app(Settings(state={"url": "sqlite://"}), now=T0)
        self.now = T0
        self.moves_seen = 0
        self.app.execute(Message.RECORD_CHANGED, [
            Record(id=r, table="lead", name=r, email=f"{n}@buyer.example",
                   columns={"leadqualitycode": n % 2})
            for n, r in enumerate(RECORDS)
        ])
        quiet = frozenset({ExitCriterion.MEETING})
        self.ids = []
        for name, other, exits in (("A", "B", frozenset(ExitCriterion)), ("B", "A", quiet)):
            seq = Sequence(id="", name=name, entity="lead", steps=_tree(name, other, exits),
                           exit_on=exits)
            self.ids.append(self.app.execute(Message.CREATE, seq).id)
        for seq_id in self.ids:
            self.app.execute(Message.ACTIVATE, seq_id)

    def teardown(self) -> None:
        self.app.close()

    def run(self, message, target) -> None:
        with contextlib.suppress(SeqsyncError):
            self.app.execute(message, target, now=self.now)

    def rows(self, table, *where):
        with self.app.store.read() as db:
            return list(db.execute(select(table).where(*where)))

    @rule(data=st.data(), ids=st.lists(st.sampled_from(RECORDS), min_size=1, max_size=3))
    def connect(self, data, ids) -> None:
        self.run(Message.CONNECT, ConnectRequest(data.draw(st.sampled_from(self.ids)), ids))

    @rule(data=st.data(), outcome=st.sampled_from(list(ActivityOutcome)))
    def seller_finishes(self, data, outcome) -> None:
        open_items = self.rows(outbox, outbox.c.closed_on.is_(None),
                               outbox.c.status.in_(("pending", "pushed")))
        if open_items:
            item = data.draw(st.sampled_from(open_items))
            self.run(Message.ACTIVITY_COMPLETED,
                     [ActivityResult(item.activity_id, outcome, self.now)])

    @rule(data=st.data(), kind=st.sampled_from(list(ExitCriterion)))
    def buyer_signals(self, data, kind) -> None:
        record = data.draw(st.sampled_from(RECORDS))
        current = self.rows(connections, connections.c.record_id == record)
        activity = current[0].activity_id if current else None
        self.run(Message.SIGNAL_RECEIVED, [Signal(kind, record, self.now, activity_id=activity)])

    @rule(hours=st.integers(1, 60))
    def time_passes_and_sync_plans(self, hours) -> None:
        self.now += timedelta(hours=hours)
        for _ in plan_due_batches(self.app, self.now, batch_size=2):
            pass

    @invariant()
    def one_connection_per_record(self) -> None:
        with self.app.store.read() as db:
            worst = db.execute(
                select(func.count()).select_from(connections)
                .group_by(connections.c.record_id).order_by(func.count().desc()).limit(1)
            ).scalar()
        assert (worst or 0) <= 1

    @invariant()
    def one_activity_per_step_of_a_connection(self) -> None:
        items = Counter((r.connection_id, r.step_id) for r in self.rows(outbox))
        assert all(n == 1 for n in items.values()), items

    @invariant()
    def a_move_always_lands(self) -> None:
        history = self.rows(connection_history)
        moved = [h for h in history if h.event == "ended" and h.reason == "moved"]
        arrived = [h for h in history if h.event == "connected"
                   and (h.message or "").startswith("moved from")]
        assert len(moved) == len(arrived)
        for h in moved:  # the same record arrived at that very instant
            assert any(a.record_id == h.record_id and a.at == h.at for a in arrived)


Reacting.TestCase.settings = settings(
    max_examples=20, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_reacting_sequences_keep_the_rules = Reacting.TestCase


def _finish_all(machine: Reacting, outcome: ActivityOutcome) -> None:
    for item in machine.rows(outbox, outbox.c.closed_on.is_(None)):
        machine.run(Message.ACTIVITY_COMPLETED,
                    [ActivityResult(item.activity_id, outcome, machine.now)])


def test_the_machine_really_moves_records() -> None:
    """A scripted run of the same machine: the invariants above are not vacuous."""
    machine = Reacting()
    try:
        machine.run(Message.CONNECT, ConnectRequest(machine.ids[0], RECORDS[:2]))
        for _ in range(2):
            machine.time_passes_and_sync_plans(1)
            _finish_all(machine, ActivityOutcome.CANCELED)  # the intro is skipped: else branch
            machine.time_passes_and_sync_plans(30)
            _finish_all(machine, ActivityOutcome.COMPLETED)  # the task; then the move
            machine.time_passes_and_sync_plans(1)
        history = machine.rows(connection_history)
        assert "moved" in {h.reason for h in history if h.event == "ended"}
        assert "else" in {h.message for h in history if h.event == "branch"}
        machine.a_move_always_lands()
        machine.one_connection_per_record()
        machine.one_activity_per_step_of_a_connection()
        assert len(machine.rows(connections)) == 2  # moved, never dropped
    finally:
        machine.teardown()
