"""The change-tracking loop pull and reconcile share: read a table's changes since its saved
delta link, apply them page by page, then save the new link.

The link is saved only after every page it covers is applied (each page commits on its own),
so a crash anywhere re-reads changes rather than losing them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from connector.dataverse.client import ChangePage
from connector.dataverse.errors import DataverseError
from connector.errors import CrmUnavailable, SeqsyncError, StateError
from connector.store import delta_links
from connector.sync.cooperation import table_turn
from connector.sync.run_context import SyncContext

log = logging.getLogger("seqsync.sync")

T = TypeVar("T")


def each_table(
    ctx: SyncContext, phase: str, tables: Iterable[T], name: Callable[[T], str],
    entity_set: Callable[[T], str], follow_one: Callable[[SyncContext, T], None],
) -> None:
    """Run `follow_one` per table; a hostile or broken answer stops only that table."""
    for table in tables:
        ctx.progress.phase(f"{phase} {name(table)}")
        try:
            follow_one(ctx, table)
        except (CrmUnavailable, StateError):
            raise  # the CRM or the state database is unusable: nothing else will work either
        except (DataverseError, SeqsyncError) as exc:
            # Keep the old delta link (the next run reads the same changes again) and carry
            # on with the rest of the run.
            log.error("%s of %s stopped: %s", phase, entity_set(table), exc)
            ctx.report.add_error(None, f"{phase} {entity_set(table)}: {exc}", kind=phase)


def follow(
    ctx: SyncContext, entity_set: str, columns: list[str], primary_key: str,
    apply: Callable[[ChangePage], None],
    vanished: Callable[[set[str]], None] | None = None,
    lookup_types: bool = False,
) -> None:
    """Apply every change since the saved link, then save the new one.

    When the saved token was rejected (expired, or not valid here) the client re-reads the
    whole table, as `sync --full` does on purpose; rows that read did not return were deleted
    meanwhile, and `vanished` gets the ids it did return (lower case).

    One worker at a time follows a table (several workers on PostgreSQL): a table another
    worker is reading now is left to it, which then saves the link past what it applied.
    """
    with table_turn(ctx.store, entity_set) as mine:
        if not mine:
            log.info("%s: another worker is reading its changes; left to it", entity_set)
            return
        _follow(ctx, entity_set, columns, primary_key, apply, vanished, lookup_types)


def _follow(
    ctx: SyncContext, entity_set: str, columns: list[str], primary_key: str,
    apply: Callable[[ChangePage], None], vanished: Callable[[set[str]], None] | None,
    lookup_types: bool,
) -> None:
    with ctx.store.read() as db:
        saved = delta_links.get(db, entity_set)
    link = None if ctx.full_read else saved
    seen: set[str] | None = None
    new_link: str | None = None
    for page in ctx.crm.read_changes(
        entity_set, columns, primary_key, link, ctx.page_size, on_expired="reread",
        lookup_types=lookup_types,
    ):
        if page.full_read and saved is not None and seen is None and vanished is not None:
            # The saved token was rejected (the client logged why) or --full was asked: this
            # full read is the only way to learn what was deleted, by what it did not return.
            ctx.report.full_reads.append(entity_set)
            seen = set()
        apply(page)
        if seen is not None:
            seen.update(str(row[primary_key]).lower() for row in page.upserts)
        if page.delta_link:
            new_link = page.delta_link
    if seen is not None and vanished is not None:
        vanished(seen)
    if new_link:
        with ctx.store.begin() as db:
            delta_links.save(db, entity_set, new_link)
