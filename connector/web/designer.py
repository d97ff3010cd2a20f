"""The designer: a sequence's steps as a vertical flow, edited step by step.

Every form carries the sequence's version (its modified_on when the page was drawn); the save
sends it along, and the pipeline refuses it if someone saved in between. Each save is one
Update message, one transaction: a sync never sees half an edit."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime

from starlette.responses import Response
from starlette.routing import Route

from connector.engine import sequences as engine_sequences
from connector.engine.models import (
    ALL_EXITS,
    Condition,
    ConditionKind,
    ExitCriterion,
    Sequence,
    Step,
    StepType,
)
from connector.errors import InvalidInput, RuleViolation
from connector.pipeline.context import Message
from connector.sequence_export import sequence_toml
from connector.step_input import assignment, column_condition
from connector.web import data
from connector.web.access import Ctx, action, redirect, view


def locked_message(seq: Sequence) -> str | None:
    """The CLI's refusal for editing an active sequence, or None when it can be edited."""
    try:
        engine_sequences.require_inactive(seq)
    except RuleViolation as exc:
        return str(exc)
    return None


@view
def designer(ctx: Ctx) -> Response:
    seq = data.sequence(ctx.console.app, ctx.param("id"))
    outcome = data.outcomes(ctx.console.app, seq)
    on_step = {row["step"].id: row["here"] for row in outcome["tree"]}
    taken = {row["step"].id: row["taken"] for row in outcome["tree"]}
    targets = [s.name for s, _ in data.sequences(ctx.console.app) if s.id != seq.id]
    return ctx.render(
        "designer.html", seq=seq, on_step=on_step, taken=taken,
        address=engine_sequences.address_of, targets=targets,
        exits=[e.value for e in ExitCriterion],
        shown=shown,
        connected=data.connected_count(ctx.console.app, seq.id),
        problem=engine_sequences.structure_problem(seq), locked=locked_message(seq),
        version=seq.modified_on.isoformat() if seq.modified_on else "",
        step_types=[t.value for t in StepType], tables=ctx.console.settings.sync.tables,
        max_days=engine_sequences.MAX_WAIT_DAYS, max_hours=engine_sequences.MAX_WAIT_HOURS,
    )


def _opened(ctx: Ctx) -> Sequence:
    """The sequence as it is now, carrying the version the editor's page was drawn from."""
    seq = data.sequence(ctx.console.app, ctx.param("id"))
    engine_sequences.require_inactive(seq)  # the CLI's words, before any form detail
    try:
        version = datetime.fromisoformat(ctx.field("version"))
    except ValueError:
        raise InvalidInput("the form has no valid version: reload the page") from None
    return replace(seq, modified_on=version)


def _number(ctx: Ctx, name: str) -> int:
    text = ctx.field(name) or "0"
    if not re.fullmatch(r"-?\d{1,6}", text):
        raise InvalidInput(f"wait {name} must be a whole number (got {text!r})")
    return int(text)


def shown(value: object) -> str:
    """A value as the forms take it back: text as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def _condition(ctx: Ctx) -> Condition:
    """The condition form; the engine's check_step judges what it says."""
    try:
        kind = ConditionKind(ctx.field("if"))
    except ValueError:
        raise InvalidInput(f"condition: choose what to test (got {ctx.field('if')!r})") from None
    if kind is ConditionKind.PREVIOUS:
        return Condition(kind, previous=ctx.field("previous").lower())
    if kind is ConditionKind.REPLIED_WITHIN_DAYS:
        return Condition(kind, days=_number(ctx, "within_days"))
    return column_condition(ctx.field("column"), ctx.field("op"), ctx.field("value"),
                            "condition")


def _set_values(ctx: Ctx) -> tuple[tuple[str, object], ...]:
    """update_record's "column = value" lines."""
    return tuple(assignment(line, "update_record")
                 for line in ctx.field("set").splitlines() if line.strip())


def _step_fields(ctx: Ctx, kind: StepType) -> dict[str, object]:
    if kind is StepType.WAIT:
        return {"days": _number(ctx, "days"), "hours": _number(ctx, "hours")}
    fields: dict[str, object] = {"name": ctx.field("name"),
                                 "description": ctx.field("description")}
    if kind is StepType.EMAIL:
        fields["template"] = ctx.field("template")
    elif kind is StepType.CONDITION:
        fields["condition"] = _condition(ctx)
    elif kind is StepType.UPDATE_RECORD:
        fields["values"] = _set_values(ctx)
    elif kind is StepType.MOVE_TO_SEQUENCE:
        fields["sequence"] = ctx.field("sequence")
    return fields


