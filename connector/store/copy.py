"""Copy a whole state (every table of the schema) into another, empty database, and verify.

Moving an installation from SQLite to PostgreSQL (`seqsync state copy --to ...`), and the
scratch SQLite copy a dry run works on. Rows travel in keyset pages, so memory stays flat
whatever the size; both databases are migrated to the same head first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Table, func, select, text, tuple_

from connector.errors import InvalidInput, StateError
from connector.store.db import Store
from connector.store.schema import metadata

PAGE = 5000


@dataclass(frozen=True)
class CopiedTable:
    name: str
    source: int
    target: int


def count_rows(store: Store) -> dict[str, int]:
    with store.begin() as db:
        return {
            t.name: int(db.execute(select(func.count()).select_from(t)).scalar() or 0)
            for t in metadata.sorted_tables
        }


def copy_state(
    source: Store, target: Store, progress: Callable[[str, int], None] | None = None
) -> list[CopiedTable]:
    """Copy every row of `source` into `target`, which must hold no rows; raises StateError
    when the counts differ afterwards. Tables go parents first (foreign keys)."""
    if source.where == target.where and source.dialect == target.dialect:
        raise InvalidInput("state copy: the target is the source itself")
    filled = {name: n for name, n in count_rows(target).items() if n}
    if filled:
        first = ", ".join(f"{name} ({n} rows)" for name, n in sorted(filled.items()))
        raise InvalidInput(
            f"state copy: {target.where} is not empty: {first}; copy into an empty database"
        )
    for table in metadata.sorted_tables:
        _copy_table(source, target, table, progress)
    if target.dialect == "postgresql":
        _reset_sequences(target)
    before = count_rows(source)
    after = count_rows(target)
    result = [CopiedTable(name, before[name], after[name]) for name in before]
    wrong = [c for c in result if c.source != c.target]
    if wrong:
        detail = ", ".join(f"{c.name}: {c.source} -> {c.target}" for c in wrong)
        raise StateError(f"state copy: counts differ after the copy: {detail}")
    return result


def _copy_table(
    source: Store, target: Store, table: Table, progress: Callable[[str, int], None] | None
) -> None:
    key = list(table.primary_key.columns)
    after: tuple[object, ...] | None = None
    copied = 0
    while True:
        query = select(table).order_by(*key).limit(PAGE)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        with source.begin() as src:
            rows = [dict(r._mapping) for r in src.execute(query)]
        if not rows:
            return
        with target.begin() as dst:
            dst.execute(table.insert(), rows)
        after = tuple(rows[-1][c.name] for c in key)
        copied += len(rows)
        if progress is not None:
            progress(table.name, copied)


def _reset_sequences(target: Store) -> None:
    """Integer keys were copied as they were: move each serial sequence past them."""
    with target.begin() as db:
        for table in metadata.sorted_tables:
            column = table.autoincrement_column
            if column is not None:
                db.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                    f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"
                ))
