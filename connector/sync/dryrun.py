"""`--dry-run`: read the CRM for real, write nothing anywhere.

The run works on a scratch copy of the state (so the engine can plan as usual) and on a client
whose writes are recorded instead of sent. Both are thrown away at the end.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connector.app import copy_state_to
from connector.config import Settings
from connector.dataverse.client import BatchOperation, BatchResult, DataverseClient
from connector.sync.report import RunReport

SAMPLE = 20  # items listed per kind of write; the rest are counted


@contextmanager
def scratch_state(settings: Settings) -> Iterator[Settings]:
    prefix = "sqlite:///"
    url = settings.state.url
    folder = Path(tempfile.mkdtemp(prefix="seqsync-dry-run-"))
    try:
        scratch = folder / "state.db"
        source = Path(url[len(prefix):])
        if not url.startswith(prefix):
            # A server database: the run works on a SQLite copy of it, taken row by row.
            copy_state_to(settings, f"{prefix}{scratch}", migrate_source=False)
        elif source.exists():
            # The backup API copies a consistent snapshot even while WAL has unmerged pages.
            with sqlite3.connect(source) as src, sqlite3.connect(scratch) as dst:
                src.backup(dst)
        copy = settings.model_copy(deep=True)
        copy.state.url = f"{prefix}{scratch}"
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class RecordingClient:
    """The real client for reads; writes are noted in the report and answered as successes."""

    def __init__(self, client: DataverseClient, report: RunReport) -> None:
        self._client = client
        self._report = report

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

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
