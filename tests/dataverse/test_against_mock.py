"""The client against seqsync's mock Dataverse over real HTTPS with real MSAL: what sync does."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.config import CrmConfig
from connector.dataverse import BatchOperation, DataverseClient, DuplicateKey, NotFound
from connector.mockserver.server import MockDataverse


@pytest.fixture(scope="module")
def mock() -> Iterator[MockDataverse]:
    with MockDataverse(generate={"leads": 12}) as server:
        yield server


@pytest.fixture
def client(mock: MockDataverse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataverseClient:
    monkeypatch.setenv("MOCK_SECRET", mock.client_secret)
    crm = CrmConfig(
        url=mock.url, tenant_id=mock.tenant, client_id=mock.client_id,
        client_secret_env="MOCK_SECRET", authority_host=mock.url, ca_bundle=mock.ca_file,
        token_cache=tmp_path / "cache.json",
    )
    return DataverseClient(crm, sleep=lambda s: None)


def test_pull_then_delta_with_a_delete(client: DataverseClient, mock: MockDataverse) -> None:
    client.whoami()
    assert client.concurrency >= 1
    pages = list(client.read_changes("leads", ["fullname", "statecode"], "leadid", None,
                                     page_size=5))
    assert len(pages) >= 3 and all(p.full_read for p in pages)
    assert [p.delta_link is not None for p in pages][-1] is True
    leads = [r["leadid"] for p in pages for r in p.upserts]
    mock.delete("leads", leads[0])
    changes = list(client.read_changes("leads", ["fullname"], "leadid", pages[-1].delta_link))
    assert [i for p in changes for i in p.deleted_ids] == [leads[0]]
    assert stat.S_IMODE(os.stat(client.crm.token_cache).st_mode) == 0o600


def test_push_activities_exactly_once(client: DataverseClient, mock: MockDataverse) -> None:
    lead = mock.rows("leads")[0]["leadid"]
    ids = [str(uuid.uuid4()) for _ in range(3)]
    rows = [{"activityid": i, "subject": "Call",
             "regardingobjectid_lead_task@odata.bind": f"/leads({lead})"} for i in ids]
    assert client.create_multiple("tasks", "task", rows) == ids
    with pytest.raises(DuplicateKey):
        client.create_multiple("tasks", "task", rows)
    results = client.execute_batch(
        [BatchOperation("PATCH", f"tasks({i})", {"subject": "Call"}, {"If-None-Match": "*"})
         for i in [ids[0], str(uuid.uuid4())]],
        continue_on_error=True,
    )
    assert [r.status for r in results] == [412, 204]
    assert isinstance(results[0].error, DuplicateKey)
    found = list(client.query_in("tasks", "activityid", ids, select=["activityid"]))
    assert sorted(r["activityid"] for r in found) == sorted(ids)
    client.delete("tasks", ids[0])
    with pytest.raises(NotFound):
        client.get("tasks", ids[0], ["subject"])
