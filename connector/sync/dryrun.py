"""`--dry-run`: read the CRM for real, write nothing anywhere.

The run works on a scratch copy of the state (so the engine can plan as usual). The phases get
a `ReadOnlyCrm`, and push a `RecordingWriter` built on it: its writes are noted in the report
and answered as successes, and nothing it holds can send one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connector.app import copy_state_to
from connector.config import Settings
from connector.dataverse.batch import BatchOperation, BatchResult
from connector.store.db import copy_sqlite, sqlite_file
from connector.sync.crm import ReadOnlyCrm
from connector.sync.report import RunReport

SAMPLE = 20  # items listed per kind of write; the rest are counted


@contextmanager
def scratch_state(settings: Settings) -> Iterator[Settings]:
    source = sqlite_file(settings.state.url)
    folder = Path(tempfile.mkdtemp(prefix="seqsync-dry-run-"))
    try:
        scratch = folder / "state.db"
        if source is None:
            # A server database: the run works on a SQLite copy of it, taken row by row.
            copy_state_to(settings, f"sqlite:///{scratch}", migrate_source=False)
        elif source.exists():
            copy_sqlite(source, scratch)
        copy = settings.model_copy(deep=True)
        copy.state.url = f"sqlite:///{scratch}"
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class RecordingWriter:
    """A `CrmWriter` for dry runs: reads go to the CRM, writes only into the report."""

    def __init__(self, reader: ReadOnlyCrm, report: RunReport) -> None:
        # Only a ReadOnlyCrm's reads: there is no client here to write with.
        self._reader = reader
        self._report = report

    @property
    def concurrency(self) -> int:
        return self._reader.concurrency

    def read_changes(self, *args: Any, **kwargs: Any) -> Any:
        return self._reader.read_changes(*args, **kwargs)

    def query_in(self, *args: Any, **kwargs: Any) -> Any:
        return self._reader.query_in(*args, **kwargs)

    def query(self, *args: Any, **kwargs: Any) -> Any:
        return self._reader.query(*args, **kwargs)

    def instantiate_template(self, action: str, template_id: str, object_type: str,
                             object_id: str) -> dict[str, Any]:
        # Not sent: the email shows which template the CRM would fill.
        filled = f"(template {template_id} filled by the CRM for {object_type} {object_id})"
        return {"subject": filled, "description": filled}

    def _note(self, action: str, entity_set: str, items: list[dict[str, Any]]) -> None:
        self._report.note_write({
            "action": action, "entity_set": entity_set, "count": len(items),
            "sample": [_describe(i) for i in items[:SAMPLE]],
        })

    def create_multiple(self, entity_set: str, logical_name: str, rows: list[dict[str, Any]],
                        *, key: str | None = None) -> list[str]:
        # Same signature as DataverseClient.create_multiple; nothing is sent, so `key` is moot.
        self._note("create", entity_set, rows)
        return [str(r.get("activityid", "")) for r in rows]

    def execute_batch(self, operations: list[BatchOperation], continue_on_error: bool = False,
                      atomic: bool = False) -> list[BatchResult]:
        for op in operations:
            self._note(op.method.lower(), op.url, [op.body or {}])
        return [BatchResult(status=204, headers={}, body=None, message="")
                for _ in operations]


def _describe(body: dict[str, Any]) -> dict[str, Any]:
    keep = ("activityid", "subject", "scheduledend", "statecode", "statuscode")
    out = {k: body[k] for k in keep if k in body}
    out.update({k: v for k, v in body.items() if k.endswith("@odata.bind") and "regarding" in k})
    return out
