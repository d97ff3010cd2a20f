"""`seqsync sequence ...`: create, edit, inspect and retire sequences."""

from __future__ import annotations

import glob
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from connector import readmodels
from connector.cli import views
from connector.cli.output import when
from connector.cli.state import get_state
from connector.engine import sequences as engine_sequences
from connector.engine.models import (
    ALL_EXITS,
    Condition,
    ConditionKind,
    ExitCriterion,
    Sequence,
    SequenceStatus,
    StepType,
)
from connector.engine.models import Step as StepModel
from connector.engine.sequence_diff import differences
from connector.errors import InvalidInput, RuleViolation, SeqsyncError
from connector.pipeline.context import Message
from connector.pipeline.results import SequenceDeleted
from connector.sequence_export import sequence_toml
from connector.sequence_file import keep_step_ids, load_sequence_file, targets_first
from connector.sequence_sections import enroll_text
from connector.step_input import assignment, column_condition
from connector.store import enrollment as enrollment_store
from connector.store import sequences as seq_store
from connector.store import stats as stats_store
from connector.sync.templates import check_against_crm
from connector.wording import count

app = typer.Typer(no_args_is_help=True, help="Create, edit, inspect and delete sequences.")

Seq = Annotated[str, typer.Argument(help="Sequence name or id.")]
Step = Annotated[str, typer.Argument(help="Step id or 1-based position.")]
Name = Annotated[str | None, typer.Option("--name", help="Step name shown to sellers.")]
Description = Annotated[str | None, typer.Option("--description", help="Step description.")]
Template = Annotated[str | None, typer.Option("--template", help="Email template id.")]
Position = Annotated[int | None, typer.Option("--position", help="1-based position.")]
Days = Annotated[int | None, typer.Option("--days", help="Wait days (0-30).")]
Hours = Annotated[int | None, typer.Option("--hours", help="Wait hours (0-23).")]
Branch = Annotated[str | None, typer.Option(
    "--branch", help="Add into a condition's branch: <condition step>.then or .else.")]
Previous = Annotated[str | None, typer.Option(
    "--previous", help="Condition: the previous activity was completed|skipped.")]
Replied = Annotated[int | None, typer.Option(
    "--replied-within-days", help="Condition: the record replied within N days.")]
Column = Annotated[str | None, typer.Option("--column", help="Condition: a record column.")]
Op_ = Annotated[str, typer.Option("--op", help="Condition: eq|ne|gt|lt|in|null.")]
Value = Annotated[str | None, typer.Option(
    "--value", help="Condition: the value (JSON: 1, \"text\", [1, 2], true).")]
Set = Annotated[list[str] | None, typer.Option(
    "--set", help="update_record: COLUMN=VALUE (repeatable; VALUE as JSON, else text).")]
Target = Annotated[str | None, typer.Option(
    "--sequence", help="move_to_sequence: the sequence to move records to.")]
ExitOn = Annotated[str | None, typer.Option(
    "--exit-on", help="Exit criteria, comma-separated: reply,meeting,bounce (\"\" for none).")]


def find(ref: str) -> Sequence:
    state = get_state()
    with state.app().store.begin() as db:
        return seq_store.find_sequence(db, ref)


def connected_count(seq_id: str) -> int:
    return readmodels.connected_count(get_state().app(), seq_id)


def show_sequence(seq: Sequence, headline: str) -> None:
    out = get_state().out
    with get_state().app().store.begin() as db:
        connected = seq_store.connected_counts(db, [seq.id]).get(seq.id, 0)
        counts = stats_store.step_counts(db, seq.id)
    data = views.sequence_json(seq, connected, counts)
    parts: list[Any] = [headline, views.properties_table(out, seq, connected),
                        views.steps_table(out, seq, counts)]
    if seq.enroll is not None:
        with get_state().app().store.read() as db:
            runs = enrollment_store.recent_runs(db, seq.id)
        data["enrollment_runs"] = runs
        parts.append(out.table(
            ["sync at", "matched", "enrolled", "on another sequence", "ended it before",
             "left for the next sync"],
            ([r["at"], r["matched"], r["enrolled"], r["on_other_sequence"], r["ended_before"],
              r["left_for_next_run"]] for r in runs),
            title=f"Enrolment: {enroll_text(seq.enroll)} (last {len(runs)} syncs)",
        ))
    out.emit(data, *parts)


