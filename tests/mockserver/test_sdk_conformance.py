"""Microsoft's SDK (PowerPlatform-Dataverse-Client 1.1.0) across its public surface: query
builder, upsert by alternate key, bulk delete, tables metadata, and what it refuses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PowerPlatform.Dataverse.client import DataverseClient
from PowerPlatform.Dataverse.core.errors import HttpError
from PowerPlatform.Dataverse.models.filters import col
from PowerPlatform.Dataverse.models.upsert import UpsertItem

from connector.mockserver import MockDataverse

from .conftest import Api, MakeCrm
from .test_sdk import MockCredential


@pytest.fixture
def client(crm: MockDataverse) -> Iterator[DataverseClient]:
    with DataverseClient(crm.url, MockCredential(crm)) as dv:
        yield dv


@pytest.fixture
def accounts(crm: MockDataverse) -> dict[str, str]:
    ids = {name: crm.insert("accounts", {"name": name, "accountnumber": f"ACC-{i}",
                                         "numberofemployees": 10 * (i + 1)})
           for i, name in enumerate(["Acme", "Globex", "Initech", "Umbrella"])}
    for first, account in (("Ann", "Acme"), ("Bob", "Acme"), ("Cy", "Globex")):
        crm.insert("contacts", {"firstname": first, "lastname": "Lee",
                                "_parentcustomerid_value": ids[account]})
    return ids


def test_query_builder_select_where_order_top_count(
    client: DataverseClient, accounts: dict[str, str]
) -> None:
    result = (client.query.builder("account").select("name", "numberofemployees")
              .where(col("numberofemployees") >= 20).order_by("name", descending=True)
              .top(2).execute())
    assert [r["name"] for r in result] == ["Umbrella", "Initech"]
    found = (client.query.builder("account").select("name")
             .where(col("name").in_(["Acme", "Globex"])).execute())
    assert sorted(r["name"] for r in found) == ["Acme", "Globex"]


def test_query_builder_expand_and_formatted_values(
    client: DataverseClient, accounts: dict[str, str]
) -> None:
    rows = (client.query.builder("contact").select("fullname", "statuscode")
            .expand("parentcustomerid_account").include_formatted_values()
            .order_by("fullname").execute())
    first = rows[0]
    assert first["fullname"] == "Ann Lee"
    assert first["parentcustomerid_account"]["name"] == "Acme"
    assert first["statuscode@OData.Community.Display.V1.FormattedValue"] == "Active"


def test_upsert_by_alternate_key(
    client: DataverseClient, crm: MockDataverse, accounts: dict[str, str]
) -> None:
    client.records.upsert("account", [
        UpsertItem(alternate_key={"accountnumber": "ACC-0"}, record={"name": "Acme Corp"}),
        UpsertItem(alternate_key={"accountnumber": "ACC-9"}, record={"name": "Newco"}),
    ])
    names = {r["accountnumber"]: r["name"] for r in crm.rows("accounts")}
    assert names["ACC-0"] == "Acme Corp" and names["ACC-9"] == "Newco"
    assert len(names) == 5
    client.records.upsert("account", [
        UpsertItem(alternate_key={"accountnumber": "ACC-9"}, record={"name": "Newco Ltd"})])
    assert {r["accountnumber"]: r["name"] for r in crm.rows("accounts")}["ACC-9"] == "Newco Ltd"


def test_bulk_delete_through_the_sdk(client: DataverseClient, crm: MockDataverse) -> None:
    ids = [crm.insert("leads", {"lastname": f"Bulk{i}"}) for i in range(3)]
    keep = crm.insert("leads", {"lastname": "Keep"})
    job = client.records.delete("lead", ids)
    assert job
    deadline = time.monotonic() + 10
    while crm.get("asyncoperations", job)["statecode"] != 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert crm.get("asyncoperations", job)["statuscode"] == 30
    assert [r["leadid"] for r in crm.rows("leads")] == [keep]


def test_tables_metadata(client: DataverseClient) -> None:
    info = client.tables.get("lead")
    assert info is not None and info["entity_set_name"] == "leads"
    names = {t["LogicalName"] for t in client.tables.list()}
    assert {"lead", "contact", "team", "template"} <= names
    columns = {c["LogicalName"] for c in client.tables.list_columns("lead")}
    assert {"fullname", "leadsourcecode", "parentcontactid"} <= columns
    status = client.tables.get_column("lead", "statuscode")
    assert status is not None and status["AttributeType"] == "Status"
    keys = client.tables.get_alternate_keys("account")
    assert [k.key_attributes for k in keys] == [["accountnumber"]]
    rels = client.tables.list_table_relationships("lead")
    assert "Lead_Tasks" in {r["SchemaName"] for r in rels}
    rel = client.tables.get_relationship("Lead_Emails")
    assert rel is not None


def test_sql_columns_and_odata_helpers(client: DataverseClient) -> None:
    columns = {c["name"] for c in client.query.sql_columns("lead")}
    assert {"fullname", "emailaddress1"} <= columns


def test_what_the_mock_refuses_the_sdk_sees_as_errors(client: DataverseClient) -> None:
    with pytest.raises(HttpError) as caught:
        client.tables.create("new_Widget", {"new_name": "string"})
    assert caught.value.status_code == 501


def test_discovered_navigation_properties_work_for_expand_and_bind(
    client: DataverseClient, crm: MockDataverse, accounts: dict[str, str]
) -> None:
    expands = client.query.odata_expands("contact")
    to_account = next(e for e in expands if e["target_table"] == "account")
    assert to_account["target_entity_set"] == "accounts"
    nav = to_account["nav_property"]
    rows = (client.query.builder("contact").select("fullname").expand(nav)
            .order_by("fullname").execute())
    assert rows[0][nav]["name"] == "Acme"
    lead = client.records.create("lead", {
        "lastname": "Bound", "parentaccountid@odata.bind": f"/accounts({accounts['Globex']})"})
    assert crm.get("leads", lead)["_parentaccountid_value"] == accounts["Globex"]


def test_batch_reads_upsert_and_sql(
    client: DataverseClient, crm: MockDataverse, accounts: dict[str, str]
) -> None:
    batch = client.batch.new()
    batch.records.retrieve("account", accounts["Acme"], select=["name"])
    batch.records.upsert("account", [
        UpsertItem(alternate_key={"accountnumber": "ACC-77"}, record={"name": "Batchco"})])
    batch.query.sql("SELECT TOP 2 name FROM account ORDER BY name")
    batch.tables.get("account")
    result = batch.execute()
    assert not result.has_errors, [(r.status_code, r.data) for r in result.failed]
    read, _, sql, table = result.responses
    assert read.data is not None and read.data["name"] == "Acme"
    assert sql.data is not None and [r["name"] for r in sql.data["value"]] == ["Acme", "Batchco"]
    assert table.data is not None and table.data["value"][0]["EntitySetName"] == "accounts"
    assert "Batchco" in {r["name"] for r in crm.rows("accounts")}


def test_picklist_labels_resolve_through_option_set_metadata(
    client: DataverseClient, crm: MockDataverse
) -> None:
    lead = client.records.create("lead", {"lastname": "Label", "leadsourcecode": "Web"})
    assert crm.get("leads", lead)["leadsourcecode"] == 8


def test_file_columns_upload_small_and_chunked(make_crm: MakeCrm, tmp_path: Path) -> None:
    crm = make_crm(seed={"_columns": {"accounts": {"new_contract": "File"}},
                         "accounts": [{"name": "With files"}]})
    account = crm.rows("accounts")[0]["accountid"]
    small = tmp_path / "contract.pdf"
    small.write_bytes(b"%PDF-1.7 small")
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 40000)  # 10 MB: three 4 MB chunks
    api = Api(crm)
    with DataverseClient(crm.url, MockCredential(crm)) as client:
        client.files.upload("account", account, "new_contract", str(small))
        got = api.get(f"accounts({account})/new_contract/$value")
        assert got.content == b"%PDF-1.7 small"
        assert got.headers["x-ms-file-name"] == "contract.pdf"
        assert crm.get("accounts", account)["new_contract_name"] == "contract.pdf"
        client.files.upload("account", account, "new_contract", str(big), mode="chunk",
                            if_none_match=False)
    assert api.get(f"accounts({account})/new_contract/$value").content == big.read_bytes()
    assert api.delete(f"accounts({account})/new_contract").status_code == 204
    assert api.get(f"accounts({account})/new_contract/$value").status_code == 404
    assert crm.get("accounts", account)["new_contract"] is None
    written = api.patch(f"accounts({account})", json={"new_contract": "x"})
    assert written.status_code == 400
