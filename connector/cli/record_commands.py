"""`seqsync records ...`: the local mirror of leads and opportunities, and what is up next."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from connector.cli import views
from connector.cli.output import when
from connector.cli.state import get_state
from connector.errors import InvalidInput, NotFound
from connector.store import connections as connection_store
from connector.store import outbox as outbox_store
from connector.store import quarantine
from connector.store import records as record_store
from connector.store import sequences as seq_store

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
    conditions = record_store.parse_where(where or [])
    table = entity.strip().lower() if entity else None
    if table is not None and table not in state.settings.sync.tables:
        raise InvalidInput(
            f"--entity {entity!r}: not a synced table (one of: "
            f"{', '.join(state.settings.sync.tables)})"
        )
    with state.app().store.begin() as db:
        found = record_store.query_records(
            db, table=table, unconnected=unconnected,
            where=conditions,
        )
        current = connection_store.current_by_record(db, (r.id for r in found))
        seqs = seq_store.load_sequences(db, {c.sequence_id for c in current.values()})
    rows: list[dict[str, Any]] = []
    for r in found:
        connection = current.get(r.id)
        seq = seqs.get(connection.sequence_id) if connection else None
        rows.append({
            "id": r.id, "table": r.table, "name": r.name, "owner_id": r.owner_id,
            "open": r.is_open and not r.is_deleted, "deleted": r.is_deleted,
            "sequence": seq.name if seq else None,
            "step": views.position_text(connection, seq) if connection else None,
        })
    out = state.out
    out.emit(rows, out.table(
        ["id", "table", "name", "open", "sequence", "current step"],
        ([r["id"], r["table"], r["name"], "deleted" if r["deleted"] else
          ("yes" if r["open"] else "closed"), r["sequence"], r["step"]] for r in rows),
        title=f"{len(rows)} records",
    ))


@app.command()
def show(record_id: Annotated[str, typer.Argument(help="Record id.")]) -> None:
    """Up next: the current step, what follows, the activities and the history."""
    state = get_state()
    rid = record_id.strip().lower()
    with state.app().store.begin() as db:
        record = record_store.load_records(db, [rid]).get(rid)
        held = quarantine.of_record(db, rid)
        if record is None and held is not None:
            state.out.emit({"record": None, "quarantined": held}, state.out.table(
                ["field", "value"], [("id", rid), ("table", held["table"]),
                                     ("quarantined since", held["since"]),
                                     ("why", held["error"])],
                title="Record kept out of the local state"))
            return
        if record is None:
            raise NotFound(f"no record {record_id!r} is known locally (run a sync first)")
        connection = connection_store.current_by_record(db, [rid]).get(rid)
        seq = seq_store.load_sequence(db, connection.sequence_id) if connection else None
        history = connection_store.history_of_record(db, rid)
        activities = outbox_store.of_record(db, rid)
    up_next: dict[str, Any] | None = None
    following: list[str] = []
    if connection and seq:
        index = next((n for n, s in enumerate(seq.steps) if s.id == connection.step_id), None)
        following = [views.step_label(s) for s in seq.steps[(index or 0) + 1 :]]
        up_next = {
            "sequence": seq.name, "sequence_id": seq.id,
            "step": views.position_text(connection, seq), "step_id": connection.step_id,
            "state": connection.state.value, "status": views.state_text(connection, seq),
            "due_at": connection.due_at, "activity_id": connection.activity_id,
            "connected_on": connection.connected_on, "then": following,
        }
    data = {
        "record": record, "up_next": up_next, "quarantined": held,
        "activities": [dict(a._mapping) for a in activities],
        "history": [dict(h._mapping) for h in history],
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
    if activities:
        parts.append(out.table(
            ["activity", "type", "subject", "due", "status", "in CRM"],
            ([a.activity_id, a.activity_type, a.subject, when(a.due_at), a.status, a.crm_state]
             for a in activities), title="Activities"))
    parts.append(out.table(
        ["at", "sequence", "event", "step", "reason"],
        ([when(h.at), h.sequence_name, h.event, h.step_name, h.reason or h.message]
         for h in history), title="History"))
    out.emit(data, *parts)
