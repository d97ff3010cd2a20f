import re
from dataclasses import replace

import pytest
from engine_helpers import call, email, sequence, task, wait

from connector.engine import sequences as s
from connector.engine.models import StepType
from connector.errors import InvalidInput, NotFound, RuleViolation


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (wait(days=31), "wait days must be 0-30 (got 31)"),
        (wait(hours=24), "wait hours must be 0-23 (got 24)"),
        (wait(days=-1), "wait days must be 0-30"),
        (wait(), "a wait must be longer than 0"),
        (wait(days=30, hours=1), "at most 30 days"),
        (replace(email(), name=" "), "needs a name"),
        (replace(call(), template="t-1"), "only email steps take a template"),
    ],
)
def test_step_bounds_name_the_step(step, message):
    with pytest.raises(InvalidInput, match=re.escape(message)) as exc:
        s.check_step(step, 3)
    assert str(exc.value).startswith("step 3 (")


@pytest.mark.parametrize("days,hours", [(30, 0), (0, 1), (29, 23), (1, 0)])
def test_wait_bounds_accept_the_limits(days, hours):
    s.check_step(wait(days=days, hours=hours), 2)


def test_structure_rules():
    s.check_structure((email(), wait(days=2), call()))
    with pytest.raises(InvalidInput, match=r"step 1 \(wait\): a sequence cannot start with a wait"):
        s.check_structure((wait(days=1), email()))
    with pytest.raises(InvalidInput, match=r"step 2 \(wait\): a sequence cannot end with a wait"):
        s.check_structure((email(), wait(days=1)))
    with pytest.raises(InvalidInput, match="at least one email, phonecall or task"):
        s.check_structure(())
    with pytest.raises(InvalidInput, match="two steps share one id"):
        s.check_structure((email(id="x"), call(id="x")))


def test_structure_problem_and_require_inactive():
    assert s.structure_problem(sequence(email())) is None
    assert "cannot end with a wait" in s.structure_problem(sequence(email(), wait(days=1)))
    with pytest.raises(RuleViolation, match="deactivate it first"):
        s.require_inactive(sequence(email(), active=True))
    s.require_inactive(sequence(email(), active=False))


def test_parse_step_type():
    assert s.parse_step_type(" Email ") is StepType.EMAIL
    with pytest.raises(InvalidInput, match="unknown step type 'fax'"):
        s.parse_step_type("fax")


def test_make_step_drops_fields_of_other_types_and_gives_ids():
    w = s.make_step("wait", days=2, template="t")
    assert w.template is None and w.days == 2 and w.id
    e = s.make_step("email", name="Hi", days=3)
    assert e.days == 0 and e.name == "Hi"
    assert s.make_step("task", name="a").id != s.make_step("task", name="a").id


def test_find_step_by_id_or_position():
    seq = sequence(email(), wait(days=1), call())
    assert s.find_step(seq, "s-call") == (2, call())
    assert s.find_step(seq, "2") == (1, wait(days=1))
    with pytest.raises(NotFound, match="has no step '4'"):
        s.find_step(seq, "4")


def test_insert_change_remove_keep_ids():
    seq = sequence(email(), call())
    seq = s.insert_step(seq, wait(days=2), 2)
    assert [x.id for x in seq.steps] == ["s-email", "s-wait", "s-call"]
    seq = s.insert_step(seq, task())
    assert seq.steps[-1].id == "s-task"
    with pytest.raises(InvalidInput, match="--position must be between 1 and 5"):
        s.insert_step(seq, task(id="t2"), 9)
    moved = s.change_step(seq, "s-task", {"position": 1, "name": "First"})
    assert moved.steps[0] == replace(task(), name="First")
    edited = s.change_step(seq, "2", {"days": 5, "name": None})
    assert edited.steps[1].days == 5 and edited.steps[1].id == "s-wait"
    removed = s.remove_step(seq, "s-wait")
    assert [x.id for x in removed.steps] == ["s-email", "s-call", "s-task"]
