"""Actions and functions as the Dataverse docs call them with plain `requests`."""

from __future__ import annotations

import time

from connector.mockserver import MockDataverse

from .conftest import Api, error_of, new_id

NS = "Microsoft.Dynamics.CRM"


def test_instantiate_template_fills_placeholders_from_the_record(
    api: Api, crm: MockDataverse
) -> None:
    lead = api.create("leads", {"firstname": "Ann", "lastname": "Lee", "companyname": "Acme"})
    template = api.create("templates", {
        "title": "Welcome", "templatetypecode": "lead", "languagecode": 1033,
        "ispersonal": False, "subject": "Welcome, {!lead:firstname;friend}",
        "body": "<p>Hi {!lead:firstname;there}, how is {!lead:companyname;your company}? "
                "{!lead:jobtitle;Cheers}</p>"})
    resp = api.post("InstantiateTemplate", json={
        "TemplateId": template, "ObjectType": "lead", "ObjectId": lead})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["@odata.context"].endswith(
        "$metadata#Collection(Microsoft.Dynamics.CRM.crmbaseentity)")
    (email,) = body["value"]
    assert email["@odata.type"] == "#Microsoft.Dynamics.CRM.email"
    assert email["subject"] == "Welcome, Ann"
    assert email["description"] == "<p>Hi Ann, how is Acme? Cheers</p>"
    assert crm.rows("emails") == []  # instantiating saves nothing
    missing = api.post("InstantiateTemplate", json={
        "TemplateId": new_id(), "ObjectType": "lead", "ObjectId": lead})
    assert missing.status_code == 400
    assert error_of(missing) == {"code": "0x80040313",
                                 "message": "Must specify a valid Template Id"}
    wrong_type = api.post("InstantiateTemplate", json={
        "TemplateId": template, "ObjectType": "contact", "ObjectId": lead})
    assert wrong_type.status_code == 400
    no_params = api.post("InstantiateTemplate", json={"TemplateId": template})
    assert no_params.status_code == 400


def test_send_email_and_a_delivery_failure(api: Api, crm: MockDataverse) -> None:
    lead = api.create("leads", {"firstname": "Ann", "lastname": "Lee",
                                "emailaddress1": "ann@acme.example"})
    email = api.create("emails", {
        "subject": "Following up", "regardingobjectid_lead_email@odata.bind": f"/leads({lead})",
        "email_activity_parties": [
            {"partyid_systemuser@odata.bind": f"/systemusers({crm.dv.app_user_id})",
             "participationtypemask": 1},
            {"partyid_lead@odata.bind": f"/leads({lead})", "participationtypemask": 2}]})
    row = crm.get("emails", email)
    assert row["torecipients"] == "ann@acme.example;" and row["sender"] == "app@mock.local"
    sent = api.post(f"emails({email})/{NS}.SendEmail",
                    json={"IssueSend": True, "TrackingToken": None})
    assert sent.status_code == 200, sent.text
    assert sent.json()["Subject"].startswith("Following up CRM:")
    row = crm.get("emails", email)
    assert (row["statecode"], row["statuscode"]) == (1, 3) and row["senton"]
    again = api.post(f"emails({email})/{NS}.SendEmail", json={"IssueSend": True})
    assert again.status_code == 400
    crm.fail_email(email)
    failed = api.get(f"emails({email})?$select=statecode,statuscode", headers={
        "Prefer": 'odata.include-annotations="*"'}).json()
    assert (failed["statecode"], failed["statuscode"]) == (0, 8)
    assert failed["statuscode@OData.Community.Display.V1.FormattedValue"] == "Failed"
    unqualified = api.post(f"emails({email})/SendEmail", json={"IssueSend": True})
    assert unqualified.status_code == 400


def test_qualify_lead_creates_the_records_and_closes_the_lead(
    api: Api, crm: MockDataverse
) -> None:
    lead = api.create("leads", {"firstname": "Ann", "lastname": "Lee", "companyname": "Acme",
                                "subject": "Pilot", "emailaddress1": "ann@acme.example"})
    resp = api.post(f"leads({lead})/{NS}.QualifyLead", json={
        "CreateAccount": True, "CreateContact": True, "CreateOpportunity": True, "Status": 3})
    assert resp.status_code == 200, resp.text
    made = {r["@odata.type"]: r for r in resp.json()["value"]}
    account = made["#Microsoft.Dynamics.CRM.account"]["accountid"]
    contact = crm.get("contacts", made["#Microsoft.Dynamics.CRM.contact"]["contactid"])
    opp = crm.get("opportunities",
                  made["#Microsoft.Dynamics.CRM.opportunity"]["opportunityid"])
    assert crm.get("accounts", account)["name"] == "Acme"
    assert contact["_parentcustomerid_value"] == account
    assert opp["_originatingleadid_value"] == lead and opp["_customerid_value"] == account
    row = crm.get("leads", lead)
    assert (row["statecode"], row["statuscode"]) == (1, 3)
    assert row["_qualifyingopportunityid_value"] == opp["opportunityid"]
    twice = api.post(f"leads({lead})/{NS}.QualifyLead", json={
        "CreateAccount": False, "CreateContact": False, "CreateOpportunity": False,
        "Status": 3})
    assert twice.status_code == 400