def _save(ctx: Ctx, after: Sequence, done: str) -> Response:
    seq = ctx.console.app.execute(Message.UPDATE, after, user=ctx.user)
    ctx.session.notice(done)
    return redirect(f"/sequences/{seq.id}")


def _position(ctx: Ctx) -> int | None:
    text = ctx.field("position")
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(f"position must be a number (got {text!r})")
    return int(text)


@action
def add_step(ctx: Ctx) -> Response:
    seq = _opened(ctx)
    kind = engine_sequences.parse_step_type(ctx.field("type"), "new step")
    step = engine_sequences.make_step(kind, **_step_fields(ctx, kind))  # type: ignore[arg-type]
    position = _position(ctx)
    branch = ctx.field("branch")
    where = engine_sequences.parse_branch(seq, branch) if branch else ()
    after = engine_sequences.add_step(seq, step, position, where)
    return _save(ctx, after,
                 f"added step {engine_sequences.address_of(after, step.id)} to {seq.name!r}")


def _step(seq: Sequence, ctx: Ctx) -> tuple[int, Step]:
    return engine_sequences.find_step(seq, ctx.param("step"))


@action
def edit_step(ctx: Ctx) -> Response:
    seq = _opened(ctx)
    _, step = _step(seq, ctx)
    after = engine_sequences.edit_step(seq, step.id, _step_fields(ctx, step.type))
    return _save(ctx, after, f"edited step {engine_sequences.address_of(seq, step.id)} "
                             f"of {seq.name!r}")


@action
def move_step(ctx: Ctx) -> Response:
    seq = _opened(ctx)
    index, step = _step(seq, ctx)
    target = index + (0 if ctx.field("direction") == "up" else 2)
    after = engine_sequences.edit_step(seq, step.id, {"position": target})
    return _save(ctx, after, f"moved step {engine_sequences.address_of(seq, step.id)} of "
                             f"{seq.name!r} to {engine_sequences.address_of(after, step.id)}")


@action
def remove_step(ctx: Ctx) -> Response:
    seq = _opened(ctx)
    _, step = _step(seq, ctx)
    after = engine_sequences.drop_step(seq, step.id)
    return _save(ctx, after, f"removed step {engine_sequences.address_of(seq, step.id)} "
                             f"from {seq.name!r}")


@action
def properties(ctx: Ctx) -> Response:
    seq = _opened(ctx)
    after = replace(seq, name=ctx.field("name"), description=ctx.field("description"),
                    entity=ctx.field("entity").lower() or seq.entity)
    if ctx.field("exit_on_shown"):  # the full form (a bare post keeps owner, tags and exits)
        exits = set(ctx.fields("exit_on"))
        tags = [t for t in ctx.field("tags").split(",") if t.strip()]
        after = replace(after, tags=engine_sequences.normalize_tags(tags),
                        owner=ctx.field("owner") or seq.owner,
                        exit_on=frozenset(e for e in ALL_EXITS if e.value in exits))
    return _save(ctx, after, f"saved the properties of {after.name!r}")


@view
def export(ctx: Ctx) -> Response:
    seq = data.sequence(ctx.console.app, ctx.param("id"))
    filename = re.sub(r"[^A-Za-z0-9_-]+", "-", seq.name).strip("-").lower() or "sequence"
    return Response(sequence_toml(seq), media_type="application/toml", headers={
        "Content-Disposition": f'attachment; filename="{filename}.toml"',
    })


routes = [
    Route("/sequences/{id}", designer, methods=["GET"]),
    Route("/sequences/{id}/export.toml", export, methods=["GET"]),
    Route("/sequences/{id}/properties", properties, methods=["POST"]),
    Route("/sequences/{id}/steps", add_step, methods=["POST"]),
    Route("/sequences/{id}/steps/{step}/edit", edit_step, methods=["POST"]),
    Route("/sequences/{id}/steps/{step}/move", move_step, methods=["POST"]),
    Route("/sequences/{id}/steps/{step}/remove", remove_step, methods=["POST"]),
]
