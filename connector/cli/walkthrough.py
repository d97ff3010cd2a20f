"""`seqsync walkthrough`: an engine-only tour on a throw-away database (used by make demo)."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from connector.app import open_app
from connector.cli import views
from connector.cli.output import Output, when
from connector.cli.state import get_state
from connector.engine.models import (
    ActivityOutcome,
    ActivityResult,
    ConnectRequest,
    Record,
)
from connector.pipeline.context import Message
from connector.sequence_file import load_sequence_file
from connector.store import connections as connection_store
from connector.store import outbox as outbox_store
from connector.sync.plan import plan_due_batches

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sequences"

SAMPLE_LEADS = [
    Record(id="6d1c3f0e-0000-4000-8000-000000000001", table="lead", name="Nancy Anderson",
           owner_id="8f0c2a10-0000-4000-8000-00000000aa01", email="nancy@example.com"),
    Record(id="6d1c3f0e-0000-4000-8000-000000000002", table="lead", name="Maria Campbell",
           owner_id="8f0c2a10-0000-4000-8000-00000000aa01", email="maria@example.com"),
    Record(id="6d1c3f0e-0000-4000-8000-000000000003", table="lead", name="Paul Cannon",
           owner_id="8f0c2a10-0000-4000-8000-00000000aa02", is_open=False, statecode=1),
]


def tour(out: Output, examples: Path) -> None:
    state = get_state()
    settings = state.settings.model_copy(deep=True)
    now = state.clock()
    with tempfile.TemporaryDirectory(prefix="seqsync-walkthrough-") as tmp:
        settings.state.url = f"sqlite:///{Path(tmp) / 'walkthrough.db'}"
        with open_app(settings, now=now) as app:
            out.note(f"[bold]1. Apply the example sequences[/] from {examples}")
            seqs = {}
            for path in sorted(examples.glob("*.toml")):
                seq = app.execute(Message.CREATE, load_sequence_file(path))
                seqs[seq.entity] = seq
                out.note(f"   created {seq.name!r}: {len(seq.steps)} steps, inactive")
            lead_seq = app.execute(Message.ACTIVATE, seqs["lead"].id)
            out.note(f"[bold]2. Activate[/] {lead_seq.name!r}")
            if not out.json_mode:
                out.console.print(views.steps_table(out, lead_seq))
            out.note("[bold]3. Records arrive from the CRM[/] (here: three sample leads)")
            app.execute(Message.RECORD_CHANGED, SAMPLE_LEADS, table="lead")
            result = app.execute(
                Message.CONNECT, ConnectRequest(lead_seq.id, [r.id for r in SAMPLE_LEADS])
            )
            out.note("[bold]4. Connect them[/] (one sequence per record; closed ones skipped)")
            for outcome in result.outcomes:
                out.note(f"   {outcome.record_id}: {outcome.status} {outcome.reason}")
            planned = sum(r.planned for r in plan_due_batches(app, now))
            out.note(f"[bold]5. Plan due steps[/] at {when(now)}: {planned} activities queued")
            with app.store.begin() as db:
                first = outbox_store.of_record(db, SAMPLE_LEADS[0].id)[0]
            done = now + timedelta(hours=3)
            app.execute(Message.ACTIVITY_COMPLETED,
                        [ActivityResult(first.activity_id, ActivityOutcome.COMPLETED, done)],
                        now=done)
            out.note(f"[bold]6. A seller completes[/] {first.subject!r} for "
                     f"{SAMPLE_LEADS[0].name} at {when(done)}: the wait step starts")
            with app.store.begin() as db:
                connections = connection_store.of_sequence(db, lead_seq.id)
            names = {r.id: r.name for r in SAMPLE_LEADS}
            out.emit(
                [{"record": names[c.record_id], "step": views.position_text(c, lead_seq),
                  "status": views.state_text(c, lead_seq)} for c in connections],
                out.table(["record", "current step", "status"],
                          ([names[c.record_id], views.position_text(c, lead_seq),
                            views.state_text(c, lead_seq)] for c in connections),
                          title=f"Records on {lead_seq.name!r}"),
            )


def walkthrough_command(
    examples: Annotated[
        Path, typer.Option("--examples", help="Folder of sequence files to apply.")
    ] = EXAMPLES,
) -> None:
    """Engine-only tour on a temporary database: apply, activate, connect, plan, complete."""
    tour(get_state().out, examples)


def register(app: typer.Typer) -> None:
    app.command("walkthrough")(walkthrough_command)
