"""Tables that carry buyer signals (incoming emails, appointments) and email templates.

Data, like the other mappings: a tenant with other column names edits the TOML, not the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from connector.engine.models import ExitCriterion
from connector.mapping.base import Strict, row_key
from connector.mapping.errors import RowError
from connector.mapping.values import Column, Name, ValueProblem, parse_datetime, parse_guid


class EmailSignals(Strict):
    """Where the email table says a buyer replied or an email bounced (`[signals]`)."""

    direction: Column = "directioncode"  # false: an incoming email
    regarding: Column = "_regardingobjectid_value"
    sender: Column | None = "sender"  # the sender's address, matched to records' email
    created_on: Column = "createdon"
    status: Column = "statuscode"
    failed_status: int = 8  # statuscode of an email that failed to send


class SignalMapping(Strict):
    """A table whose new rows regarding a record are a signal (appointments: a meeting)."""

    logical_name: Column
    entity_set: Name
    primary_key: Column
    signal: Literal["meeting"]
    regarding: Column = "_regardingobjectid_value"
    created_on: Column = "createdon"

    @property
    def criterion(self) -> ExitCriterion:
        return ExitCriterion(self.signal)

    def select_columns(self) -> list[str]:
        return list(dict.fromkeys([self.primary_key, self.regarding, self.created_on]))

    def regarding_of(self, row: Mapping[str, object]) -> str | None:
        return _guid(row.get(self.regarding))

    def created(self, row: Mapping[str, object]) -> datetime | None:
        return created_on(row, self.logical_name, row_key(row, self.logical_name,
                                                          self.primary_key), self.created_on)


class TemplateMapping(Strict):
    """The CRM's email templates, and the action that fills one for a record."""

    logical_name: Column = "template"
    entity_set: Name = "templates"
    primary_key: Column = "templateid"
    title: Column = "title"
    table: Column = "templatetypecode"  # the logical name of the table a template is for
    action: Name = "InstantiateTemplate"
    subject: Column = "subject"  # columns of the instantiated email
    description: Column = "description"


def _guid(value: object) -> str | None:
    if value is None:
        return None
    try:
        return parse_guid(value)
    except ValueProblem:
        return None


def created_on(row: Mapping[str, object], table: str, row_id: str, column: str) -> datetime | None:
    raw = row.get(column)
    if raw is None:
        return None
    try:
        return parse_datetime(raw)
    except ValueProblem as exc:
        raise RowError(table, row_id, column, str(exc)) from None
