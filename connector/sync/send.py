"""Push, job 2 of 3: send one chunk to the CRM, falling back to one operation per row.

Runs on a worker thread: CRM calls only, no database. A chunk the CRM refuses as a whole is
split up: rows that already exist are recognised, and the rest are retried one operation per
row in a continue-on-error `$batch`, so one bad row fails alone. Whether a failure is for later
(the CRM was busy) or for good is the client's one classification (`is_busy`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from connector.dataverse.batch import BatchOperation, BatchResult
from connector.dataverse.errors import (
    BadResponse,
    DataverseError,
    DuplicateKey,
    is_busy,
    means_exists,
)
from connector.engine.models import StepType
from connector.errors import CrmUnavailable
from connector.mapping import ActivityMapping
from connector.sync.crm import CrmWriter
from connector.sync.payloads import Payload

log = logging.getLogger("seqsync.sync.push")

# How many ids one existence check puts into a GET URL (a GUID costs ~40 characters there).
EXISTS_CHUNK = 200
# Per-row fallback, cancellations and record updates go in $batch requests of this many
# operations.
BATCH_OPS = 500

T = TypeVar("T")


def patch_in_batches(
    crm: CrmWriter, rows: Sequence[T], request: Callable[[T], tuple[str, dict[str, Any]]],
) -> Iterator[list[tuple[T, BatchResult]]]:
    """PATCH each row's (url, body) with `If-Match: *` (update, never create: sending one twice
    is harmless), BATCH_OPS a $batch, each part on its own; yields every part with its results."""
    for start in range(0, len(rows), BATCH_OPS):
        part = rows[start:start + BATCH_OPS]
        ops = [BatchOperation(method="PATCH", url=url, body=body, headers={"If-Match": "*"})
               for url, body in map(request, part)]
        results = crm.execute_batch(ops, continue_on_error=True, atomic=False)
        yield list(zip(part, results, strict=True))


@dataclass
class ChunkOutcome:
    activity_type: StepType
    created: list[str] = field(default_factory=list)
    existed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # activity, record, message
    deferred: list[str] = field(default_factory=list)  # the CRM was busy: next run sends again
    deferred_reason: str = ""


def send_chunk(
    crm: CrmWriter, step_type: StepType, mapping: ActivityMapping, payloads: list[Payload],
) -> ChunkOutcome:
    outcome = ChunkOutcome(step_type)
    try:
        _create_many(crm, mapping, payloads, outcome)
    except DataverseError as exc:
        if not (is_busy(exc) or isinstance(exc, BadResponse)):
            raise
        # Retries are exhausted, or the reply could not be read: leave these pending; the next
        # run sends the same ids again and "already exists" sorts out what did get through.
        done = set(outcome.created) | set(outcome.existed) | {a for a, _, _ in outcome.failed}
        outcome.deferred = [a for a, _, _ in payloads if a not in done]
        outcome.deferred_reason = str(exc)
    return outcome


def _create_many(
    crm: CrmWriter, mapping: ActivityMapping, payloads: list[Payload], outcome: ChunkOutcome,
) -> None:
    try:
        # key= names the caller-chosen id column, which is what makes this create safe to retry.
        crm.create_multiple(
            mapping.entity_set, mapping.logical_name, [body for _, _, body in payloads],
            key=mapping.primary_key,
        )
        outcome.created.extend(a for a, _, _ in payloads)
        return
    except DuplicateKey:
        # An earlier run died after the CRM took some of these: find them, send the rest.
        existing = existing_ids(crm, mapping, [a for a, _, _ in payloads])
        outcome.existed.extend(a for a, _, _ in payloads if a in existing)
        payloads = [p for p in payloads if p[0] not in existing]
        if not payloads:
            return
    except CrmUnavailable:
        raise
    except DataverseError as exc:
        log.info("CreateMultiple of %d %s refused (%s); isolating rows",
                 len(payloads), mapping.entity_set, exc)
    _create_one_by_one(crm, mapping, payloads, outcome)


def existing_ids(crm: CrmWriter, mapping: ActivityMapping, ids: Sequence[str]) -> set[str]:
    """Which of `ids` the CRM has in the mapping's table."""
    found: set[str] = set()
    for start in range(0, len(ids), EXISTS_CHUNK):
        chunk = list(ids[start:start + EXISTS_CHUNK])
        for row in crm.query_in(
            mapping.entity_set, mapping.primary_key, chunk, select=[mapping.primary_key]
        ):
            found.add(str(row[mapping.primary_key]).lower())
    return found


def _create_one_by_one(
    crm: CrmWriter, mapping: ActivityMapping, payloads: list[Payload], outcome: ChunkOutcome,
) -> None:
    """One upsert-create per row (`If-None-Match: *`), many per `$batch`, each failing alone."""
    for start in range(0, len(payloads), BATCH_OPS):
        part = payloads[start:start + BATCH_OPS]
        ops = [
            BatchOperation(
                method="PATCH",
                url=f"{mapping.entity_set}({activity_id})",
                body={k: v for k, v in body.items()
                      if k not in (mapping.primary_key, "@odata.type")},
                headers={"If-None-Match": "*"},
            )
            for activity_id, _, body in part
        ]
        results = crm.execute_batch(ops, continue_on_error=True, atomic=False)
        for (activity_id, record_id, _), result in zip(part, results, strict=True):
            if result.ok:
                outcome.created.append(activity_id)
            elif means_exists(result.error):
                outcome.existed.append(activity_id)
            elif is_busy(result.error):
                outcome.deferred.append(activity_id)
                outcome.deferred_reason = result.message
            else:
                outcome.failed.append((activity_id, record_id, result.message))
