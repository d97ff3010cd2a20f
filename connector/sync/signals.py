"""Buyer signals: replies and bounces in the emails reconcile reads anyway, and meetings in
the change tracking of appointments (one table per kind of signal).

Each becomes a `Signal` for the `SignalReceived` message; the engine decides, per sequence,
whether it ends the connection (`exit_on`) or is only remembered (replies, for conditions).
A signal is stamped when its CRM row was created, never later than the run's clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from connector.dataverse.client import ChangePage
from connector.engine.models import ExitCriterion, Signal
from connector.mapping import ActivityMapping, RowError, SignalMapping
from connector.mapping.values import ValueProblem, parse_guid
from connector.store import connections as conn_store
from connector.store import outbox as outbox_store
from connector.sync.changes import each_table, follow
from connector.sync.run_context import SyncContext

Row = Mapping[str, object]


def _guid(value: object) -> str | None:
    try:
        return parse_guid(value) if value is not None else None
    except ValueProblem:
        return None


def _stamp(ctx: SyncContext, created: Callable[[], datetime | None]) -> datetime:
    """When a signal happened: its row's creation, never after the run's clock. A row whose
    creation time is unreadable counts as seen now rather than stopping the table's read."""
    try:
        at = created()
    except RowError:
        at = None
    return min(at or ctx.now, ctx.now)


def send_signals(ctx: SyncContext, signals: list[Signal]) -> None:
    if signals:
        result = ctx.app.execute("SignalReceived", signals, now=ctx.now)
        for signal in signals:
            ctx.report.signals[signal.kind.value] += 1
        ctx.report.signals["ended_connections"] += result.ended


def email_signals(ctx: SyncContext, mapping: ActivityMapping, rows: dict[str, Row],
                  ours: Mapping[str, object]) -> list[Signal]:
    """Replies (incoming emails) and bounces (our emails that failed) on one page."""
    if mapping.signals is None:
        return []
    sender = mapping.signals.sender
    replies: list[tuple[str, Row]] = [(i, r) for i, r in rows.items() if mapping.is_incoming(r)]
    bounced = [i for i in ours if i in rows and mapping.is_failed(rows[i])]
    signals: list[Signal] = []
    if replies:
        with ctx.store.read() as db:
            by_address = conn_store.connected_by_email(
                db, [str(r.get(sender) or "") for _, r in replies] if sender else [])
        for email_id, row in replies:
            at = _stamp(ctx, lambda row=row: mapping.created(row))  # type: ignore[misc]
            targets = set(by_address.get(str(row.get(sender) or "").strip().lower(), [])
                          if sender else [])
            regarding = _guid(row.get(mapping.signals.regarding))
            if regarding:
                targets.add(regarding)
            signals += [Signal(ExitCriterion.REPLY, r, at, crm_id=email_id) for r in targets]
    if bounced:
        with ctx.store.read() as db:
            records = outbox_store.records_of(db, bounced)
        signals += [Signal(ExitCriterion.BOUNCE, records[a], ctx.now, activity_id=a, crm_id=a)
                    for a in bounced if a in records]
    return signals


def watch_signal_tables(ctx: SyncContext) -> None:
    """Follow the change tracking of every signal table (appointments: meetings booked)."""
    each_table(ctx, "signals", ctx.mappings.signal_tables, lambda m: m.logical_name,
               lambda m: m.entity_set, _watch_table)


def _watch_table(ctx: SyncContext, mapping: SignalMapping) -> None:
    def apply(page: ChangePage) -> None:
        signals = []
        for row in page.upserts:
            regarding = mapping.regarding_of(row)
            if regarding is None:
                continue
            at = _stamp(ctx, lambda row=row: mapping.created(row))  # type: ignore[misc]
            signals.append(Signal(mapping.criterion, regarding, at,
                                  crm_id=str(row.get(mapping.primary_key) or "").lower()))
        send_signals(ctx, signals)
        ctx.progress.advance(len(page.upserts))

    follow(ctx, mapping.entity_set, mapping.select_columns(), mapping.primary_key, apply)
