"""Shared builders for the pipeline tests."""

from datetime import UTC, datetime

from connector.app import App
from connector.config import Settings
from connector.engine.models import Record, Sequence, Step, StepType
from connector.pipeline.context import Message

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


def rid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


STEPS = (
    Step(id="step-email", type=StepType.EMAIL, name="Intro", description="Say hi"),
    Step(id="step-wait", type=StepType.WAIT, days=2),
    Step(id="step-call", type=StepType.PHONECALL, name="Call"),
)


def make_settings(tmp_path, **sections) -> Settings:
    return Settings(state={"url": f"sqlite:///{tmp_path / 'state.db'}"}, **sections)


def add_sequence(app: App, name: str = "Cold", steps=STEPS, entity: str = "lead",
                 active: bool = True) -> Sequence:
    seq = app.execute(Message.CREATE, Sequence(id="", name=name, entity=entity, steps=steps))
    return app.execute(Message.ACTIVATE, seq.id) if active else seq


def add_records(app: App, count: int, table: str = "lead", start: int = 1, **fields) -> list[str]:
    records = [
        Record(id=rid(n), table=table, name=f"{table} {n}", owner_id=rid(9000 + n), **fields)
        for n in range(start, start + count)
    ]
    app.execute(Message.RECORD_CHANGED, records, table=table)
    return [r.id for r in records]
