"""A sequence's step tree and exit criteria survive the database as they were saved."""

from datetime import UTC, datetime

from connector.engine.models import (
    Condition,
    ConditionKind,
    ExitCriterion,
    Op,
    Sequence,
    SequenceStatus,
    Step,
    StepType,
)
from connector.store import sequences as seq_store
from connector.store.db import open_store

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


def test_a_tree_with_every_step_kind_round_trips(tmp_path):
    steps = (
        Step(id="e", type=StepType.EMAIL, name="Intro", template="Intro for new leads"),
        Step(id="w", type=StepType.WAIT, days=2, hours=3),
        Step(id="c", type=StepType.CONDITION, name="Warm?",
             condition=Condition(ConditionKind.COLUMN, column="leadqualitycode", op=Op.IN,
                                 value=(1, 2)),
             then=(
                 Step(id="c2", type=StepType.CONDITION, name="Done?",
                      condition=Condition(ConditionKind.PREVIOUS, previous="skipped"),
                      otherwise=(Step(id="t", type=StepType.TASK, name="Research"),)),
                 Step(id="u", type=StepType.UPDATE_RECORD, values=(("leadqualitycode", 1),)),
             ),
             otherwise=(Step(id="m", type=StepType.MOVE_TO_SEQUENCE, sequence="Nurture"),)),
    )
    seq = Sequence(id="s", name="Tree", entity="lead", status=SequenceStatus.INACTIVE,
                   created_on=NOW, modified_on=NOW, steps=steps,
                   exit_on=frozenset({ExitCriterion.MEETING}))
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with store.begin() as db:
            seq_store.insert_sequence(db, seq)
        with store.read() as db:
            loaded = seq_store.load_sequence(db, "s")
            quiet = Sequence(id="q", name="Quiet", entity="lead", created_on=NOW,
                             modified_on=NOW, exit_on=frozenset(),
                             steps=(Step(id="e2", type=StepType.EMAIL, name="Hi"),))
        with store.begin() as db:
            seq_store.insert_sequence(db, quiet)
            assert seq_store.load_sequence(db, "q").exit_on == frozenset()
    finally:
        store.close()
    assert loaded == seq
