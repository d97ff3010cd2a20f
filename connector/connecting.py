"""Connecting records to a sequence in bulk: the CLI's `connect` and the web console's
connect form share it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from connector.app import App
from connector.engine.models import ConnectRequest, Sequence
from connector.pipeline.context import Message
from connector.pipeline.results import BulkResult
from connector.store import records as record_store

# One transaction per slice: a whole table's worth of ids never sits in one message.
CONNECT_SLICE = 5000


def open_unconnected_ids(app: App, seq: Sequence, where: Mapping[str, str]) -> list[str]:
    """Ids of every open record of the sequence's table, on no sequence, matching `where`."""
    with app.store.begin() as db:
        return record_store.query_record_ids(
            db, table=seq.entity, unconnected=True, where=where, open_only=True
        )


def open_unconnected_pages(
    app: App, seq: Sequence, where: Mapping[str, str]
) -> Iterator[list[str]]:
    """The same ids a slice at a time (keyset on id), each read when it is needed: `connect
    --where` on a table of any size never holds every id."""
    after = ""
    while True:
        with app.store.begin() as db:
            page = record_store.query_record_ids(
                db, table=seq.entity, unconnected=True, where=where, open_only=True,
                after=after, limit=CONNECT_SLICE,
            )
        if not page:
            return
        yield page
        after = page[-1]


def connect_records(
    app: App, seq: Sequence, record_ids: list[str], *, user: str | None = None
) -> BulkResult:
    """Connect, slice by slice; the result has one outcome per record."""
    result = BulkResult()
    for start in range(0, len(record_ids), CONNECT_SLICE):
        request = ConnectRequest(seq.id, record_ids[start:start + CONNECT_SLICE])
        result.outcomes.extend(app.execute(Message.CONNECT, request, user=user).outcomes)
    return result
