"""Outcomes: the sync runs (outcome, requests, throttling, errors), the backlog, and per
sequence where records are and how their connections ended; a manager can run a sync."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from connector.web import data
from connector.web.access import Ctx, action, redirect, view


@view
def outcomes_page(ctx: Ctx) -> Response:
    app = ctx.console.app
    charts = [(seq, connected, data.outcomes(app, seq)) for seq, connected in data.sequences(app)]
    return ctx.render("outcomes.html", runs=data.runs(app),
                      backlog=data.backlog(app, ctx.console.clock()), charts=charts)


@action
def sync_now(ctx: Ctx) -> Response:
    report = ctx.console.sync()
    s = report.summary()
    created = sum(s["activities_created"].values())
    pulled = sum(s["rows_pulled"].values())
    kind = "ok" if s["outcome"] == "ok" else "warn"
    rows = [{"record": str(e.get("record_id") or e.get("kind") or ""), "result": "error",
             "reason": str(e.get("message") or "")} for e in report.errors[:20]]
    ctx.session.notice(
        f"sync {s['outcome']}: {pulled} rows pulled, {created} activities created, "
        f"{s['activities_completed']} completed, {s['errors']} errors, "
        f"{s['crm_requests']} CRM requests ({s['throttled']} throttled)", kind, rows)
    return redirect(ctx.field("back") or "/outcomes")


routes = [
    Route("/outcomes", outcomes_page, methods=["GET"]),
    Route("/sync", sync_now, methods=["POST"]),
]
