"""Records on a sequence: connect by search or filter (a result per record), see where each
one is and what is up next, disconnect."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from connector.connecting import connect_records, open_unconnected_ids
from connector.engine.models import DisconnectRequest, EndReason
from connector.errors import InvalidInput
from connector.pipeline.context import Message
from connector.pipeline.results import BulkResult
from connector.web import data
from connector.web.access import Ctx, action, redirect, view


@view
def sequence_records(ctx: Ctx) -> Response:
    app = ctx.console.app
    seq = data.sequence(app, ctx.param("id"))
    search, where = ctx.param("q"), ctx.request.query_params.get("where", "")
    looked = bool(search or where or ctx.request.query_params.get("look"))
    found: list[dict[str, Any]] = []
    if looked:
        try:
            found = data.candidates(app, seq, search, data.where_filters(app, seq, where))
        except InvalidInput as exc:  # a filter line the person can fix: said on the page
            ctx.session.notice(str(exc), "error")
    return ctx.render(
        "records.html", seq=seq, rows=data.connected_records(app, seq), candidates=found,
        looked=looked, q=search, where=where, shown_max=data.CANDIDATES_SHOWN,
    )


def _report(ctx: Ctx, result: BulkResult, verb: str, names: dict[str, str]) -> None:
    rows = [{"record": names.get(o.record_id) or o.record_id, "result": o.status,
             "reason": o.reason} for o in result.outcomes]
    kind = "ok" if not result.skipped else ("error" if result.succeeded == 0 else "warn")
    ctx.session.notice(f"{result.succeeded} {verb}, {len(result.skipped)} skipped", kind, rows)


@action
def connect(ctx: Ctx) -> Response:
    app = ctx.console.app
    seq = data.sequence(app, ctx.param("id"))
    ids = [i.lower() for i in ctx.fields("record")]
    if ctx.field("all_matching"):
        ids = open_unconnected_ids(app, seq, data.where_filters(app, seq, ctx.field("where")))
    if not ids:
        raise InvalidInput("nothing to connect: tick some records, or connect all matching")
    result = connect_records(app, seq, ids, user=ctx.user)
    _report(ctx, result, "connected", data.record_names(app, ids))
    return redirect(f"/sequences/{seq.id}/records")


def _disconnect(ctx: Ctx, ids: list[str]) -> BulkResult:
    if not ids:
        raise InvalidInput("nothing to disconnect: tick some records")
    return ctx.console.app.execute(
        Message.DISCONNECT, DisconnectRequest(ids, EndReason.USER_DISCONNECTED), user=ctx.user
    )


@action
def disconnect(ctx: Ctx) -> Response:
    seq = data.sequence(ctx.console.app, ctx.param("id"))
    ids = [i.lower() for i in ctx.fields("record")]
    result = _disconnect(ctx, ids)
    _report(ctx, result, "disconnected", data.record_names(ctx.console.app, ids))
    return redirect(f"/sequences/{seq.id}/records")


@view
def record_page(ctx: Ctx) -> Response:
    detail = data.record(ctx.console.app, ctx.param("rid"))
    return ctx.render("record.html", detail=detail, up_next=detail.up_next)


@action
def disconnect_record(ctx: Ctx) -> Response:
    detail = data.record(ctx.console.app, ctx.param("rid"))
    result = _disconnect(ctx, [detail.record.id])
    _report(ctx, result, "disconnected", {detail.record.id: detail.record.name})
    return redirect(f"/records/{detail.record.id}")


routes = [
    Route("/sequences/{id}/records", sequence_records, methods=["GET"]),
    Route("/sequences/{id}/connect", connect, methods=["POST"]),
    Route("/sequences/{id}/disconnect", disconnect, methods=["POST"]),
    Route("/records/{rid}", record_page, methods=["GET"]),
    Route("/records/{rid}/disconnect", disconnect_record, methods=["POST"]),
]