Owner = Annotated[str | None, typer.Option(
    "--owner", help="The CRM user who owns it (default: [engine] user).")]


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Sequence name (unique, case-insensitive).")],
    entity: Annotated[str, typer.Option("--entity", help="lead or opportunity.")],
    description: Annotated[str, typer.Option("--description")] = "",
    exit_on: ExitOn = None,
    owner: Owner = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")] = None,
) -> None:
    """Create an empty, inactive sequence."""
    seq = get_state().app().execute(
        Message.CREATE,
        Sequence(id="", name=name.strip(), entity=entity.strip().lower(),
                 description=description, exit_on=_exit_on(exit_on),
                 owner=(owner or "").strip(), tags=engine_sequences.normalize_tags(tag or [])),
    )
    out = get_state().out
    out.emit(views.sequence_json(seq, 0),
             f"created sequence {seq.name!r} ({seq.id}), inactive: add steps, then activate it")


def _planned_apply(path: Path, wanted: Sequence) -> tuple[str, Sequence, Sequence | None]:
    """What applying `wanted` would do: (verb, sequence to save, the one it replaces).

    An active sequence is only ever left as it is: applying its own file again is fine,
    anything else names each change and asks for it to be deactivated first.
    """
    with get_state().app().store.begin() as db:
        existing_id = seq_store.name_owner(db, wanted.name)
        existing = seq_store.load_sequence(db, existing_id) if existing_id else None
    if existing is None:
        return "created", wanted, None
    update = replace(wanted, id=existing.id, status=existing.status,
                     owner=wanted.owner or existing.owner,
                     created_on=existing.created_on, modified_on=existing.modified_on,
                     steps=keep_step_ids(wanted.steps, existing.steps))
    changes = differences(existing, update)
    if not changes:
        return "unchanged", existing, existing
    if existing.is_active:
        raise RuleViolation(
            f"{path}: sequence {existing.name!r} is active: deactivate it first to apply "
            f"{len(changes)} change{'s' if len(changes) != 1 else ''}: {'; '.join(changes)}"
        )
    return "updated", update, existing


def expand_files(patterns: list[str]) -> list[Path]:
    """File arguments with their globs expanded (quoted globs reach us unexpanded)."""
    files: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern) and not Path(pattern).exists():
            matched = sorted(glob.glob(pattern))
            if not matched:
                raise InvalidInput(f"{pattern}: no sequence file matches")
            files.extend(Path(m) for m in matched)
        else:
            files.append(Path(pattern))
    return list(dict.fromkeys(files))


@app.command()
def apply(
    files: Annotated[list[str], typer.Argument(help="Sequence files (TOML) or globs.")],
    activate: Annotated[bool, typer.Option("--activate", help="Activate them afterwards.")] = False,
) -> None:
    """Create sequences from files, or update the inactive sequences of those names.

    Every file is read and checked before any is saved, and all are saved together or none.
    """
    paths = expand_files(files)
    loaded = [(path, load_sequence_file(path)) for path in paths]
    for path, wanted in loaded:
        _check_templates(wanted, f"{path}: ")
    names: dict[str, Path] = {}
    for path, wanted in loaded:
        key = seq_store.name_key(wanted.name)
        if key in names:
            raise InvalidInput(f"{path}: sequence {wanted.name!r} is also in {names[key]}")
        names[key] = path
    loaded = targets_first(loaded)
    plans = [(path, *_planned_apply(path, wanted)) for path, wanted in loaded]
    app_ = get_state().app()
    now = app_.now()
    shown = []
    # One transaction: a file that cannot be saved or activated leaves nothing behind, and no
    # other file of the same call is saved either.
    with app_.pipeline.transaction() as tx:
        for path, verb, seq, _ in plans:
            try:
                if verb == "created":
                    seq = tx.execute(Message.CREATE, seq, now=now)
                elif verb == "updated":
                    seq = tx.execute(Message.UPDATE, seq, now=now)
                if activate and not seq.is_active:
                    seq = tx.execute(Message.ACTIVATE, seq.id, now=now)
            except SeqsyncError as exc:
                raise type(exc)(f"{path}: {exc}") from None
            shown.append((seq, f"{path}: {verb} sequence {seq.name!r} ({seq.status.value})"))
    if len(shown) == 1:
        show_sequence(*shown[0])
        return
    out = get_state().out
    out.emit([views.sequence_json(seq, connected_count(seq.id)) for seq, _ in shown],
             *(line for _, line in shown))


