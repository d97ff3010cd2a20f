"""The sequences list: filter and search; create, activate, deactivate, clone, delete."""

from __future__ import annotations

from dataclasses import replace

from starlette.responses import Response
from starlette.routing import Route

from connector.engine.models import Sequence
from connector.engine.sequences import new_id, structure_problem
from connector.pipeline.context import Message
from connector.web import data
from connector.web.access import Ctx, action, redirect, view
from connector.wording import count


@view
def list_page(ctx: Ctx) -> Response:
    text = ctx.param("q").lower()
    status = ctx.param("status")
    table = ctx.param("entity")
    tag, owner = ctx.param("tag"), ctx.param("owner")
    shown = [
        (seq, connected, structure_problem(seq))
        for seq, connected in data.sequences(ctx.console.app, tag, owner)
        if (not text or text in seq.name.lower() or text in seq.description.lower())
        and (not status or seq.status.value == status)
        and (not table or seq.entity == table)
    ]
    return ctx.render("sequences.html", sequences=shown, q=ctx.param("q"), status=status,
                      entity=table, tag=tag, owner=owner, tables=ctx.console.settings.sync.tables)


@action
def create(ctx: Ctx) -> Response:
    seq = ctx.console.app.execute(
        Message.CREATE,
        Sequence(id="", name=ctx.field("name"), entity=ctx.field("entity").lower(),
                 description=ctx.field("description"), owner=ctx.user),
        user=ctx.user,
    )
    ctx.session.notice(f"created sequence {seq.name!r}, inactive: add steps, then activate it")
    return redirect(f"/sequences/{seq.id}")


@action
def activate(ctx: Ctx) -> Response:
    seq = ctx.console.app.execute(Message.ACTIVATE, ctx.param("id"), user=ctx.user)
    ctx.session.notice(f"sequence {seq.name!r} is active")
    return redirect(ctx.field("back") or f"/sequences/{seq.id}")


@action
def deactivate(ctx: Ctx) -> Response:
    seq = ctx.console.app.execute(Message.DEACTIVATE, ctx.param("id"), user=ctx.user)
    paused = data.connected_count(ctx.console.app, seq.id)
    ctx.session.notice(f"sequence {seq.name!r} is inactive: "
                       f"{count(paused, 'connected record')} paused")
    return redirect(ctx.field("back") or f"/sequences/{seq.id}")


def _copy_name(ctx: Ctx, name: str) -> str:
    candidate, n = f"{name} (copy)", 2
    while data.name_taken(ctx.console.app, candidate):
        candidate, n = f"{name} (copy {n})", n + 1
    return candidate


@action
def clone(ctx: Ctx) -> Response:
    source = data.sequence(ctx.console.app, ctx.param("id"))
    copy = replace(
        source, id="", name=ctx.field("name") or _copy_name(ctx, source.name), owner=ctx.user,
        steps=tuple(replace(s, id=new_id()) for s in source.steps),
    )
    seq = ctx.console.app.execute(Message.CREATE, copy, user=ctx.user)
    ctx.session.notice(f"cloned {source.name!r} as {seq.name!r} (inactive)")
    return redirect(f"/sequences/{seq.id}")


@view
def confirm_delete(ctx: Ctx) -> Response:
    seq = data.sequence(ctx.console.app, ctx.param("id"))
    return ctx.render("confirm_delete.html", seq=seq,
                      connected=data.connected_count(ctx.console.app, seq.id))


@action
def delete(ctx: Ctx) -> Response:
    result = ctx.console.app.execute(Message.DELETE, ctx.param("id"), user=ctx.user)
    ctx.session.notice(f"deleted sequence {result.sequence.name!r}; "
                       f"{count(result.disconnected, 'record')} disconnected")
    return redirect("/")


routes = [
    Route("/", list_page, methods=["GET"]),
    Route("/sequences", create, methods=["POST"]),
    Route("/sequences/{id}/activate", activate, methods=["POST"]),
    Route("/sequences/{id}/deactivate", deactivate, methods=["POST"]),
    Route("/sequences/{id}/clone", clone, methods=["POST"]),
    Route("/sequences/{id}/delete", confirm_delete, methods=["GET"]),
    Route("/sequences/{id}/delete", delete, methods=["POST"]),
]
