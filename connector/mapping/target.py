"""Target tables (lead, opportunity, custom): CRM row -> local `Record`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType

from pydantic import Field, PrivateAttr

from connector.engine.models import Record
from connector.mapping.base import Strict, row_key
from connector.mapping.errors import RowError
from connector.mapping.values import (
    CONVERTERS,
    Column,
    ColumnType,
    Name,
    ValueProblem,
    parse_datetime,
)

# The annotation naming a lookup's table (a user's or a team's id?), asked for in the pull.
LOOKUP_TYPE = "@Microsoft.Dynamics.CRM.lookuplogicalname"


class Fields(Strict):
    """Local record field -> Web API column. Types are fixed by the local field."""

    name: Column
    statecode: Column
    owner_id: Column | None = None
    email: Column | None = None
    phone: Column | None = None
    modified_on: Column | None = None


FIELD_TYPES: dict[str, str] = {
    "name": "string",
    "statecode": "int",
    "owner_id": "guid",
    "email": "string",
    "phone": "string",
}


class Recipient(Strict):
    """Who an email or phone call regarding this record is addressed to (the To party)."""

    column: Column  # the primary key (the record itself) or a `guid` column from [columns]
    entity_set: Name  # where that id lives: leads, contacts, accounts, ...
    party: Name  # the activityparty lookup to bind: partyid_lead, partyid_contact, ...


class TargetMapping(Strict):
    logical_name: Column
    entity_set: Name
    primary_key: Column
    sequence_target: bool = False
    open_states: list[int] = Field(min_length=1)
    closed_states: list[int] = Field(default_factory=list)
    fields: Fields
    columns: dict[Column, ColumnType] = Field(default_factory=dict)
    recipient: Recipient | None = None

    _plan: tuple[tuple[str, str, Callable[[object], object]], ...] = PrivateAttr(default=())
    _open: frozenset[int] = PrivateAttr(default=frozenset())
    _closed: frozenset[int] = PrivateAttr(default=frozenset())

    def model_post_init(self, context: object) -> None:
        # Built once so converting a row is a flat loop: sync maps hundreds of thousands of rows.
        plan = [
            (local, column, CONVERTERS[FIELD_TYPES[local]])
            for local, column in self.fields.model_dump().items()
            if column is not None and local in FIELD_TYPES
        ]
        self._plan = tuple(plan)
        self._open = frozenset(self.open_states)
        self._closed = frozenset(self.closed_states)

    def problem(self) -> tuple[str, str] | None:
        """The first rule that spans several keys and is broken, as (key, message)."""
        both = self._open & self._closed
        if both:
            return "closed_states", f"{sorted(both)} also listed in open_states"
        if self.recipient is not None:
            column = self.recipient.column
            if column != self.primary_key and self.columns.get(column) != "guid":
                return (
                    "[recipient] column",
                    f"{column!r} must be the primary key {self.primary_key!r} "
                    "or a column declared in [columns] with type \"guid\"",
                )
        return None

    def select_columns(self) -> list[str]:
        """Columns to `$select`: primary key, mapped fields, then custom columns, no repeats."""
        wanted = [self.primary_key]
        wanted += [c for c in self.fields.model_dump().values() if c is not None]
        wanted += list(self.columns)
        return list(dict.fromkeys(wanted))

    def is_open(self, statecode: int) -> bool:
        return statecode in self._open

    def record_id(self, row: Mapping[str, object]) -> str:
        """The row's primary key as a lower-case GUID, or a RowError."""
        return row_key(row, self.logical_name, self.primary_key)

    def modified_on(self, row: Mapping[str, object]) -> datetime | None:
        """When the CRM last changed the row, if the mapping names a column for it."""
        column = self.fields.modified_on
        if column is None or row.get(column) is None:
            return None
        try:
            return parse_datetime(row[column])
        except ValueProblem as exc:
            raise RowError(self.logical_name, self.record_id(row), column, str(exc)) from None

    def to_record(self, row: Mapping[str, object]) -> Record:
        """Map one Web API row to a local record; a wrong type or missing key is a RowError."""
        record_id = self.record_id(row)
        values: dict[str, object] = {}
        for local, column, convert in self._plan:
            raw = row.get(column)
            try:
                values[local] = None if raw is None else convert(raw)
            except ValueProblem as exc:
                raise RowError(self.logical_name, record_id, column, str(exc)) from None
        statecode = values.get("statecode")
        if not isinstance(statecode, int):
            raise RowError(
                self.logical_name, record_id, self.fields.statecode,
                "missing; it tells an open record from a closed one",
            )
        if statecode not in self._open and statecode not in self._closed:
            raise RowError(
                self.logical_name, record_id, self.fields.statecode,
                f"value {statecode} is in neither open_states nor closed_states",
            )
        columns: dict[str, object] = {}
        for column, kind in self.columns.items():
            raw = row.get(column)
            try:
                columns[column] = None if raw is None else CONVERTERS[kind](raw)
            except ValueProblem as exc:
                raise RowError(self.logical_name, record_id, column, str(exc)) from None
        owner_type = None
        if self.fields.owner_id is not None:
            kind = row.get(f"{self.fields.owner_id}{LOOKUP_TYPE}")
            if kind is not None and not isinstance(kind, str):
                raise RowError(self.logical_name, record_id,
                               f"{self.fields.owner_id}{LOOKUP_TYPE}",
                               f"expected a table name, got {kind!r}")
            owner_type = kind
        return Record(
            id=record_id,
            table=self.logical_name,
            name=str(values.get("name") or ""),
            owner_id=values.get("owner_id"),  # type: ignore[arg-type]
            is_open=statecode in self._open,
            statecode=statecode,
            email=values.get("email"),  # type: ignore[arg-type]
            phone=values.get("phone"),  # type: ignore[arg-type]
            columns=MappingProxyType(columns),
            owner_type=owner_type,
        )

    def recipient_id(self, record: Record) -> str | None:
        """The id of the To party for activities regarding `record`, when there is one."""
        if self.recipient is None:
            return None
        if self.recipient.column == self.primary_key:
            return record.id
        value = record.columns.get(self.recipient.column)
        return value if isinstance(value, str) and value else None
