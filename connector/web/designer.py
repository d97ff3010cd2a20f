"""The designer: a sequence's steps as a vertical flow, edited step by step.

Every form carries the sequence's version (its modified_on when the page was drawn); the save
sends it along, and the pipeline refuses it if someone saved in between. Each save is one
Update message, one transaction: a sync never sees half an edit."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from starlette.responses import Response
from starlette.routing import Route

from connector.engine import sequences as engine_sequences
from connector.engine.models import Sequence, Step, StepType
from connector.errors import InvalidInput, RuleViolation
from connector.pipeline.context import Message
from connector.sequence_export import sequence_toml
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
    return ctx.render(
        "designer.html", seq=seq, steps=outcome["steps"],
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


def _step_fields(ctx: Ctx, kind: StepType) -> dict[str, object]:
    if kind is StepType.WAIT:
        return {"days": _number(ctx, "days"), "hours": _number(ctx, "hours")}
    fields: dict[str, object] = {"name": ctx.field("name"),
                                 "description": ctx.field("description")}
    if kind is StepType.EMAIL:
        fields["template"] = ctx.field("template")
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
    after = engine_sequences.add_step(seq, step, position)
    return _save(ctx, after, f"added step {position or len(seq.steps) + 1} to {seq.name!r}")


def _step(seq: Sequence, ctx: Ctx) -> tuple[int, Step]:
    return engine_sequences.find_step(seq, ctx.param("step"))


@action
def edit_step(ctx: Ctx) -> Response:
    seq = _opened(ctx)
    index, step = _step(seq, ctx)
    after = engine_sequences.edit_step(seq, step.id, _step_fields(ctx, step.type))
    return _save(ctx, after, f"edited step {index + 1} of {seq.name!r}")


@action
def move_step(ctx: Ctx) -> Response:
    seq = _opened(ctx)
    index, step = _step(seq, ctx)
    target = index + (0 if ctx.field("direction") == "up" else 2)
    after = engine_sequences.edit_step(seq, step.id, {"position": target})
    return _save(ctx, after, f"moved step {index + 1} of {seq.name!r} to {target}")


@action
def remove_step(ctx: Ctx) -> Response:
    seq = _opened(ctx)
    index, step = _step(seq, ctx)
    after = engine_sequences.drop_step(seq, step.id)
    return _save(ctx, after, f"removed step {index + 1} from {seq.name!r}")


@action
def properties(ctx: Ctx) -> Response:
    seq = _opened(ctx)
    after = replace(seq, name=ctx.field("name"), description=ctx.field("description"),
                    entity=ctx.field("entity").lower() or seq.entity)
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
