"""Activity tables (email, phonecall, task): outbox item -> Web API payload, row -> outcome."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import Field, PrivateAttr

from connector.engine.models import ActivityOutcome, Record
from connector.mapping.base import Strict
from connector.mapping.errors import MappingError, RowError
from connector.mapping.target import TargetMapping
from connector.mapping.values import Column, Name, ValueProblem, iso_utc, parse_datetime, parse_guid

# activityparty.participationtypemask values (Dataverse constants, not tenant settings).
SENDER = 1
TO_RECIPIENT = 2


class OutboxItem(Protocol):
    """What `payload` reads from an outbox row (the store's row or any object with these)."""

    @property
    def activity_id(self) -> str: ...
    @property
    def record_id(self) -> str: ...
    @property
    def record_table(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def description(self) -> str | None: ...
    @property
    def due_at(self) -> datetime: ...
    @property
    def owner_id(self) -> str | None: ...


class States(Strict):
    open: int
    completed: int
    canceled: int
    canceled_status: int  # statuscode written with `canceled` when seqsync cancels an activity


class Owner(Strict):
    bind: Name = "ownerid"  # the activity's owner lookup
    entity_set: Name = "systemusers"  # the table owner ids point to
    party: Name = "partyid_systemuser"  # the activityparty lookup for the owner as sender


class Payload(Strict):
    subject: Column
    description: Column
    due: Column
    constants: dict[Column, str | int | float | bool] = Field(default_factory=dict)


class ActivityMapping(Strict):
    logical_name: Column
    entity_set: Name
    primary_key: Column
    subject_max_length: int = Field(ge=1, le=4000)
    party_collection: Name | None = None
    select: list[Column] = Field(default_factory=list)
    closed_on: Column | None = None
    states: States
    regarding: dict[Column, Name] = Field(min_length=1)
    owner: Owner = Field(default_factory=Owner)
    # The TOML key is `payload`; the attribute is renamed so `payload()` can build bodies.
    columns: Payload = Field(alias="payload")

    _targets: dict[str, TargetMapping] = PrivateAttr(default_factory=dict)
    _source: str = PrivateAttr(default="")

    def problem(self) -> tuple[str, str] | None:
        codes = (self.states.open, self.states.completed, self.states.canceled)
        if len(set(codes)) != 3:
            return "[states]", "open, completed and canceled must be three different statecodes"
        reserved = {self.primary_key, self.columns.subject, self.columns.description,
                    self.columns.due, "statecode", "statuscode"}
        for column in self.columns.constants:
            if column in reserved:
                return f"[payload] constants.{column}", "is set by seqsync; remove it here"
        return None

    def bind(self, targets: Mapping[str, TargetMapping], source: str) -> None:
        """Give the mapping the target tables it regards (for their entity sets and recipients)."""
        self._targets = dict(targets)
        self._source = source

    @property
    def odata_type(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"

    def select_columns(self) -> list[str]:
        """Columns reconcile reads back: primary key, statecode, the closed time, then `select`."""
        wanted = [self.primary_key, "statecode"]
        if self.closed_on:
            wanted.append(self.closed_on)
        return list(dict.fromkeys(wanted + self.select))

    def reconcile_columns(self) -> list[str]:
        """The same as `select_columns`, under the name the reconcile step uses."""
        return self.select_columns()

    def subject(self, text: str) -> str:
        """The step's subject cut to the column's length, marked with an ellipsis when cut."""
        limit = self.subject_max_length
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def payload(self, item: OutboxItem, record: Record | None = None) -> dict[str, Any]:
        """The JSON body for POST / CreateMultiple: id, type, regarding, owner, due, parties.

        A missing owner or recipient leaves that bind out: the CRM then applies its defaults.
        """
        target = self._targets.get(item.record_table)
        nav = self.regarding.get(item.record_table)
        if target is None or nav is None:
            raise MappingError(
                f"{self._source or self.logical_name}: [regarding] {item.record_table}: "
                f"no binding for table {item.record_table!r}"
            )
        body: dict[str, Any] = {
            "@odata.type": self.odata_type,
            self.primary_key: item.activity_id,
            self.columns.subject: self.subject(item.subject),
            self.columns.description: item.description or "",
            self.columns.due: iso_utc(item.due_at),
            f"{nav}@odata.bind": f"/{target.entity_set}({item.record_id})",
        }
        body.update(self.columns.constants)
        owner_id = item.owner_id or (record.owner_id if record is not None else None)
        if owner_id:
            body[f"{self.owner.bind}@odata.bind"] = f"/{self.owner.entity_set}({owner_id})"
        if self.party_collection:
            parties = []
            if owner_id:
                parties.append({
                    f"{self.owner.party}@odata.bind": f"/{self.owner.entity_set}({owner_id})",
                    "participationtypemask": SENDER,
                })
            recipient_id = target.recipient_id(record) if record is not None else None
            if target.recipient is not None and recipient_id:
                parties.append({
                    f"{target.recipient.party}@odata.bind":
                        f"/{target.recipient.entity_set}({recipient_id})",
                    "participationtypemask": TO_RECIPIENT,
                })
            if parties:
                body[self.party_collection] = parties
        return body

    def activity_id(self, row: Mapping[str, object]) -> str:
        raw = row.get(self.primary_key)
        if raw is None:
            raise RowError(self.logical_name, None, self.primary_key, "primary key missing")
        try:
            return parse_guid(raw)
        except ValueProblem as exc:
            raise RowError(self.logical_name, None, self.primary_key, str(exc)) from None

    def outcome(self, row: Mapping[str, object]) -> ActivityOutcome | None:
        """Completed or canceled as read back from the CRM; None while the activity is open."""
        state = row.get("statecode")
        if state == self.states.open and not isinstance(state, bool):
            return None
        if state == self.states.completed and not isinstance(state, bool):
            return ActivityOutcome.COMPLETED
        if state == self.states.canceled and not isinstance(state, bool):
            return ActivityOutcome.CANCELED
        raise RowError(
            self.logical_name, self.activity_id(row), "statecode",
            f"unexpected value {state!r} (open {self.states.open}, completed "
            f"{self.states.completed}, canceled {self.states.canceled})",
        )

    def closed_at(self, row: Mapping[str, object]) -> datetime | None:
        """When a seller completed or canceled the activity (`actualend`), if the row says."""
        if not self.closed_on or row.get(self.closed_on) is None:
            return None
        try:
            return parse_datetime(row[self.closed_on])
        except ValueProblem as exc:
            raise RowError(
                self.logical_name, self.activity_id(row), self.closed_on, str(exc)
            ) from None

    def cancel_body(self) -> dict[str, int]:
        """The PATCH body that sets an open activity to Canceled."""
        return {"statecode": self.states.canceled, "statuscode": self.states.canceled_status}