def test_win_and_lose_opportunity(api: Api, crm: MockDataverse) -> None:
    won = api.create("opportunities", {"name": "Win me"})
    lost = api.create("opportunities", {"name": "Lose me"})
    resp = api.post("WinOpportunity", json={"Status": 3, "OpportunityClose": {
        "subject": "Won Opportunity", "actualrevenue": 5000,
        "opportunityid@odata.bind": f"{crm.api_url}/opportunities({won})"}})
    assert resp.status_code == 204, resp.text
    row = crm.get("opportunities", won)
    assert (row["statecode"], row["statuscode"], row["actualvalue"]) == (1, 3, 5000)
    (close,) = crm.rows("opportunitycloses")
    assert close["_opportunityid_value"] == won and close["statecode"] == 1
    bad = api.post("LoseOpportunity", json={"Status": 3, "OpportunityClose": {
        "opportunityid@odata.bind": f"/opportunities({lost})"}})
    assert bad.status_code == 400  # 3 is Won, not a Lost status
    ok = api.post("LoseOpportunity", json={"Status": 5, "OpportunityClose": {
        "subject": "Lost", "opportunityid@odata.bind": f"/opportunities({lost})"}})
    assert ok.status_code == 204
    assert crm.get("opportunities", lost)["statuscode"] == 5


def test_bulk_delete_is_an_async_job_that_completes(api: Api, crm: MockDataverse) -> None:
    keep = crm.insert("leads", {"lastname": "Keep"})
    gone = [crm.insert("leads", {"lastname": f"Gone{i}"}) for i in range(3)]
    resp = api.post("BulkDelete", json={
        "JobName": "Bulk delete lead records", "SendEmailNotification": False,
        "ToRecipients": [], "CCRecipients": [], "RecurrencePattern": "",
        "StartDateTime": "2026-05-19T10:00:00Z",
        "QuerySet": [{"@odata.type": f"{NS}.QueryExpression", "EntityName": "lead",
                      "ColumnSet": {"AllColumns": False, "Columns": []},
                      "Criteria": {"FilterOperator": "And", "Conditions": [{
                          "AttributeName": "leadid", "Operator": "In",
                          "Values": [{"Value": g, "Type": "System.Guid"} for g in gone]}]}}]})
    assert resp.status_code == 200, resp.text
    job = resp.json()["JobId"]
    deadline = time.monotonic() + 10
    state = None
    while time.monotonic() < deadline:
        state = api.get(f"asyncoperations({job})?$select=statecode,statuscode,message").json()
        if state["statecode"] == 3:
            break
        time.sleep(0.02)
    assert state is not None and (state["statecode"], state["statuscode"]) == (3, 30)
    assert [r["leadid"] for r in crm.rows("leads")] == [keep]


def test_retrieve_total_record_count(api: Api, crm: MockDataverse) -> None:
    crm.insert("accounts", {"name": "A"})
    for i in range(3):
        crm.insert("contacts", {"lastname": f"C{i}"})
    resp = api.get('RetrieveTotalRecordCount(EntityNames=@p1)?@p1=["account","contact"]')
    assert resp.status_code == 200, resp.text
    counts = resp.json()["EntityRecordCountCollection"]
    assert counts["Keys"] == ["account", "contact"] and counts["Values"] == [1, 3]


def test_won_and_lost_opportunities_are_read_only(api: Api) -> None:
    opp = api.create("opportunities", {"name": "Closing"})
    assert api.post("WinOpportunity", json={"Status": 3, "OpportunityClose": {
        "opportunityid@odata.bind": f"/opportunities({opp})"}}).status_code == 204
    edit = api.patch(f"opportunities({opp})", json={"name": "Renamed"})
    assert edit.status_code == 400 and error_of(edit)["code"] == "0x8004022e"
    assert api.patch(f"opportunities({opp})", json={"statecode": 0}).status_code == 204
    assert api.patch(f"opportunities({opp})", json={"name": "Renamed"}).status_code == 204
