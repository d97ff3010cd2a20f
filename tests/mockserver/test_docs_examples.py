"""Plain `requests` examples written from the Dataverse Web API documentation."""

from __future__ import annotations

from urllib.parse import quote

from connector.mockserver import MockDataverse

from .conftest import Api, error_of


def test_upsert_by_alternate_key(api: Api, crm: MockDataverse) -> None:
    # use-upsert-insert-update-record: PATCH by key creates, then updates; 204 echoes the key.
    resp = api.patch("accounts(accountnumber='ABC123')", json={"name": "Contoso"})
    assert resp.status_code == 204, resp.text
    assert resp.headers["OData-EntityId"] == f"{crm.api_url}/accounts(accountnumber='ABC123')"
    (row,) = crm.rows("accounts")
    assert (row["accountnumber"], row["name"]) == ("ABC123", "Contoso")
    again = api.patch("accounts(accountnumber='ABC123')", json={"name": "Contoso Ltd"},
                      headers={"Prefer": "return=representation"})
    assert again.status_code == 200 and again.json()["name"] == "Contoso Ltd"
    assert len(crm.rows("accounts")) == 1
    assert api.get("accounts(accountnumber='ABC123')?$select=name").json()["name"] == (
        "Contoso Ltd")
    missing = api.patch("accounts(accountnumber='NOPE')", json={"name": "x"},
                        headers={"If-Match": "*"})
    assert missing.status_code == 404 and error_of(missing)["code"] == "0x80060891"
    undefined = api.get("accounts(name='Contoso Ltd')")
    assert undefined.status_code == 400 and error_of(undefined)["code"] == "0x80060890"
    assert "The key in the request URI is not valid" in error_of(undefined)["message"]


def test_alternate_keys_in_bind_and_batch(api: Api, crm: MockDataverse) -> None:
    crm.insert("accounts", {"name": "Fabrikam", "accountnumber": "FAB-1"})
    contact = api.create("contacts", {
        "lastname": "Bound",
        "parentcustomerid_account@odata.bind": "/accounts(accountnumber='FAB-1')"})
    assert crm.get("contacts", contact)["_parentcustomerid_value"] == crm.rows("accounts")[0][
        "accountid"]
    body = (
        "--batch_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        "GET /api/data/v9.2/accounts(accountnumber='FAB-1')?$select=name HTTP/1.1\r\n"
        "Accept: application/json\r\n\r\n"
        "--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_1\r\n\r\n"
        "--changeset_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        "Content-ID: 1\r\n\r\n"
        "PATCH /api/data/v9.2/accounts(accountnumber='NEW-2') HTTP/1.1\r\n"
        "Content-Type: application/json\r\n\r\n{\"name\": \"Created in batch\"}\r\n"
        "--changeset_1--\r\n--batch_1--\r\n")
    resp = api.post("$batch", data=body.encode(),
                    headers={"Content-Type": "multipart/mixed; boundary=batch_1"})
    assert resp.status_code == 200, resp.text
    assert '"name":"Fabrikam"' in resp.text and "HTTP/1.1 204" in resp.text
    assert {r["accountnumber"] for r in crm.rows("accounts")} == {"FAB-1", "NEW-2"}


def test_counting_rows(api: Api, crm: MockDataverse) -> None:
    for i in range(3):
        crm.insert("contacts", {"lastname": f"N{i}"})
    assert api.get("contacts/$count").text == "3"
    body = api.get("contacts?$select=fullname&$count=true").json()
    assert body["@odata.count"] == 3


def test_fetchxml_in_a_batch_get(api: Api, crm: MockDataverse) -> None:
    # use-fetchxml-web-api: a query too long for the URL goes in a $batch GET part.
    crm.insert("leads", {"lastname": "Batched"})
    xml = quote("<fetch><entity name='lead'><attribute name='fullname'/></entity></fetch>")
    body = ("--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"GET /api/data/v9.2/leads?fetchXml={xml} HTTP/1.1\r\n\r\n--b--\r\n")
    resp = api.post("$batch", data=body.encode(),
                    headers={"Content-Type": "multipart/mixed; boundary=b"})
    assert resp.status_code == 200 and '"fullname":"Batched"' in resp.text


def test_formatted_values_as_in_the_docs(api: Api, crm: MockDataverse) -> None:
    lead = crm.insert("leads", {"lastname": "Diaz", "firstname": "Pat",
                                "createdon": "2024-05-01T14:00:00Z"})
    row = api.get(f"leads({lead})?$select=statuscode,_ownerid_value,createdon", headers={
        "Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'}).json()
    assert row["statuscode@OData.Community.Display.V1.FormattedValue"] == "New"
    assert row["createdon@OData.Community.Display.V1.FormattedValue"] == "5/1/2024 2:00 PM"
    assert row["_ownerid_value@OData.Community.Display.V1.FormattedValue"] == (
        "# seqsync mock application user")
    assert "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname" not in row
