"""Product checks that a rule plugin makes and the core operation depending on it makes again.

A rule runs at PreValidation; a PreOperation plugin may still change the target (or the state)
after it. The core operation therefore re-runs the same check on what it is about to write.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection

from connector.engine.connections import connect_refusal
from connector.engine.models import Sequence
from connector.errors import RuleViolation
from connector.store import records as record_store


def require_active(seq: Sequence) -> None:
    if not seq.is_active:
        raise RuleViolation(f"sequence {seq.name!r} is inactive: activate it first")


def connect_refusals(db: Connection, seq: Sequence, record_ids: Iterable[str]) -> dict[str, str]:
    """record id -> why it may not be connected to `seq` now (right table, open, known, not
    connected already); ids that may be connected are left out."""
    ids = list(dict.fromkeys(record_ids))
    if not ids:
        return {}
    facts = record_store.connect_facts(db, ids)
    refused: dict[str, str] = {}
    for record_id in ids:
        record, current = facts.get(record_id, (None, None))
        reason = connect_refusal(seq, record_id, record, current)
        if reason:
            refused[record_id] = reason
    return refused
