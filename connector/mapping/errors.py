"""Errors raised while loading mappings or converting CRM rows through them."""

from __future__ import annotations

from connector.errors import InvalidInput


class MappingError(InvalidInput):
    """A mapping file is missing or wrong; the message names the file and the key."""


class RowError(MappingError):
    """One CRM row does not fit its mapping; the message names the table, record id and column.

    The sync layer can catch this per row, report it, and carry on with the other rows.
    """

    def __init__(self, table: str, record_id: str | None, column: str, problem: str) -> None:
        self.table = table
        self.record_id = record_id
        self.column = column
        self.problem = problem
        who = f"{table} {record_id}" if record_id else f"{table} row without an id"
        super().__init__(f"{who}: column {column}: {problem}")
