"""The unbound `InstantiateTemplate` action: an email template filled for one record.

Dataverse returns the instantiated email(s) without saving them. The documentation does not
define the placeholder markup kept in `presentationxml`, so the mock fills Dynamics' own
`{!<table>:<column>;<default>}` tokens found in the template's `subject` and `body`.
"""

from __future__ import annotations

import re

from . import errors
from .errors import ApiError, bad_request
from .messages import ApiRequest, ApiResponse
from .schema import BY_LOGICAL
from .service import Dataverse, parse_guid

INVALID_TEMPLATE = "0x80040313"  # InvalidEmailTemplate: "Must specify a valid Template Id"
_TOKEN = re.compile(r"\{!(?P<table>[a-z_0-9]+):(?P<column>[a-z_0-9]+)(?:;(?P<default>[^}]*))?\}")


def _fill(text: str, table: str, row: dict[str, object]) -> str:
    def value(m: re.Match[str]) -> str:
        found = row.get(m.group("column")) if m.group("table") == table else None
        return str(found) if found not in (None, "") else (m.group("default") or "")

    return _TOKEN.sub(value, text)


def instantiate_template(dv: Dataverse, req: ApiRequest, api_url: str) -> ApiResponse:
    if req.method != "POST":
        raise ApiError(405, "", "InstantiateTemplate is an action; use POST.")
    body = req.json()
    for name in ("TemplateId", "ObjectType", "ObjectId"):
        if not body.get(name):
            raise bad_request(f"The parameter '{name}' is required and cannot be null.")
    template_id = parse_guid(body["TemplateId"], "TemplateId")
    object_type = str(body["ObjectType"])
    object_id = parse_guid(body["ObjectId"], "ObjectId")
    with dv.store.lock:
        template = dv.store.tables["templates"].rows.get(template_id)
        if template is None:
            raise ApiError(400, INVALID_TEMPLATE, "Must specify a valid Template Id")
        if template.get("templatetypecode") not in (None, object_type):
            raise ApiError(
                400, INVALID_TEMPLATE,
                f"The template is for {template.get('templatetypecode')} records, "
                f"not {object_type}.",
            )
        definition = BY_LOGICAL.get(object_type)
        if definition is None:
            raise bad_request(f"The entity '{object_type}' does not exist.")
        row = dv.store.tables[definition.entity_set].rows.get(object_id)
        if row is None:
            raise errors.not_found(object_type, str(body["ObjectId"]))
        email = {
            "@odata.type": "#Microsoft.Dynamics.CRM.email",
            "subject": _fill(str(template.get("subject") or ""), object_type, row),
            "description": _fill(str(template.get("body") or template.get("description") or ""),
                                 object_type, row),
        }
    return ApiResponse.json(200, {
        "@odata.context": f"{api_url}/$metadata#Collection(Microsoft.Dynamics.CRM.crmbaseentity)",
        "value": [email],
    })
