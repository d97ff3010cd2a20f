"""In-memory tables with a global row version, a key index for paging and a change log."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .schema import Attr, TableDef

Row = dict[str, object]


@dataclass
class Table:
    """Rows of one entity set. Every mutation goes through the owning Store."""

    definition: TableDef
    columns: list[str]
    rows: dict[str, Row] = field(default_factory=dict)
    # Column types by Web API property; custom columns from a seed file are added here.
    attrs: dict[str, Attr] = field(default_factory=dict)
    # Alternate keys: name -> key columns (Web API properties).
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Sorted primary keys; new keys are appended and sorted lazily (Timsort merges the tail).
    _keys: list[str] = field(default_factory=list)
    _keys_dirty: bool = False
    _keys_stale: int = 0
    # Change log in version order; an entry is live while the row still has that version.
    log_versions: list[int] = field(default_factory=list)
    log_ids: list[str] = field(default_factory=list)
    deleted_versions: list[int] = field(default_factory=list)
    deleted_ids: list[str] = field(default_factory=list)
    # Optional secondary index (activity parties by activity) so lookups are not table scans.
    index_column: str | None = None
    index: dict[object, set[str]] = field(default_factory=dict)

    def _index_add(self, row_id: str, row: Row) -> None:
        if self.index_column is not None:
            self.index.setdefault(row.get(self.index_column), set()).add(row_id)

    def _index_drop(self, row_id: str) -> None:
        row = self.rows.get(row_id)
        if self.index_column is not None and row is not None:
            self.index.get(row.get(self.index_column), set()).discard(row_id)

    def reset_columns(self) -> None:
        self.columns = list(self.definition.columns)
        self.attrs = {a.column: a for a in self.definition.attributes}
        self.keys = dict(self.definition.keys)

    def add_column(self, attr: Attr) -> None:
        if attr.column not in self.attrs:
            self.columns.append(attr.column)
            self.attrs[attr.column] = attr

    def lookup(self, value: object) -> list[str]:
        """Primary keys of rows whose indexed column equals `value`."""
        return sorted(self.index.get(value, ()))

    def sorted_keys(self) -> list[str]:
        if self._keys_dirty or self._keys_stale > len(self.rows):
            if self._keys_stale:
                self._keys = [k for k in self._keys if k in self.rows]
                self._keys = list(dict.fromkeys(self._keys))
                self._keys_stale = 0
            self._keys.sort()
            self._keys_dirty = False
        return self._keys

    def iter_from(self, after: str | None) -> Iterator[Row]:
        """Rows in primary-key order, strictly after `after` (keyset paging)."""
        keys = self.sorted_keys()
        start = 0 if after is None else bisect.bisect_right(keys, after)
        rows = self.rows
        last = None
        for i in range(start, len(keys)):
            k = keys[i]
            if k == last:
                continue
            last = k
            row = rows.get(k)
            if row is not None:
                yield row

    def changes_since(self, version: int, upto: int) -> Iterator[Row]:
        """Live rows changed in (version, upto], in version order."""
        start = bisect.bisect_right(self.log_versions, version)
        end = bisect.bisect_right(self.log_versions, upto)
        for i in range(start, end):
            row = self.rows.get(self.log_ids[i])
            if row is not None and row["versionnumber"] == self.log_versions[i]:
                yield row

    def deletions_since(self, version: int, upto: int) -> Iterator[tuple[int, str]]:
        start = bisect.bisect_right(self.deleted_versions, version)
        end = bisect.bisect_right(self.deleted_versions, upto)
        seen: set[str] = set()
        for i in range(start, end):
            row_id = self.deleted_ids[i]
            if row_id not in self.rows and row_id not in seen:
                seen.add(row_id)
                yield self.deleted_versions[i], row_id

    def _compact_log(self) -> None:
        live = [
            (v, i)
            for v, i in zip(self.log_versions, self.log_ids, strict=True)
            if (r := self.rows.get(i)) is not None and r["versionnumber"] == v
        ]
        self.log_versions = [v for v, _ in live]
        self.log_ids = [i for _, i in live]


class Store:
    """All tables, one lock, and an undo journal so a request or change set is atomic."""

    def __init__(self, definitions: tuple[TableDef, ...]) -> None:
        self.lock = threading.RLock()
        self.version = 1000
        self.tables = {d.entity_set: Table(d, list(d.columns)) for d in definitions}
        for table in self.tables.values():
            table.reset_columns()
        if "activityparties" in self.tables:
            self.tables["activityparties"].index_column = "_activityid_value"
        self._journal: list[tuple[str, str, Row | None]] | None = None

    def next_version(self) -> int:
        self.version += 1
        return self.version

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Undo every change made inside if the block raises; nested blocks join the outer."""
        with self.lock:
            if self._journal is not None:
                yield
                return
            self._journal = []
            try:
                yield
            except BaseException:
                for entity_set, row_id, before in reversed(self._journal):
                    self._restore(entity_set, row_id, before)
                raise
            finally:
                self._journal = None

    def _restore(self, entity_set: str, row_id: str, before: Row | None) -> None:
        table = self.tables[entity_set]
        table._index_drop(row_id)
        if before is None:
            table.rows.pop(row_id, None)
            table._keys_stale += 1
        else:
            if row_id not in table.rows:
                table._keys.append(row_id)
                table._keys_dirty = True
            table.rows[row_id] = before
            table._index_add(row_id, before)

    def _remember(self, entity_set: str, row_id: str) -> None:
        if self._journal is not None:
            before = self.tables[entity_set].rows.get(row_id)
            self._journal.append((entity_set, row_id, dict(before) if before else None))

    def put(self, entity_set: str, row_id: str, row: Row) -> Row:
        """Insert or replace a row, giving it a new version (the caller set the other fields)."""
        table = self.tables[entity_set]
        self._remember(entity_set, row_id)
        version = self.next_version()
        row["versionnumber"] = version
        if row_id not in table.rows:
            table._keys.append(row_id)
            table._keys_dirty = True
        table._index_drop(row_id)
        table.rows[row_id] = row
        table._index_add(row_id, row)
        table.log_versions.append(version)
        table.log_ids.append(row_id)
        if self._journal is None and len(table.log_ids) > 2 * len(table.rows) + 1024:
            table._compact_log()
        return row

    def remove(self, entity_set: str, row_id: str) -> bool:
        table = self.tables[entity_set]
        if row_id not in table.rows:
            return False
        self._remember(entity_set, row_id)
        table._index_drop(row_id)
        del table.rows[row_id]
        table._keys_stale += 1
        table.deleted_versions.append(self.next_version())
        table.deleted_ids.append(row_id)
        return True

    def clear(self) -> None:
        with self.lock:
            for table in self.tables.values():
                table.rows.clear()
                table._keys.clear()
                table._keys_dirty = False
                table._keys_stale = 0
                table.log_versions.clear()
                table.log_ids.clear()
                table.deleted_versions.clear()
                table.deleted_ids.clear()
                table.index.clear()
                table.reset_columns()
