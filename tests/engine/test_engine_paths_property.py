"""Property: whatever the buyer and the sellers do, on any valid step tree, a record is on at
most one sequence at every instant and no activity is planned twice."""

from dataclasses import replace
from datetime import timedelta
from itertools import count

from engine_helpers import T0
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.engine.connections import start
from connector.engine.models import (
    ActivityOutcome,
    ActivityResult,
    Condition,
    ConditionKind,
    ExitCriterion,
    MoveToSequence,
    Op,
    PlanActivity,
    Sequence,
    SequenceStatus,
    Signal,
    Step,
    StepType,
)
from connector.engine.progression import advance_on_outcome, on_signal, plan_due
from connector.engine.sequences import structure_problem

ids = count()


def _id() -> str:
    return f"s{next(ids)}"


activity = st.sampled_from([StepType.EMAIL, StepType.PHONECALL, StepType.TASK]).map(
    lambda t: [Step(id=_id(), type=t, name=t.value)])
waited = st.tuples(st.integers(0, 3), st.integers(0, 23), activity).filter(
    lambda x: x[0] or x[1]).map(
    lambda x: [Step(id=_id(), type=StepType.WAIT, days=x[0], hours=x[1]), *x[2]])
setter = st.just(None).map(lambda _: [Step(id=_id(), type=StepType.UPDATE_RECORD,
                                           values=(("leadqualitycode", 1),))])
tests = st.one_of(
    st.sampled_from(["completed", "skipped"]).map(
        lambda p: Condition(ConditionKind.PREVIOUS, previous=p)),
    st.integers(1, 5).map(lambda d: Condition(ConditionKind.REPLIED_WITHIN_DAYS, days=d)),
    st.integers(0, 3).map(lambda v: Condition(ConditionKind.COLUMN, column="q", op=Op.EQ,
                                              value=v)),
)


def branch(depth: int) -> st.SearchStrategy[tuple[Step, ...]]:
    """An activity first, then activities, waits before activities, updates, conditions."""
    chunks = [activity, waited, setter]
    if depth < 2:
        chunks.append(st.builds(
            lambda test, then, otherwise: [Step(id=_id(), type=StepType.CONDITION, name="if",
                                                condition=test, then=then, otherwise=otherwise)],
            tests, branch(depth + 1), st.one_of(st.just(()), branch(depth + 1))))
    return st.tuples(activity, st.lists(st.one_of(*chunks), max_size=3)).map(
        lambda x: tuple(x[0] + [s for chunk in x[1] for s in chunk]))


def sequence(name: str, steps: tuple[Step, ...], move_to: str | None,
             exits: frozenset[ExitCriterion]) -> Sequence:
    if move_to:
        steps = (*steps, Step(id=_id(), type=StepType.MOVE_TO_SEQUENCE, sequence=move_to))
    return Sequence(id=name, name=name, entity="lead", status=SequenceStatus.ACTIVE,
                    steps=steps, exit_on=exits)


exits = st.frozensets(st.sampled_from(list(ExitCriterion)))
actions = st.lists(st.one_of(
    st.tuples(st.just("connect"), st.integers(0, 2), st.sampled_from(["A", "B"])),
    st.tuples(st.just("finish"), st.integers(0, 2), st.sampled_from(list(ActivityOutcome))),
    st.tuples(st.just("signal"), st.integers(0, 2), st.sampled_from(list(ExitCriterion))),
    st.tuples(st.just("time"), st.integers(1, 80), st.just(None)),
), max_size=30)


@settings(max_examples=150, deadline=None)
@given(branch(0), branch(0), st.booleans(), st.booleans(), exits, exits, actions,
       st.integers(0, 3))
def test_no_path_breaks_one_sequence_per_record_or_plans_twice(
    a_steps, b_steps, a_moves, b_moves, a_exits, b_exits, script, q
):
    a = sequence("A", a_steps, "B" if a_moves else None, a_exits)
    b = sequence("B", b_steps, "A" if b_moves else None, b_exits)
    seqs = {"A": a, "B": b}
    for seq in seqs.values():
        if structure_problem(seq):  # reply conditions with exit on reply: invalid, skip it
            seqs[seq.id] = replace(seq, exit_on=seq.exit_on - {ExitCriterion.REPLY})
        assert structure_problem(seqs[seq.id]) is None, structure_problem(seqs[seq.id])
    now = T0
    conns = {}
    planned: set[str] = set()
    connection_ids = count()

    def settle(record: str) -> None:
        """Run what is due; carry out moves the way the shell does: end, then connect."""
        conn = conns[record]
        while True:
            tr = plan_due(conn, seqs[conn.sequence_id], now, columns={"q": q})
            for effect in tr.effects:
                if isinstance(effect, PlanActivity):
                    assert effect.activity_id not in planned
                    planned.add(effect.activity_id)
            move = next((e for e in tr.effects if isinstance(e, MoveToSequence)), None)
            if tr.connection is None:
                del conns[record]
            else:
                conns[record] = tr.connection
            if move is None:
                return
            assert record not in conns  # ended before the new connection starts
            conn, _ = start(seqs[move.sequence], record, move.at, f"c{next(connection_ids)}")
            conns[record] = conn

    for kind, record_no, arg in script:
        record = f"r{record_no}"
        if kind == "time":
            now += timedelta(hours=record_no)
        elif kind == "connect" and record not in conns:
            conns[record], _ = start(seqs[arg], record, now, f"c{next(connection_ids)}")
        elif kind == "finish" and record in conns and conns[record].activity_id:
            conn = conns[record]
            tr = advance_on_outcome(conn, seqs[conn.sequence_id],
                                    ActivityResult(conn.activity_id, arg, now))
            if tr.connection is None:
                del conns[record]
            else:
                conns[record] = tr.connection
        elif kind == "signal" and record in conns:
            conn = conns[record]
            tr = on_signal(conn, seqs[conn.sequence_id],
                           Signal(arg, record, now, activity_id=conn.activity_id))
            if tr.connection is None:
                del conns[record]
            else:
                conns[record] = tr.connection
        for rec in list(conns):
            settle(rec)
        assert all(c.record_id == r for r, c in conns.items())
