"""Metadata as the docs query it: service document, $metadata, EntityDefinitions parts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from connector.mockserver import MockDataverse

from .conftest import Api, error_of

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def test_service_document_lists_every_entity_set(api: Api) -> None:
    body = api.get(f"{api.crm.api_url}/").json()
    assert body["@odata.context"] == f"{api.crm.api_url}/$metadata"
    names = {s["name"] for s in body["value"]}
    assert {"leads", "teams", "templates", "appointments", "activitypointers"} <= names
    assert {s["kind"] for s in body["value"]} == {"EntitySet"}


def test_metadata_document_is_generated_from_the_schema(api: Api) -> None:
    resp = api.get("$metadata")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(resp.content)
    schema = root.find(f".//{EDM}Schema")
    assert schema is not None and schema.get("Alias") == "mscrm"
    types = {t.get("Name"): t for t in schema.findall(f"{EDM}EntityType")}
    lead = types["lead"]
    assert lead.find(f"{EDM}Key/{EDM}PropertyRef").get("Name") == "leadid"  # type: ignore[union-attr]
    props = {p.get("Name"): p.get("Type") for p in lead.findall(f"{EDM}Property")}
    assert props["leadid"] == "Edm.Guid" and props["revenue"] == "Edm.Decimal"
    assert props["_parentcontactid_value"] == "Edm.Guid"
    navs = {n.get("Name"): n.get("Type") for n in lead.findall(f"{EDM}NavigationProperty")}
    assert navs["parentcontactid"] == "mscrm.contact"
    assert navs["ownerid"] == "mscrm.principal"
    assert navs["Lead_Tasks"] == "Collection(mscrm.task)"
    assert types["task"].get("BaseType") == "mscrm.activitypointer"
    actions = {a.get("Name"): a for a in schema.findall(f"{EDM}Action")}
    assert actions["QualifyLead"].get("IsBound") == "true"
    assert actions["InstantiateTemplate"].get("IsBound") == "false"
    sets = {s.get("Name") for s in schema.findall(f"{EDM}EntityContainer/{EDM}EntitySet")}
    assert "opportunities" in sets


def test_entity_definitions_the_way_the_sdk_asks(api: Api) -> None:
    body = api.get("EntityDefinitions", params={
        "$select": "LogicalName,SchemaName",
        "$filter": "IsPrivate eq false and (SchemaName eq 'Lead')"}).json()
    assert [r["LogicalName"] for r in body["value"]] == ["lead"]
    tracked = api.get("EntityDefinitions", params={
        "$select": "LogicalName",
        "$filter": "ChangeTrackingEnabled eq false and CanChangeTrackingBeEnabled/Value eq false",
    }).json()["value"]
    assert [r["LogicalName"] for r in tracked] == ["activitypointer"]
    owned = api.get("EntityDefinitions", params={
        "$select": "LogicalName",
        "$filter": "OwnershipType eq Microsoft.Dynamics.CRM.OwnershipTypes'BusinessOwned'",
    }).json()["value"]
    assert {r["LogicalName"] for r in owned} == {"systemuser", "team"}


def test_attributes_keys_and_relationships(api: Api) -> None:
    one = api.get("EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='statuscode')"
                  "?$select=LogicalName,AttributeType").json()
    assert one["@odata.type"] == "#Microsoft.Dynamics.CRM.StatusAttributeMetadata"
    assert one["AttributeType"] == "Status"
    picklists = api.get(
        "EntityDefinitions(LogicalName='lead')/Attributes/"
        "Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName"
        "&$expand=OptionSet($select=Options)").json()["value"]
    source = next(p for p in picklists if p["LogicalName"] == "leadsourcecode")
    labels = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"]
              for o in source["OptionSet"]["Options"]}
    assert labels[8] == "Web"
    keys = api.get("EntityDefinitions(LogicalName='account')/Keys"
                   "?$select=SchemaName,KeyAttributes,EntityKeyIndexStatus").json()["value"]
    assert keys[0]["KeyAttributes"] == ["accountnumber"]
    assert keys[0]["EntityKeyIndexStatus"] == "Active"
    many_to_one = api.get(
        "EntityDefinitions(LogicalName='email')/ManyToOneRelationships?$select=SchemaName,"
        "ReferencedEntity,ReferencingAttribute,ReferencingEntityNavigationPropertyName").json()
    lead_emails = [r for r in many_to_one["value"] if r["SchemaName"] == "Lead_Emails"]
    assert lead_emails == [{
        "@odata.type": "#Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata",
        "MetadataId": lead_emails[0]["MetadataId"], "SchemaName": "Lead_Emails",
        "ReferencedEntity": "lead", "ReferencingAttribute": "regardingobjectid",
        "ReferencingEntityNavigationPropertyName": "regardingobjectid_lead_email"}]
    to_account = api.get("RelationshipDefinitions/Microsoft.Dynamics.CRM."
                         "OneToManyRelationshipMetadata?$filter=ReferencedEntity eq 'account'"
                         ).json()["value"]
    assert {"contact", "opportunity"} <= {r["ReferencingEntity"] for r in to_account}


def test_metadata_changes_are_refused_loudly(api: Api, crm: MockDataverse) -> None:
    resp = api.post("EntityDefinitions", json={"SchemaName": "new_thing"})
    assert resp.status_code == 501
    assert "metadata changes" in error_of(resp)["message"]
