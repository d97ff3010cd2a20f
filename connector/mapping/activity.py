"""Activity tables (email, phonecall, task): outbox item -> Web API payload, row -> outcome."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field, PrivateAttr

from connector.engine.models import ActivityOutcome
from connector.mapping.base import Strict, row_key
from connector.mapping.errors import MappingError, RowError
from connector.mapping.target import TargetMapping
from connector.mapping.values import Column, Name, ValueProblem, iso_utc, parse_datetime

# activityparty.participationtypemask values (Dataverse constants, not tenant settings).
SENDER = 1
TO_RECIPIENT = 2
TEAM = "team"  # the owner lookup's logical name when a team owns the record


@dataclass(frozen=True, slots=True)
class PayloadPlan:
    """One (activity table, regarding table) payload shape, worked out once.

    Push builds a body per activity, hundreds of thousands a run: here the key names, the
    constant parts and the URL prefixes are plain attributes, and `body` is plain dict work
    (reading them off the pydantic model per row cost more than the rest of the body).
    """

    odata_type: str
    primary_key: str
    subject_key: str
    subject_limit: int
    description_key: str
    due_key: str
    regarding_key: str
    regarding_prefix: str
    constants: dict[str, str | int | float | bool]
    owner_key: str
    owner_prefix: str
    team_owner_prefix: str
    sender_key: str
    party_collection: str | None
    # The To party; all None when the target names none or the activity has no parties.
    recipient_key: str | None
    recipient_prefix: str | None
    recipient_column: str | None
    recipient_is_record: bool

    @classmethod
    def build(cls, mapping: ActivityMapping, nav: str, target: TargetMapping) -> PayloadPlan:
        # Tasks have no parties: their recipient would never be read.
        recipient = target.recipient if mapping.party_collection else None
        return cls(
            odata_type=mapping.odata_type,
            primary_key=mapping.primary_key,
            subject_key=mapping.columns.subject,
            subject_limit=mapping.subject_max_length,
            description_key=mapping.columns.description,
            due_key=mapping.columns.due,
            regarding_key=f"{nav}@odata.bind",
            regarding_prefix=f"/{target.entity_set}(",
            constants=dict(mapping.columns.constants),
            owner_key=f"{mapping.owner.bind}@odata.bind",
            owner_prefix=f"/{mapping.owner.entity_set}(",
            team_owner_prefix=f"/{mapping.owner.team_entity_set}(",
            sender_key=f"{mapping.owner.party}@odata.bind",
            party_collection=mapping.party_collection,
            recipient_key=f"{recipient.party}@odata.bind" if recipient else None,
            recipient_prefix=f"/{recipient.entity_set}(" if recipient else None,
            recipient_column=recipient.column if recipient else None,
            recipient_is_record=recipient is not None and recipient.column == target.primary_key,
        )

    def recipient_of(
        self, record_id: str, columns: Mapping[str, object] | str | None
    ) -> str | None:
        """The To party's id for a stored record (its id or a guid column), if it has one.

        `columns` may still be the stored JSON text: it is only parsed when the recipient
        lives there.
        """
        if self.recipient_column is None:
            return None
        if self.recipient_is_record:
            return record_id
        if isinstance(columns, str):
            columns = json.loads(columns)
        value = columns.get(self.recipient_column) if columns else None
        return value if isinstance(value, str) and value else None

    def body(
        self, activity_id: str, record_id: str, subject: str, description: str | None,
        due_at: datetime, owner_id: str | None, recipient_id: str | None,
        owner_type: str | None = None,
    ) -> dict[str, Any]:
        """The payload; keys in the order (and values the very text) `payload` always wrote.

        The owner is bound by its type: a team as `/teams(...)`, without a sender party (only
        a user can send); anything else as a user."""
        limit = self.subject_limit
        if len(subject) > limit:
            subject = subject[: limit - 1] + "…"
        body: dict[str, Any] = {
            "@odata.type": self.odata_type,
            self.primary_key: activity_id,
            self.subject_key: subject,
            self.description_key: description or "",
            self.due_key: iso_utc(due_at),
            self.regarding_key: f"{self.regarding_prefix}{record_id})",
        }
        if self.constants:
            body.update(self.constants)
        team = owner_type == TEAM
        prefix = self.team_owner_prefix if team else self.owner_prefix
        owner = f"{prefix}{owner_id})" if owner_id else None
        if owner:
            body[self.owner_key] = owner
        if self.party_collection:
            parties = []
            if owner and not team:
                parties.append({self.sender_key: owner, "participationtypemask": SENDER})
            if self.recipient_key is not None and recipient_id:
                parties.append({
                    self.recipient_key: f"{self.recipient_prefix}{recipient_id})",
                    "participationtypemask": TO_RECIPIENT,
                })
            if parties:
                body[self.party_collection] = parties
        return body


class States(Strict):
    open: int
    completed: int
    canceled: int
    canceled_status: int  # statuscode written with `canceled` when seqsync cancels an activity


class Owner(Strict):
    bind: Name = "ownerid"  # the activity's owner lookup
    entity_set: Name = "systemusers"  # the table a user owner's id points to
    team_entity_set: Name = "teams"  # the table a team owner's id points to
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
    # When the CRM last changed the row: the completion time when `closed_on` is empty.
    modified_on: Column | None = "modifiedon"
    states: States
    regarding: dict[Column, Name] = Field(min_length=1)
    owner: Owner = Field(default_factory=Owner)
    # The TOML key is `payload`; `columns` says what the attribute holds.
    columns: Payload = Field(alias="payload")

    _targets: dict[str, TargetMapping] = PrivateAttr(default_factory=dict)
    _plans: dict[str, PayloadPlan] = PrivateAttr(default_factory=dict)
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
        self._plans = {
            table: PayloadPlan.build(self, nav, targets[table])
            for table, nav in self.regarding.items() if table in targets
        }

    @property
    def odata_type(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"

    def select_columns(self) -> list[str]:
        """Columns reconcile reads back: primary key, statecode, the CRM's times, `select`."""
        wanted = [self.primary_key, "statecode"]
        wanted += [c for c in (self.closed_on, self.modified_on) if c]
        return list(dict.fromkeys(wanted + self.select))

    def payload_plan(self, record_table: str) -> PayloadPlan:
        """The payload shape for activities regarding `record_table` (built once, in `bind`)."""
        plan = self._plans.get(record_table)
        if plan is None:
            raise MappingError(
                f"{self._source or self.logical_name}: [regarding] {record_table}: "
                f"no binding for table {record_table!r}"
            )
        return plan

    def activity_id(self, row: Mapping[str, object]) -> str:
        return row_key(row, self.logical_name, self.primary_key)

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
        """When a seller completed or canceled the activity, by the CRM's clock: `closed_on`
        (`actualend`), else when the row last changed (`modified_on`), if the row says."""
        return self._time(row, self.closed_on) or self._time(row, self.modified_on)

    def _time(self, row: Mapping[str, object], column: str | None) -> datetime | None:
        if not column or row.get(column) is None:
            return None
        try:
            return parse_datetime(row[column])
        except ValueProblem as exc:
            raise RowError(self.logical_name, self.activity_id(row), column, str(exc)) from None

    def cancel_body(self) -> dict[str, int]:
        """The PATCH body that sets an open activity to Canceled."""
        return {"statecode": self.states.canceled, "statuscode": self.states.canceled_status}
