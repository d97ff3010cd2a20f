"""Random operations never give a record two current connections, nor lose history."""

import contextlib
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from pipeline_helpers import STEPS, T0, rid
from sqlalchemy import func, select

from connector.app import open_app
from connector.config import Settings
from connector.engine.models import (
    ActivityOutcome,
    ActivityResult,
    ConnectRequest,
    DisconnectRequest,
    Record,
    Sequence,
)
from connector.errors import SeqsyncError
from connector.pipeline.context import Message
from connector.store.schema import connection_history, connections, outbox
from connector.sync.plan import plan_due_batches

RECORDS = [rid(n) for n in range(1, 6)]
records = st.lists(st.sampled_from(RECORDS), min_size=1, max_size=4)
outcomes = st.sampled_from(list(ActivityOutcome))


class Operations(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.app = open_app(Settings(state={"url": "sqlite://"}), now=T0)
        self.now = T0
        self.sequences: list[str] = []
        self.history_seen: list[tuple] = []
        self.names = 0
        self.app.execute(Message.RECORD_CHANGED,
                         [Record(id=r, table="lead", name=r) for r in RECORDS])

    def teardown(self) -> None:
        self.app.close()

    def run(self, message, target) -> None:
        # Refused operations are part of the game; the invariants show they change nothing.
        with contextlib.suppress(SeqsyncError):
            self.app.execute(message, target, now=self.now)

    @rule()
    def create_sequence(self) -> None:
        self.names += 1
        seq = self.app.execute(
            Message.CREATE, Sequence(id="", name=f"S{self.names}", entity="lead", steps=STEPS)
        )
        self.app.execute(Message.ACTIVATE, seq.id)
        self.sequences.append(seq.id)

    @rule(data=st.data(), ids=records)
    def connect(self, data, ids) -> None:
        if self.sequences:
            self.run(Message.CONNECT,
                     ConnectRequest(data.draw(st.sampled_from(self.sequences)), ids))

    @rule(ids=records)
    def disconnect(self, ids) -> None:
        self.run(Message.DISCONNECT, DisconnectRequest(ids))

    @rule(data=st.data())
    def toggle_or_delete(self, data) -> None:
        if self.sequences:
            seq = data.draw(st.sampled_from(self.sequences))
            action = data.draw(st.sampled_from(
                [Message.DEACTIVATE, Message.ACTIVATE, Message.DELETE]))
            self.run(action, seq)
            if action is Message.DELETE:
                self.sequences.remove(seq)

    @rule(hours=st.integers(0, 72))
    def time_passes_and_sync_plans(self, hours) -> None:
        self.now += timedelta(hours=hours)
        list(plan_due_batches(self.app, self.now, batch_size=2))

    @rule(outcome=outcomes, data=st.data())
    def seller_finishes_an_activity(self, outcome, data) -> None:
        with self.app.store.begin() as db:
            ids = db.execute(select(outbox.c.activity_id).order_by(outbox.c.activity_id)
                             ).scalars().all()
        if ids:
            chosen = data.draw(st.sampled_from(ids))
            self.run(Message.ACTIVITY_COMPLETED, [ActivityResult(chosen, outcome, self.now)])

    @rule(record=st.sampled_from(RECORDS), is_open=st.booleans())
    def crm_changes_a_record(self, record, is_open) -> None:
        self.run(Message.RECORD_CHANGED, [Record(id=record, table="lead", is_open=is_open)])

    @invariant()
    def one_connection_per_record_and_history_only_grows(self) -> None:
        with self.app.store.begin() as db:
            per_record = db.execute(
                select(connections.c.record_id, func.count()).group_by(connections.c.record_id)
            ).all()
            history = db.execute(
                select(connection_history.c.id, connection_history.c.connection_id,
                       connection_history.c.event).order_by(connection_history.c.id)
            ).all()
            current = db.execute(select(connections.c.id)).scalars().all()
        assert all(count == 1 for _, count in per_record)
        history = [tuple(h) for h in history]
        assert history[: len(self.history_seen)] == self.history_seen  # nothing lost or changed
        self.history_seen = history
        started = {h[1] for h in history if h[2] == "connected"}
        ended = {h[1] for h in history if h[2] == "ended"}
        assert set(current) <= started and not set(current) & ended
        assert started == set(current) | ended  # every connection is current or has ended


Operations.TestCase.settings = settings(
    max_examples=25, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOperations = Operations.TestCase
