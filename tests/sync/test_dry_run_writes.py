"""A dry run has no way to write to the CRM: every write path is tried and none sends.

The phases get a `ReadOnlyCrm` (reads only) and push a `RecordingWriter` built on it; the real
client below fails the test on any write method or any request other than a read.
"""

from __future__ import annotations

import inspect
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from support.world import EMAIL_THEN_CALL, T0, World

from connector.dataverse.client import DataverseClient
from connector.store.schema import outbox
from connector.sync.crm import ReadOnlyCrm, make_client
from connector.sync.dryrun import RecordingWriter
from connector.sync.report import RunReport

# Every public method of the client that changes something in the CRM.
WRITES = ("upsert_create", "update", "delete", "create_multiple", "update_multiple",
          "execute_batch")
READS = ("whoami", "get", "iter_pages", "query", "query_in", "read_changes")


def test_the_write_list_covers_every_client_method() -> None:
    public = {name for name, _ in inspect.getmembers(DataverseClient, inspect.isfunction)
              if not name.startswith("_")}
    assert public - {"request", "url", "close", "session"} == set(WRITES) | set(READS)


@pytest.mark.parametrize("name", [*WRITES, "request", "session"])
def test_the_read_only_client_has_no_write_method(name: str) -> None:
    assert not hasattr(ReadOnlyCrm, name)
    if name not in ("create_multiple", "execute_batch"):
        assert not hasattr(RecordingWriter, name)


class WriteGuard(DataverseClient):
    """The real client, failing loudly on anything but a read."""

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        assert method == "GET", f"a dry run sent {method} {url}"
        return super().request(method, url, **kwargs)


def _refuse(name: str) -> Any:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a dry run called DataverseClient.{name}")
    return refuse


for _name in WRITES:
    setattr(WriteGuard, _name, _refuse(_name))


def guarded(settings: Any) -> DataverseClient:
    client = make_client(settings)
    client.__class__ = WriteGuard
    return client


def test_a_dry_run_tries_every_write_path_and_sends_none(env: World) -> None:
    env.write_config(sync={"cancel_open_activities_on_disconnect": True})
    env.sync(T0)
    seq = env.sequence(text=EMAIL_THEN_CALL)
    env.connect(seq, env.open_leads(4))
    env.sync(T0 + timedelta(minutes=1))  # 4 emails in the CRM
    assert env.cli("sequence", "delete", seq, "--yes").exit_code == 0  # 4 to cancel
    other = env.sequence(name="Second", text=EMAIL_THEN_CALL)
    env.connect(other, env.open_leads()[4:6])  # 2 to create
    emails_before = env.crm.rows("emails")
    outbox_before = env.db(outbox)

    report: RunReport = env.sync(T0 + timedelta(minutes=2), dry_run=True,
                                 client_factory=guarded)

    assert report.outcome == "ok", report.errors
    counts: Counter[str] = Counter()
    for write in report.would_write:
        counts[f'{write["action"]} {write["entity_set"].split("(")[0]}'] += write["count"]
    assert counts == {"create emails": 2, "patch emails": 4}
    assert env.crm.rows("emails") == emails_before
    assert env.db(outbox) == outbox_before
