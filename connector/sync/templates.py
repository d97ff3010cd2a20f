"""Email templates: find a step's template in the CRM, and have the CRM fill it for a record.

A template is named by title or id. Lookups are cached for the life of a `Templates` (one run,
one CLI command), so a run asks the CRM once per template, plus one InstantiateTemplate per
email (the CRM fills the placeholders; nothing is saved by that action).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from connector.config import Settings
from connector.dataverse import odata
from connector.dataverse.errors import DataverseError, is_busy
from connector.engine.models import Sequence, SequenceStatus, StepType, all_steps
from connector.engine.sequences import address_of, describe
from connector.errors import CrmUnavailable, InvalidInput
from connector.mapping import ActivityMapping, TemplateMapping, load_for_settings
from connector.store import outbox as outbox_store
from connector.store import problems
from connector.store import sequences as seq_store
from connector.sync.crm import CrmReader, CrmWriter, ReadOnlyCrm, make_client
from connector.sync.payloads import Payload
from connector.sync.run_context import SyncContext


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    title: str
    table: str | None


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    sequence: str
    step: str  # "step 2 (email 'Intro')"
    message: str

    def __str__(self) -> str:
        return f"sequence {self.sequence!r}: {self.step}: {self.message}"


def _as_guid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        return None


class Templates:
    def __init__(self, crm: CrmReader, mapping: TemplateMapping | None) -> None:
        self._crm = crm
        self._mapping = mapping
        self._found: dict[str, Template | None] = {}

    def find(self, ref: str) -> Template | None:
        """The template a step names (by id or title), None when the CRM has none."""
        key = ref.strip().lower()
        if key in self._found:
            return self._found[key]
        m = self._mapping
        if m is None:
            raise InvalidInput(
                f"template {ref!r}: no template mapping (mappings/template.toml) is loaded"
            )
        guid = _as_guid(ref)
        column, value = (m.primary_key, guid) if guid else (m.title, ref.strip())
        rows = self._crm.query(m.entity_set, [m.primary_key, m.title, m.table],
                               f"{column} eq {odata.literal(value)}")
        row = next(iter(rows), None)
        found = None if row is None else Template(
            str(row[m.primary_key]).lower(), str(row.get(m.title) or ""),
            str(row[m.table]) if row.get(m.table) else None,
        )
        self._found[key] = found
        return found

    def problem(self, ref: str, table: str) -> str | None:
        """Why email steps on `table` records cannot use template `ref`, or None."""
        found = self.find(ref)
        if found is None:
            return f"template {ref!r} does not exist in the CRM"
        if found.table is not None and found.table != table:
            return f"template {ref!r} is for {found.table} records, not {table}"
        return None

    def fill(self, writer: CrmWriter, ref: str, table: str, record_id: str) -> tuple[str, str]:
        """(subject, description) of the email the template makes for the record."""
        found = self.find(ref)
        assert found is not None and self._mapping is not None
        m = self._mapping
        email = writer.instantiate_template(m.action, found.id, table, record_id)
        return str(email.get(m.subject) or ""), str(email.get(m.description) or "")

    def check(self, seqs: Iterable[Sequence]) -> list[TemplateProblem]:
        """Every email step of `seqs` whose template is missing or for another table."""
        problems = []
        for seq in seqs:
            for step in all_steps(seq.steps):
                if step.type is not StepType.EMAIL or not step.template:
                    continue
                try:
                    problem = self.problem(step.template, seq.entity)
                except InvalidInput as exc:  # no template mapping; CRM errors go up
                    problem = str(exc)
                if problem:
                    where = describe(step, address_of(seq, step.id))
                    problems.append(TemplateProblem(seq.name, where, problem))
        return problems


def apply_templates(
    ctx: SyncContext, writer: CrmWriter, templates: Templates, mapping: ActivityMapping,
    payloads: list[Payload],
) -> tuple[list[Payload], list[tuple[str, str, str]]]:
    """Email bodies whose step names a template get the subject and body the CRM fills for
    the record. Returns (payloads to send, refused as (activity id, record id, message)):
    a missing template fails its email, never sends it empty."""
    with ctx.store.read() as db:
        named = outbox_store.templates_of(db, [activity_id for activity_id, _, _ in payloads])
    if not named:
        return payloads, []
    ready: list[Payload] = []
    refused: list[tuple[str, str, str]] = []
    for activity_id, record_id, body in payloads:
        if activity_id not in named:
            ready.append((activity_id, record_id, body))
            continue
        ref, table = named[activity_id]
        problem = templates.problem(ref, table)
        if problem:
            refused.append((activity_id, record_id, problem))
            continue
        try:
            subject, description = templates.fill(writer, ref, table, record_id)
        except DataverseError as exc:
            if is_busy(exc):
                raise
            refused.append((activity_id, record_id, f"template {ref!r}: {exc}"))
            continue
        limit = mapping.subject_max_length
        if len(subject) > limit:
            subject = subject[: limit - 1] + "…"
        filled = {**body, mapping.columns.subject: subject or body[mapping.columns.subject],
                  mapping.columns.description: description}
        ready.append((activity_id, record_id, filled))
    return ready, refused


def check_templates(ctx: SyncContext, templates: Templates) -> None:
    """Check the templates of active sequences against the CRM; `status` shows what is
    missing until a later sync finds it. A sequence whose templates were all found is not
    asked about again until it changes (push still refuses an email whose template went)."""
    with ctx.store.read() as db:
        seqs = seq_store.list_sequences(db, SequenceStatus.ACTIVE)
        checked = set(problems.load(db, problems.TEMPLATES_CHECKED))
    versions = {seq.id: f"{seq.id}@{seq.modified_on.isoformat() if seq.modified_on else ''}"
                for seq in seqs}
    due = [seq for seq in seqs if versions[seq.id] not in checked]
    if not due:
        return
    found = templates.check(due)
    with ctx.store.begin() as db:
        problems.save(db, problems.TEMPLATES, [str(p) for p in found])
        failing = {p.sequence for p in found}
        problems.save(db, problems.TEMPLATES_CHECKED, sorted(
            versions[seq.id] for seq in seqs
            if seq.name not in failing and (seq in due or versions[seq.id] in checked)
        ))
    for problem in found:
        ctx.report.add_error(None, str(problem), kind="template")


def check_against_crm(settings: Settings, seq: Sequence) -> tuple[list[TemplateProblem], str]:
    """Check `seq`'s templates before it is saved or activated: (problems, "") when the CRM
    answered, ([], why) when it could not be asked (the next sync checks them then)."""
    if not any(s.type is StepType.EMAIL and s.template for s in all_steps(seq.steps)):
        return [], ""
    try:
        client = make_client(settings)
    except InvalidInput as exc:
        return [], f"no CRM to ask ({exc})"
    try:
        found = Templates(ReadOnlyCrm(client), load_for_settings(settings).template).check([seq])
    except (CrmUnavailable, DataverseError) as exc:
        return [], f"the CRM could not be asked ({exc})"
    finally:
        client.close()
    return found, ""
