"""InstantiateTemplate: a template filled for one record, returned, never saved."""

from __future__ import annotations

from connector.mockserver import MockDataverse

from .conftest import Api, error_of, new_id


def test_instantiate_fills_placeholders_for_the_record(crm: MockDataverse, api: Api) -> None:
    lead = api.create("leads", {"fullname": "Ann Lee", "companyname": "Contoso"})
    template = api.create("templates", {
        "title": "Intro", "templatetypecode": "lead", "languagecode": 1033,
        "subject": "Hello {!lead:fullname;there}",
        "body": "<p>Hi {!lead:fullname;}, about {!lead:companyname;your company}</p>",
    })
    emails_before = len(crm.rows("emails"))
    resp = api.post("InstantiateTemplate", json={
        "TemplateId": template, "ObjectType": "lead", "ObjectId": lead})
    assert resp.status_code == 200, resp.text
    (email,) = resp.json()["value"]
    assert email["subject"] == "Hello Ann Lee"
    assert email["description"] == "<p>Hi Ann Lee, about Contoso</p>"
    assert email["@odata.type"] == "#Microsoft.Dynamics.CRM.email"
    assert len(crm.rows("emails")) == emails_before  # returned, not saved


def test_unknown_template_or_wrong_table_is_invalid_email_template(api: Api) -> None:
    lead = api.create("leads", {"fullname": "Ann Lee"})
    missing = api.post("InstantiateTemplate", json={
        "TemplateId": new_id(), "ObjectType": "lead", "ObjectId": lead})
    assert missing.status_code == 400
    assert error_of(missing)["code"] == "0x80040313"
    other = api.create("templates", {"title": "Opp", "templatetypecode": "opportunity",
                                     "subject": "x", "languagecode": 1033})
    wrong = api.post("InstantiateTemplate", json={
        "TemplateId": other, "ObjectType": "lead", "ObjectId": lead})
    assert wrong.status_code == 400 and "opportunity" in error_of(wrong)["message"]
    no_record = api.post("InstantiateTemplate", json={
        "TemplateId": other, "ObjectType": "opportunity", "ObjectId": new_id()})
    assert no_record.status_code == 404
