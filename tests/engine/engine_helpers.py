"""Shared builders for the engine tests."""

from datetime import UTC, datetime

from connector.engine.models import Sequence, SequenceStatus, Step, StepType

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


def email(name: str = "Intro", id: str = "s-email") -> Step:
    return Step(id=id, type=StepType.EMAIL, name=name)


def call(name: str = "Call", id: str = "s-call") -> Step:
    return Step(id=id, type=StepType.PHONECALL, name=name)


def task(name: str = "Task", id: str = "s-task") -> Step:
    return Step(id=id, type=StepType.TASK, name=name)


def wait(days: int = 0, hours: int = 0, id: str = "s-wait") -> Step:
    return Step(id=id, type=StepType.WAIT, days=days, hours=hours)


def sequence(*steps: Step, active: bool = True, entity: str = "lead") -> Sequence:
    return Sequence(
        id="seq-1", name="Cold", entity=entity, steps=tuple(steps),
        status=SequenceStatus.ACTIVE if active else SequenceStatus.INACTIVE,
    )