@app.command()
def export(
    seq: Seq,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this file (default: print it).")] = None,
) -> None:
    """Write the sequence as the TOML file `sequence apply` reads (step ids included)."""
    found = find(seq)
    text = sequence_toml(found)
    out = get_state().out
    if output is None:
        if out.json_mode:
            out.emit({"sequence": found.name, "id": found.id, "toml": text})
        else:
            sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{output}: cannot write the sequence file: {exc.strerror}") from None
    out.emit({"sequence": found.name, "id": found.id, "file": str(output)},
             f"wrote sequence {found.name!r} to {output}")


def _fresh_ids(steps: tuple[StepModel, ...]) -> tuple[StepModel, ...]:
    return tuple(replace(s, id=engine_sequences.new_id(), then=_fresh_ids(s.then),
                         otherwise=_fresh_ids(s.otherwise)) for s in steps)


@app.command()
def clone(
    seq: Seq,
    new_name: Annotated[str, typer.Argument(metavar="NEW", help="Name of the copy.")],
    owner: Owner = None,
) -> None:
    """Copy a sequence under a new name: same steps (new step ids) and tags, inactive."""
    found = find(seq)
    copy = replace(
        found, id="", name=new_name.strip(), owner=(owner or found.owner).strip(),
        steps=_fresh_ids(found.steps),
    )
    made = get_state().app().execute(Message.CREATE, copy)
    show_sequence(made, f"cloned {found.name!r} as {made.name!r} ({made.id}), inactive")


@app.command("list")
def list_(
    status: Annotated[SequenceStatus | None, typer.Option("--status")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Only those with this tag.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only those of this owner.")] = None,
) -> None:
    """List sequences (tags and owner compare case-insensitively)."""
    state = get_state()
    found = readmodels.sequences_with_counts(state.app(), status, tag=tag, owner=owner)
    out = state.out
    out.emit(
        [views.sequence_json(s, n) for s, n in found],
        out.table(
            ["name", "status", "entity", "activities", "connected", "owner", "tags", "id"],
            ([s.name, s.status.value, s.entity, s.activity_count, n, s.owner,
              ", ".join(s.tags), s.id] for s, n in found),
            title=f"{len(found)} sequence{'s' if len(found) != 1 else ''}",
        ),
    )


@app.command()
def show(seq: Seq) -> None:
    """Properties (name, owner, status, entity, activities, connected records) and steps."""
    found = find(seq)
    show_sequence(found, "")


def _exit_on(text: str | None) -> frozenset[ExitCriterion]:
    if text is None:
        return ALL_EXITS
    try:
        return frozenset(ExitCriterion(t.strip().lower()) for t in text.split(",") if t.strip())
    except ValueError:
        raise InvalidInput(
            f"--exit-on {text!r}: expected some of reply, meeting, bounce (comma-separated)"
        ) from None


def _condition(previous: str | None, replied: int | None, column: str | None, op: str,
               value: str | None) -> Condition | None:
    given = [x is not None for x in (previous, replied, column)]
    if sum(given) > 1:
        raise InvalidInput("give one of --previous, --replied-within-days or --column")
    if previous is not None:
        return Condition(ConditionKind.PREVIOUS, previous=previous.strip().lower())
    if replied is not None:
        return Condition(ConditionKind.REPLIED_WITHIN_DAYS, days=replied)
    if column is None:
        return None
    return column_condition(column, op, value, "--op")


def _set_values(pairs: list[str] | None) -> tuple[tuple[str, object], ...] | None:
    if not pairs:
        return None
    return tuple(assignment(pair, "--set") for pair in pairs)


def _step_fields(
    kind: StepType, name: str | None, description: str | None, template: str | None,
    days: int | None, hours: int | None, condition: Condition | None = None,
    values: tuple[tuple[str, object], ...] | None = None, target: str | None = None,
) -> dict[str, object]:
    if template is not None and kind is not StepType.EMAIL:
        raise InvalidInput("--template only applies to email steps")
    if condition is not None and kind is not StepType.CONDITION:
        raise InvalidInput("--previous, --replied-within-days and --column apply to condition "
                           "steps")
    if values is not None and kind is not StepType.UPDATE_RECORD:
        raise InvalidInput("--set only applies to update_record steps")
    if target is not None and kind is not StepType.MOVE_TO_SEQUENCE:
        raise InvalidInput("--sequence only applies to move_to_sequence steps")
    if kind is StepType.WAIT:
        return {"days": days, "hours": hours, "name": name, "description": description}
    if days is not None or hours is not None:
        raise InvalidInput(f"--days and --hours only apply to wait steps, not {kind.value}")
    fields: dict[str, object] = {"name": name, "description": description}
    if kind is StepType.EMAIL:
        fields["template"] = template
    if kind is StepType.CONDITION:
        fields["condition"] = condition
    if kind is StepType.UPDATE_RECORD:
        fields["values"] = values
    if kind is StepType.MOVE_TO_SEQUENCE:
        fields["sequence"] = target.strip() if target is not None else None
    return fields


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
    branch: Branch = None,
    previous: Previous = None,
    replied_within_days: Replied = None,
    column: Column = None,
    op: Op_ = "eq",
    value: Value = None,
    set_: Set = None,
    sequence: Target = None,
) -> None:
    """Add a step (the sequence must be inactive), at the top level or into a branch.

    Types: email, phonecall, task, wait, condition, update_record, move_to_sequence.
    """
    found = find(seq)
    step_type = engine_sequences.parse_step_type(kind, "add-step")
    fields = _step_fields(step_type, name, description, template, days, hours,
                          _condition(previous, replied_within_days, column, op, value),
                          _set_values(set_), sequence)
    step = engine_sequences.make_step(step_type, **{k: v for k, v in fields.items()
                                                     if v is not None})  # type: ignore[arg-type]
    where = engine_sequences.parse_branch(found, branch) if branch else ()
    after = engine_sequences.add_step(found, step, position, where)
    address = engine_sequences.address_of(after, step.id)
    _save_steps(after, f"added step {address} to {found.name!r}")


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
    previous: Previous = None,
    replied_within_days: Replied = None,
    column: Column = None,
    op: Op_ = "eq",
    value: Value = None,
    set_: Set = None,
    sequence: Target = None,
) -> None:
    """Change a step's fields or its position in its branch; it keeps its id (the sequence
    must be inactive)."""
    found = find(seq)
    engine_sequences.require_inactive(found)
    _, current = engine_sequences.find_step(found, step)
    before = engine_sequences.address_of(found, current.id)
    fields = _step_fields(current.type, name, description, template, days, hours,
                          _condition(previous, replied_within_days, column, op, value),
                          _set_values(set_), sequence)
    changed = engine_sequences.edit_step(found, current.id, {**fields, "position": position})
    _save_steps(changed, f"edited step {before} of {found.name!r}")


