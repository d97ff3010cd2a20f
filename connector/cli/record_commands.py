"""`seqsync records ...`: the local mirror of leads and opportunities, and what is up next."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from connector import readmodels
from connector.cli.output import when
from connector.cli.state import get_state
from connector.errors import InvalidInput
from connector.labels import path_text
from connector.where import parse_where
from connector.wording import count

app = typer.Typer(no_args_is_help=True, help="Leads and opportunities known locally.")


@app.command("list")
def list_(
    entity: Annotated[str | None, typer.Option("--entity", help="lead or opportunity")] = None,
    unconnected: Annotated[
        bool, typer.Option("--unconnected", help="Only records on no sequence.")
    ] = False,
    where: Annotated[
        list[str] | None, typer.Option("--where", help="COLUMN=VALUE (repeatable).")
    ] = None,
) -> None:
    """List records, with the sequence each is on."""
    state = get_state()
    table = entity.strip().lower() if entity else None
    if table is not None and table not in state.settings.sync.tables:
        raise InvalidInput(
            f"--entity {entity!r}: not a synced table (one of: "
            f"{', '.join(state.settings.sync.tables)})"
        )
    conditions = parse_where(where, state.settings, table) if where else {}
    rows = readmodels.records_with_place(
        state.app(), table=table, unconnected=unconnected, where=conditions
    )
    out = state.out
    out.emit(rows, out.table(
        ["id", "table", "name", "open", "sequence", "current step"],
        ([r["id"], r["table"], r["name"], "deleted" if r["deleted"] else
          ("yes" if r["open"] else "closed"), r["sequence"], r["step"]] for r in rows),
        title=count(len(rows), "record"),
    ))


@app.command()
def show(record_id: Annotated[str, typer.Argument(help="Record id.")]) -> None:
    """Up next: the current step, what follows, the activities and the history."""
    state = get_state()
    detail = readmodels.record_detail(state.app(), record_id)
    held = detail.quarantined
    record = detail.record
    if record is None and held is not None:
        rid = record_id.strip().lower()
        state.out.emit({"record": None, "quarantined": held}, state.out.table(
            ["field", "value"], [("id", rid), ("table", held["table"]),
                                 ("quarantined since", held["since"]),
                                 ("why", held["error"])],
            title="Record kept out of the local state"))
        return
    assert record is not None  # record_detail raises NotFound when there is neither
    seq, following = detail.sequence, detail.following
    up_next = detail.up_next
    activities = detail.activities
    paths = detail.connections
    data = {
        "record": record, "up_next": up_next, "connections": paths, "quarantined": held,
        "activities": activities, "history": detail.history,
    }
    out = state.out
    props = [("id", record.id), ("table", record.table), ("name", record.name),
             ("owner", record.owner_id), ("email", record.email), ("phone", record.phone),
             ("state", "deleted" if record.is_deleted else "open" if record.is_open
              else "closed")]
    props += [(k, v) for k, v in record.columns.items()]
    if held is not None:
        props.append(("quarantined", f"since {held['since']}: {held['error']} (the stored "
                                     "values are from before)"))
    parts: list[Any] = [out.table(["field", "value"], props, title=f"Record {record.name!r}")]
    if up_next:
        parts.append(out.table(["up next", ""], [
            ("sequence", seq.name if seq else ""), ("current step", up_next["step"]),
            ("status", up_next["status"]), ("then", "; ".join(following) or "(last step)"),
        ]))
    else:
        parts.append("not connected to a sequence")
    if paths:
        parts.append(out.table(
            ["sequence", "path taken", "ended", "CRM activity ids"],
            ([p["sequence"], path_text(p["path"]),
              (p["ended"] or "(on it)") + (f": {p['end_message']}" if p["end_message"] else ""),
              ", ".join(p["activity_ids"])] for p in paths),
            title="Sequences"))
    if activities:
        parts.append(out.table(
            ["activity", "type", "subject", "due", "status", "in CRM"],
            ([a["activity_id"], a["activity_type"], a["subject"], when(a["due_at"], state.zone),
              a["status"], a["crm_state"]] for a in activities), title="Activities"))
    parts.append(out.table(
        ["at", "sequence", "event", "step", "reason"],
        ([when(h["at"], state.zone), h["sequence_name"], h["event"], h["step_name"],
          h["reason"] or h["message"]] for h in detail.history), title="History"))
    out.emit(data, *parts)
