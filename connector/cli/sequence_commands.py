"""`seqsync sequence ...`: create, edit, inspect and retire sequences."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from connector.cli import views
from connector.cli.output import when
from connector.cli.state import get_state
from connector.engine import sequences as engine_sequences
from connector.engine.models import Sequence, SequenceStatus, StepType
from connector.errors import InvalidInput, SeqsyncError
from connector.pipeline.context import Message
from connector.pipeline.results import SequenceDeleted
from connector.sequence_file import keep_step_ids, load_sequence_file
from connector.store import connections as connection_store
from connector.store import records as record_store
from connector.store import sequences as seq_store

app = typer.Typer(no_args_is_help=True, help="Create, edit, inspect and delete sequences.")

Seq = Annotated[str, typer.Argument(help="Sequence name or id.")]
Step = Annotated[str, typer.Argument(help="Step id or 1-based position.")]
Name = Annotated[str | None, typer.Option("--name", help="Step name shown to sellers.")]
Description = Annotated[str | None, typer.Option("--description", help="Step description.")]
Template = Annotated[str | None, typer.Option("--template", help="Email template id.")]
Position = Annotated[int | None, typer.Option("--position", help="1-based position.")]
Days = Annotated[int | None, typer.Option("--days", help="Wait days (0-30).")]
Hours = Annotated[int | None, typer.Option("--hours", help="Wait hours (0-23).")]


def find(ref: str) -> Sequence:
    state = get_state()
    with state.app().store.begin() as db:
        return seq_store.find_sequence(db, ref)


def connected_count(seq_id: str) -> int:
    with get_state().app().store.begin() as db:
        return seq_store.connected_counts(db, [seq_id]).get(seq_id, 0)


def show_sequence(seq: Sequence, headline: str) -> None:
    out = get_state().out
    connected = connected_count(seq.id)
    out.emit(views.sequence_json(seq, connected), headline,
             views.properties_table(out, seq, connected), views.steps_table(out, seq))


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Sequence name (unique, case-insensitive).")],
    entity: Annotated[str, typer.Option("--entity", help="lead or opportunity.")],
    description: Annotated[str, typer.Option("--description")] = "",
) -> None:
    """Create an empty, inactive sequence."""
    seq = get_state().app().execute(
        Message.CREATE,
        Sequence(id="", name=name.strip(), entity=entity.strip().lower(),
                 description=description),
    )
    out = get_state().out
    out.emit(views.sequence_json(seq, 0),
             f"created sequence {seq.name!r} ({seq.id}), inactive: add steps, then activate it")


@app.command()
def apply(
    file: Annotated[Path, typer.Argument(help="Sequence file (TOML).")],
    activate: Annotated[bool, typer.Option("--activate", help="Activate it afterwards.")] = False,
) -> None:
    """Create a sequence from a file, or update the inactive sequence of that name."""
    wanted = load_sequence_file(file)
    app_ = get_state().app()
    with app_.store.begin() as db:
        existing_id = seq_store.name_owner(db, wanted.name)
        existing = seq_store.load_sequence(db, existing_id) if existing_id else None
    try:
        if existing is None:
            seq = app_.execute(Message.CREATE, wanted)
            verb = "created"
        else:
            update = replace(wanted, id=existing.id, owner=existing.owner,
                             steps=keep_step_ids(wanted.steps, existing.steps))
            seq = app_.execute(Message.UPDATE, update)
            verb = "updated"
        if activate and not seq.is_active:
            seq = app_.execute(Message.ACTIVATE, seq.id)
    except SeqsyncError as exc:
        raise type(exc)(f"{file}: {exc}") from None
    show_sequence(seq, f"{verb} sequence {seq.name!r} ({seq.status.value})")


@app.command("list")
def list_(
    status: Annotated[SequenceStatus | None, typer.Option("--status")] = None,
) -> None:
    """List sequences."""
    state = get_state()
    with state.app().store.begin() as db:
        found = seq_store.list_sequences(db, status)
        counts = seq_store.connected_counts(db, [s.id for s in found])
    out = state.out
    out.emit(
        [views.sequence_json(s, counts.get(s.id, 0)) for s in found],
        out.table(
            ["name", "status", "entity", "activities", "connected", "owner", "id"],
            ([s.name, s.status.value, s.entity, s.activity_count, counts.get(s.id, 0), s.owner,
              s.id] for s in found),
            title=f"{len(found)} sequence{'s' if len(found) != 1 else ''}",
        ),
    )


@app.command()
def show(seq: Seq) -> None:
    """Properties (name, owner, status, entity, activities, connected records) and steps."""
    found = find(seq)
    show_sequence(found, "")


def _step_fields(
    kind: StepType, name: str | None, description: str | None, template: str | None,
    days: int | None, hours: int | None,
) -> dict[str, object]:
    if template is not None and kind is not StepType.EMAIL:
        raise InvalidInput("--template only applies to email steps")
    if kind is StepType.WAIT:
        return {"days": days, "hours": hours, "name": name, "description": description}
    if days is not None or hours is not None:
        raise InvalidInput(f"--days and --hours only apply to wait steps, not {kind.value}")
    return {"name": name, "description": description, "template": template}


def _save_steps(after: Sequence, headline: str) -> None:
    seq = get_state().app().execute(Message.UPDATE, after)
    show_sequence(seq, headline)


@app.command("add-step")
def add_step(
    seq: Seq,
    kind: Annotated[str, typer.Argument(metavar="TYPE", help="email|phonecall|task|wait")],
    name: Name = None,
    description: Description = None,
    template: Template = None,
    position: Position = None,
    days: Days = None,
    hours: Hours = None,
) -> None:
    """Add a step (the sequence must be inactive)."""
    found = find(seq)
    step_type = engine_sequences.parse_step_type(kind, "add-step")
    fields = _step_fields(step_type, name, description, template, days, hours)
    step = engine_sequences.make_step(step_type, **{k: v for k, v in fields.items()
                                                     if v is not None})  # type: ignore[arg-type]
    engine_sequences.require_inactive(found)
    at = position or len(found.steps) + 1
    engine_sequences.check_step(step, at)
    after = engine_sequences.insert_step(found, step, position)
    _save_steps(after, f"added step {at} to {found.name!r}")


@app.command("edit-step")
def edit_step(
    seq: Seq,
    step: Step,
    name: Name = None,
    description: Description = None,
    template: Template = None,
    position: Position = None,
    days: Days = None,
    hours: Hours = None,
) -> None:
    """Change a step's fields or position; it keeps its id (the sequence must be inactive)."""
    found = find(seq)
    engine_sequences.require_inactive(found)
    index, current = engine_sequences.find_step(found, step)
    fields = _step_fields(current.type, name, description, template, days, hours)
    changed = engine_sequences.change_step(found, step, {**fields, "position": position})
    new_index = engine_sequences.index_of(changed, current.id) or 0
    engine_sequences.check_step(changed.steps[new_index], new_index + 1)
    _save_steps(changed, f"edited step {index + 1} of {found.name!r}")


