"""Microsoft's own Python SDK (PowerPlatform-Dataverse-Client) against the mock."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from azure.core.credentials import AccessToken
from PowerPlatform.Dataverse.client import DataverseClient
from PowerPlatform.Dataverse.core.errors import HttpError

from connector.mockserver import MockDataverse

from .conftest import MakeCrm, get_token


class MockCredential:
    """A TokenCredential that asks the mock's token endpoint (as MSAL would)."""

    def __init__(self, crm: MockDataverse) -> None:
        self.crm = crm
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        del kwargs
        assert scopes == (f"{self.crm.url}/.default",)
        self.calls += 1
        return AccessToken(get_token(self.crm), int(time.time()) + 3599)


@pytest.fixture
def client(crm: MockDataverse) -> Iterator[DataverseClient]:
    with DataverseClient(crm.url, MockCredential(crm)) as dv:
        yield dv


def test_sdk_create_retrieve_update_delete(crm: MockDataverse, client: DataverseClient) -> None:
    lead_id = client.records.create("lead", {"fullname": "SDK Lead", "companyname": "Contoso"})
    assert crm.get("leads", lead_id)["fullname"] == "SDK Lead"
    record = client.records.retrieve("lead", lead_id, select=["fullname", "companyname"])
    assert record["fullname"] == "SDK Lead"
    client.records.update("lead", lead_id, {"companyname": "Fabrikam"})
    assert crm.get("leads", lead_id)["companyname"] == "Fabrikam"
    client.records.delete("lead", lead_id)
    assert crm.get("leads", lead_id) is None
    assert client.records.retrieve("lead", lead_id) is None


def test_sdk_list_pages(crm: MockDataverse, client: DataverseClient) -> None:
    for i in range(7):
        crm.insert("leads", {"fullname": f"Lead {i}"})
    pages = list(client.records.list_pages("lead", select=["fullname"],
                                           filter="statecode eq 0", page_size=3))
    assert [len(p) for p in pages] == [3, 3, 1]
    result = client.records.list("lead", select=["fullname"], page_size=2)
    assert len(list(result)) == 7


def test_sdk_list_create_goes_through_create_multiple(
    crm: MockDataverse, client: DataverseClient
) -> None:
    ids = client.records.create("task", [{"subject": f"Task {i}"} for i in range(5)])
    assert len(ids) == 5
    assert sorted(r["subject"] for r in crm.rows("tasks")) == [f"Task {i}" for i in range(5)]
    routes = crm.stats()["requests"]["by_route"]
    assert routes["POST tasks/CreateMultiple"] == 1
    assert routes["GET EntityDefinitions"] >= 1
    client.records.update("task", ids, {"description": "bulk"})
    assert {r["description"] for r in crm.rows("tasks")} == {"bulk"}


def test_sdk_batch_with_a_change_set_and_content_id(
    crm: MockDataverse, client: DataverseClient
) -> None:
    batch = client.batch.new()
    batch.records.create("lead", {"fullname": "Outside the change set"})
    with batch.changeset() as cs:
        ref = cs.records.create("lead", {"fullname": "In the change set"})
        cs.records.create("task", {"subject": "Call",
                                   "regardingobjectid_lead_task@odata.bind": ref})
    result = batch.execute()
    assert not result.has_errors, [r.__dict__ for r in result.failed]
    assert len(result.entity_ids) == 3
    (task,) = crm.rows("tasks")
    lead = crm.get("leads", task["_regardingobjectid_value"])
    assert lead is not None and lead["fullname"] == "In the change set"


def test_sdk_sees_429_with_retry_after(make_crm: MakeCrm) -> None:
    crm = make_crm(rate_limit=(2, 300))
    with DataverseClient(crm.url, MockCredential(crm)) as dv:
        crm.insert("leads", {"fullname": "x"})
        lead_id = crm.rows("leads")[0]["leadid"]
        with pytest.raises(HttpError) as caught:
            for _ in range(4):
                dv.records.retrieve("lead", lead_id, select=["fullname"])
    assert caught.value.status_code == 429
    assert caught.value.details["retry_after"] >= 1


def test_sdk_sql_gets_only_what_it_asked_for(crm: MockDataverse, client: DataverseClient) -> None:
    for i in range(6):
        crm.insert("leads", {"firstname": f"S{i}", "lastname": "Sql", "companyname": "Contoso"})
    rows = client.query.sql("SELECT TOP 3 fullname FROM lead WHERE lastname = 'Sql' "
                            "ORDER BY fullname DESC")
    assert [r["fullname"] for r in rows] == ["S5 Sql", "S4 Sql", "S3 Sql"]
    assert "companyname" not in rows[0]


def test_sdk_fetchxml_pages_with_the_paging_cookie(
    crm: MockDataverse, client: DataverseClient
) -> None:
    for i in range(7):
        crm.insert("leads", {"firstname": f"F{i}", "lastname": "Fetch"})
    crm.insert("leads", {"firstname": "Other", "lastname": "Person"})
    query = client.query.fetchxml(
        "<fetch count='3'><entity name='lead'><attribute name='fullname'/>"
        "<filter><condition attribute='lastname' operator='eq' value='Fetch'/></filter>"
        "<order attribute='leadid'/></entity></fetch>")
    pages = list(query.execute_pages())
    assert [len(p.records) for p in pages] == [3, 3, 1]
    names = sorted(r["fullname"] for p in pages for r in p.records)
    assert names == [f"F{i} Fetch" for i in range(7)]