@app.command("remove-step")
def remove_step(seq: Seq, step: Step) -> None:
    """Remove a step (a condition with its branches); records on it move to the next step
    (the sequence must be inactive)."""
    found = find(seq)
    _, current = engine_sequences.find_step(found, step)
    address = engine_sequences.address_of(found, current.id)
    after = engine_sequences.drop_step(found, current.id)
    _save_steps(after, f"removed step {address} from {found.name!r}")


def _check_templates(seq: Sequence, origin: str) -> None:
    """Templates named by email steps must exist in the CRM; offline, the next sync checks."""
    problems, unchecked = check_against_crm(get_state().settings, seq)
    if problems:
        first = problems[0]
        raise InvalidInput(f"{origin}{first.step}: {first.message}")
    if unchecked:
        get_state().out.note(f"templates not checked now: {unchecked}; the next sync checks "
                             "them and `seqsync status` reports what is missing")


@app.command()
def activate(seq: Seq) -> None:
    """Activate: connected records continue and new records can be connected."""
    found = find(seq)
    _check_templates(found, f"sequence {found.name!r}: ")
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
        f"deleted sequence {found.name!r}; {count(result.disconnected, 'record')} disconnected",
    )


@app.command()
def records(seq: Seq) -> None:
    """Connected records: id, name, current step, status, connected since."""
    found = find(seq)
    state = get_state()
    rows = readmodels.connected_records(state.app(), found)
    out = state.out
    out.emit(
        {"sequence": found.name, "sequence_id": found.id, "records": rows},
        out.table(
            ["record id", "name", "current step", "status", "since"],
            ([r["record_id"], r["name"], r["step"], r["status"], when(r["since"], state.zone)]
             for r in rows),
            title=f"{count(len(rows), 'record')} connected to {found.name!r}",
        ),
    )