@app.command("remove-step")
def remove_step(seq: Seq, step: Step) -> None:
    """Remove a step; records on it move to the next step (the sequence must be inactive)."""
    found = find(seq)
    engine_sequences.require_inactive(found)
    index, _ = engine_sequences.find_step(found, step)
    after = engine_sequences.remove_step(found, step)
    _save_steps(after, f"removed step {index + 1} from {found.name!r}")


@app.command()
def activate(seq: Seq) -> None:
    """Activate: connected records continue and new records can be connected."""
    found = find(seq)
    result = get_state().app().execute(Message.ACTIVATE, found.id)
    get_state().out.emit(views.sequence_json(result), f"sequence {result.name!r} is active")


@app.command()
def deactivate(seq: Seq) -> None:
    """Deactivate: connected records stay connected, paused; steps become editable."""
    found = find(seq)
    result = get_state().app().execute(Message.DEACTIVATE, found.id)
    get_state().out.emit(
        views.sequence_json(result),
        f"sequence {result.name!r} is inactive; its {connected_count(found.id)} connected "
        "records are paused",
    )


@app.command()
def delete(
    seq: Seq,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm disconnecting its records.")] = False,
) -> None:
    """Delete permanently; connected records are disconnected (reason sequence_deleted)."""
    found = find(seq)
    connected = connected_count(found.id)
    if connected and not yes:
        raise InvalidInput(
            f"sequence {found.name!r} has {connected} connected record"
            f"{'s' if connected != 1 else ''}: deleting disconnects them "
            "(reason sequence_deleted); pass --yes to confirm"
        )
    result: SequenceDeleted = get_state().app().execute(Message.DELETE, found.id)
    get_state().out.emit(
        {"deleted": views.sequence_json(result.sequence), "disconnected": result.disconnected},
        f"deleted sequence {found.name!r}; {result.disconnected} records disconnected",
    )


@app.command()
def records(seq: Seq) -> None:
    """Connected records: id, name, current step, status, connected since."""
    found = find(seq)
    state = get_state()
    with state.app().store.begin() as db:
        connections = connection_store.of_sequence(db, found.id)
        recs = record_store.load_records(db, (c.record_id for c in connections))
    out = state.out
    rows = [
        {
            "record_id": c.record_id, "name": recs[c.record_id].name if c.record_id in recs else "",
            "table": found.entity, "step": views.position_text(c, found),
            "step_id": c.step_id, "state": c.state.value,
            "status": views.state_text(c, found), "due_at": c.due_at, "since": c.connected_on,
        }
        for c in connections
    ]
    out.emit(
        {"sequence": found.name, "sequence_id": found.id, "records": rows},
        out.table(
            ["record id", "name", "current step", "status", "since"],
            ([r["record_id"], r["name"], r["step"], r["status"], when(c.connected_on)]
             for r, c in zip(rows, connections, strict=True)),
            title=f"{len(rows)} records connected to {found.name!r}",
        ),
    )

