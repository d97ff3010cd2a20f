"""Dataverse actions and functions integrations call: InstantiateTemplate, SendEmail,
QualifyLead, WinOpportunity/LoseOpportunity, BulkDelete (an async job) and
RetrieveTotalRecordCount."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable

from . import errors
from .errors import ApiError, bad_request
from .messages import ApiRequest, ApiResponse
from .plan import coerce, column_of, condition, table_of
from .schema import BY_LOGICAL
from .service import Dataverse, merge
from .store import Row

UNBOUND = ("InstantiateTemplate", "WinOpportunity", "LoseOpportunity", "BulkDelete",
           "RetrieveTotalRecordCount")
BOUND = {"emails": ("SendEmail",), "leads": ("QualifyLead",)}
# `{!lead:firstname;there}`: the data-field placeholder of Dataverse's email templates.
_PLACEHOLDER = re.compile(r"\{!(?P<entity>\w+):(?P<attr>\w+)(?:;(?P<default>[^}]*))?\}")
_EMPTY_ID = "00000000-0000-0000-0000-000000000000"
_BULK_OPERATORS = {"Equal": "eq", "NotEqual": "ne", "GreaterThan": "gt", "LessThan": "lt",
                   "GreaterEqual": "ge", "LessEqual": "le", "Like": "like", "NotLike": "not-like",
                   "In": "in", "NotIn": "not-in", "Null": "null", "NotNull": "not-null",
                   "Between": "between", "BeginsWith": "begins-with", "EndsWith": "ends-with"}


def _required(body: dict[str, object], name: str, kind: type | tuple[type, ...]) -> object:
    value = body.get(name)
    if value is None or not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise bad_request(f"Request message has unresolved parameters: '{name}' is required.",
                          errors.INVALID_ARGUMENT)
    return value


def _entity_ref(entity: dict[str, object]) -> dict[str, object]:
    logical = str(entity.get("@odata.type", "")).lstrip("#").removeprefix(
        "Microsoft.Dynamics.CRM.")
    tdef = BY_LOGICAL.get(logical)
    if tdef is None or not entity.get(tdef.primary_key):
        raise bad_request(
            "EdmEntityObject passed should have the key property value set.",
            errors.INVALID_ARGUMENT,
        )
    return {"@odata.type": f"#Microsoft.Dynamics.CRM.{logical}",
            tdef.primary_key: entity[tdef.primary_key]}


class Actions:
    def __init__(self, dv: Dataverse, api_url: str,
                 run_later: Callable[[float, Callable[[], None]], None] | None = None) -> None:
        self.dv = dv
        self.api_url = api_url
        self.run_later = run_later or _timer
        self.tracking = 1000

    def _context(self, what: str) -> str:
        return f"{self.api_url}/$metadata#{what}"

    # -- unbound -----------------------------------------------------------------------------

    def unbound(self, req: ApiRequest, name: str, key: str | None) -> ApiResponse:
        if name == "RetrieveTotalRecordCount":
            if req.method != "GET":
                raise ApiError(405, "", "RetrieveTotalRecordCount is a function; use GET.")
            return self.total_record_count(req, key or "")
        if req.method != "POST":
            raise ApiError(405, "", f"{name} is an action; use POST.")
        body = req.json()
        if name == "InstantiateTemplate":
            return self.instantiate_template(body)
        if name in ("WinOpportunity", "LoseOpportunity"):
            return self.close_opportunity(body, won=name == "WinOpportunity")
        return self.bulk_delete(body)

    def instantiate_template(self, body: dict[str, object]) -> ApiResponse:
        template_id = str(_required(body, "TemplateId", str)).lower()
        object_type = str(_required(body, "ObjectType", str))
        object_id = str(_required(body, "ObjectId", str)).lower()
        with self.dv.store.lock:
            template = self.dv.store.tables["templates"].rows.get(template_id)
            if template is None:
                raise bad_request("Must specify a valid Template Id", errors.INVALID_TEMPLATE)
            tdef = BY_LOGICAL.get(object_type)
            if tdef is None:
                raise bad_request(f"ObjectType '{object_type}' is not a table.",
                                  errors.INVALID_ARGUMENT)
            kind = template.get("templatetypecode")
            if kind and kind != object_type:
                raise bad_request(
                    f"Must specify a valid Template Id: template {template_id} is for "
                    f"'{kind}' records, not '{object_type}'.",
                    errors.INVALID_TEMPLATE,
                )
            record = self.dv.store.tables[tdef.entity_set].rows.get(object_id)
            if record is None:
                raise errors.not_found(object_type, object_id)

            def fill(text: object) -> str:
                def one(m: re.Match[str]) -> str:
                    value = record.get(m.group("attr")) if m.group("entity") == object_type \
                        else None
                    return str(value) if value is not None else (m.group("default") or "")
                return _PLACEHOLDER.sub(one, str(text or ""))

            email = {
                "@odata.type": "#Microsoft.Dynamics.CRM.email",
                "activityid": _EMPTY_ID,
                "subject": fill(template.get("subject")),
                "description": fill(template.get("body")),
                "_templateid_value": template_id,
            }
        context = self._context("Collection(Microsoft.Dynamics.CRM.crmbaseentity)")
        return ApiResponse.json(200, {"@odata.context": context, "value": [email]})

    def close_opportunity(self, body: dict[str, object], *, won: bool) -> ApiResponse:
        status = _required(body, "Status", int)
        close = _required(body, "OpportunityClose", dict)
        assert isinstance(close, dict)
        bind = close.get("opportunityid@odata.bind")
        if bind is None:
            raise bad_request("OpportunityClose needs 'opportunityid@odata.bind'.",
                              errors.INVALID_ARGUMENT)
        entity_set, opp_id = self.dv.resolve_bind(bind, None)
        if entity_set != "opportunities":
            raise bad_request("OpportunityClose must point at an opportunity.",
                              errors.INVALID_ARGUMENT)
        table = self.dv.store.tables["opportunities"]
        state = 1 if won else 2
        with self.dv.store.transaction():
            opp = table.rows.get(opp_id)
            if opp is None:
                raise errors.not_found("opportunity", opp_id)
            if opp.get("statecode") != 0:
                raise bad_request(f"The opportunity {opp_id} is already closed.",
                                  errors.INVALID_STATE)
            if status != -1 and status not in table.definition.states[state][1]:
                raise ApiError(400, errors.INVALID_STATE,
                               f"{status} is not a valid status code for state code "
                               f"{state} on opportunity with Id {opp_id}.")
            activity = {k: v for k, v in close.items() if k != "opportunityid@odata.bind"}
            activity["opportunityid@odata.bind"] = f"/opportunities({opp_id})"
            activity["regardingobjectid_opportunity_opportunityclose@odata.bind"] = (
                f"/opportunities({opp_id})")
            made = self.dv.create("opportunitycloses", activity)
            self.dv.update("opportunitycloses", str(made["activityid"]), {"statecode": 1})
            changes: Row = {"statecode": state,
                            "statuscode": None if status == -1 else status,
                            "actualclosedate": self.dv.now()}
            if "actualrevenue" in close:
                changes["actualvalue"] = close["actualrevenue"]
            self.dv.update("opportunities", opp_id, changes)
        return ApiResponse(204)

    def total_record_count(self, req: ApiRequest, key: str) -> ApiResponse:
        m = re.match(r"^EntityNames=(.+)$", key.strip())
        if m is None:
            raise bad_request("RetrieveTotalRecordCount needs EntityNames.",
                              errors.INVALID_ARGUMENT)
        text = m.group(1)
        if text.startswith("@"):
            text = req.option(text) or ""
        try:
            names = json.loads(text.replace("'", '"'))
        except ValueError:
            raise bad_request(f"EntityNames must be a JSON array, not {text}.",
                              errors.INVALID_ARGUMENT) from None
        if not isinstance(names, list):
            raise bad_request("EntityNames must be an array.", errors.INVALID_ARGUMENT)
        with self.dv.store.lock:
            counts = [len(table_of(self.dv, str(n), errors.INVALID_ARGUMENT).rows)
                      for n in names]
        payload = {
            "@odata.context": self._context(
                "Microsoft.Dynamics.CRM.RetrieveTotalRecordCountResponse"),
            "EntityRecordCountCollection": {"Count": len(names), "IsReadOnly": False,
                                            "Keys": names, "Values": counts},
        }
        return ApiResponse.json(200, payload)

    def bulk_delete(self, body: dict[str, object]) -> ApiResponse:
        query_set = _required(body, "QuerySet", list)
        job_name = str(_required(body, "JobName", str))
        for name in ("SendEmailNotification",):
            _required(body, name, bool)
        recurrence = body.get("RecurrencePattern", "")
        if recurrence:
            raise errors.not_implemented("recurring BulkDelete jobs (RecurrencePattern)")
        targets: list[tuple[str, str]] = []
        with self.dv.store.lock:
            for query in query_set:  # type: ignore[union-attr]
                if not isinstance(query, dict):
                    raise bad_request("QuerySet items must be QueryExpression objects.",
                                      errors.INVALID_ARGUMENT)
                table = table_of(self.dv, str(query.get("EntityName", "")),
                                 errors.INVALID_ARGUMENT)
                pred = self._criteria(table, query.get("Criteria"))
                # Only rows that exist now are deleted, as Dataverse documents.
                targets += [(table.definition.entity_set, k) for k, r in table.rows.items()
                            if pred({None: r})]
            job_id = str(uuid.uuid4())
            self.dv.insert_raw("asyncoperations", {
                "asyncoperationid": job_id, "name": job_name, "operationtype": 13,
                "statecode": 0, "statuscode": 0,
            })
        self.run_later(0.05, lambda: self._run_bulk_delete(job_id, targets))
        context = self._context("Microsoft.Dynamics.CRM.BulkDeleteResponse")
        return ApiResponse.json(200, {"@odata.context": context, "JobId": job_id})

    def _criteria(self, table: object, criteria: object) -> Callable[[dict], bool]:
        if criteria is None:
            return lambda c: True
        if not isinstance(criteria, dict):
            raise bad_request("Criteria must be a FilterExpression.", errors.INVALID_ARGUMENT)
        parts: list[Callable[[dict], bool]] = []
        for cond in criteria.get("Conditions") or []:
            if not isinstance(cond, dict):
                raise bad_request("Conditions must be ConditionExpression objects.",
                                  errors.INVALID_ARGUMENT)
            op = _BULK_OPERATORS.get(str(cond.get("Operator")))
            if op is None:
                raise errors.not_implemented(
                    f"the BulkDelete condition operator '{cond.get('Operator')}'")
            column = column_of(table, str(cond.get("AttributeName")))  # type: ignore[arg-type]
            attr = table.attrs.get(column)  # type: ignore[attr-defined]
            values = [coerce(attr, str(v.get("Value")) if isinstance(v, dict) else str(v))
                      for v in cond.get("Values") or []]
            parts.append(condition(op, lambda c, col=column: c[None].get(col), values,
                                   self.dv.app_user_id))
        for sub in criteria.get("Filters") or []:
            parts.append(self._criteria(table, sub))
        if str(criteria.get("FilterOperator", "And")).lower() == "or":
            return lambda c: any(p(c) for p in parts)
        return lambda c: all(p(c) for p in parts)

    def _run_bulk_delete(self, job_id: str, targets: list[tuple[str, str]]) -> None:
        jobs = self.dv.store.tables["asyncoperations"]
        with self.dv.store.transaction():
            if job_id not in jobs.rows:
                return  # the mock was reset meanwhile
            started = self.dv.now()
            deleted = 0
            for entity_set, row_id in targets:
                if row_id in self.dv.store.tables[entity_set].rows:
                    self.dv.delete(entity_set, row_id)
                    deleted += 1
            row = merge(jobs.rows[job_id], {
                "statecode": 3, "statuscode": 30, "startedon": started,
                "completedon": self.dv.now(), "modifiedon": self.dv.now(),
                "message": f"{deleted} records deleted.",
                "friendlymessage": f"Bulk delete completed: {deleted} records deleted.",
            })
            self.dv.store.put("asyncoperations", job_id, row)

    # -- bound -------------------------------------------------------------------------------

    def bound(self, req: ApiRequest, entity_set: str, row_id: str, name: str) -> ApiResponse:
        if req.method != "POST":
            raise ApiError(405, "", f"{name} is an action; use POST.")
        body = req.json()
        if name == "SendEmail":
            return self.send_email(row_id, body)
        return self.qualify_lead(row_id, body)

    def send_email(self, email_id: str, body: dict[str, object]) -> ApiResponse:
        issue = _required(body, "IssueSend", bool)
        token = body.get("TrackingToken")
        with self.dv.store.transaction():
            email = self.dv.store.tables["emails"].rows.get(email_id)
            if email is None:
                raise errors.not_found("email", email_id)
            if email.get("statecode") != 0:
                raise bad_request(
                    "Only an open (draft or failed) email can be sent.", errors.INVALID_STATE)
            if not token:
                self.tracking += 1
                token = f"CRM:{self.tracking:07d}"
            subject = f"{email.get('subject') or ''} {token}".strip()
            # The mock's mailbox delivers at once (IssueSend false only records it as sent):
            # Sent. `MockDataverse.fail_email` then simulates a delivery failure (open, status
            # 8 Failed), as server-side synchronization reports one.
            del issue
            self.dv.update("emails", email_id, {
                "statecode": 1, "statuscode": 3, "trackingtoken": str(token),
                "senton": self.dv.now(), "directioncode": True,
            })
        context = self._context("Microsoft.Dynamics.CRM.SendEmailResponse")
        return ApiResponse.json(200, {"@odata.context": context, "Subject": subject})

    def qualify_lead(self, lead_id: str, body: dict[str, object]) -> ApiResponse:
        flags = {k: _required(body, k, bool)
                 for k in ("CreateAccount", "CreateContact", "CreateOpportunity")}
        status = _required(body, "Status", int)
        leads = self.dv.store.tables["leads"]
        created: list[dict[str, object]] = []
        with self.dv.store.transaction():
            lead = leads.rows.get(lead_id)
            if lead is None:
                raise errors.not_found("lead", lead_id)
            if lead.get("statecode") != 0:
                raise bad_request(f"The lead {lead_id} is already closed.", errors.INVALID_STATE)
            origin = {"originatingleadid@odata.bind": f"/leads({lead_id})"}
            account = contact = None
            if flags["CreateAccount"]:
                account = self.dv.create("accounts", {
                    "name": lead.get("companyname") or lead.get("fullname") or "Account",
                    "telephone1": lead.get("telephone1"), **origin})
                created.append({"@odata.type": "#Microsoft.Dynamics.CRM.account",
                                "accountid": account["accountid"]})
            if flags["CreateContact"]:
                extra = ({"parentcustomerid_account@odata.bind":
                          f"/accounts({account['accountid']})"} if account else {})
                contact = self.dv.create("contacts", {
                    "firstname": lead.get("firstname"), "lastname": lead.get("lastname"),
                    "emailaddress1": lead.get("emailaddress1"),
                    "telephone1": lead.get("telephone1"), "jobtitle": lead.get("jobtitle"),
                    **origin, **extra})
                created.append({"@odata.type": "#Microsoft.Dynamics.CRM.contact",
                                "contactid": contact["contactid"]})
            if flags["CreateOpportunity"]:
                customer = body.get("OpportunityCustomerId")
                opp_body: dict[str, object] = {
                    "name": lead.get("subject") or lead.get("fullname") or "Opportunity",
                    **origin}
                if isinstance(customer, dict):
                    ref = _entity_ref(customer)
                    logical = str(ref["@odata.type"]).rsplit(".", 1)[-1]
                    key = BY_LOGICAL[logical].primary_key
                    opp_body[f"customerid_{logical}@odata.bind"] = (
                        f"/{BY_LOGICAL[logical].entity_set}({ref[key]})")
                elif account is not None:
                    opp_body["customerid_account@odata.bind"] = f"/accounts({account['accountid']})"
                elif contact is not None:
                    opp_body["customerid_contact@odata.bind"] = f"/contacts({contact['contactid']})"
                if account is not None:
                    opp_body["parentaccountid@odata.bind"] = f"/accounts({account['accountid']})"
                if contact is not None:
                    opp_body["parentcontactid@odata.bind"] = f"/contacts({contact['contactid']})"
                campaign = body.get("SourceCampaignId")
                if isinstance(campaign, dict) and campaign.get("campaignid"):
                    opp_body["campaignid@odata.bind"] = f"/campaigns({campaign['campaignid']})"
                opp = self.dv.create("opportunities", opp_body)
                created.append({"@odata.type": "#Microsoft.Dynamics.CRM.opportunity",
                                "opportunityid": opp["opportunityid"]})
                link = f"/opportunities({opp['opportunityid']})"
                self.dv.update("leads", lead_id, {"qualifyingopportunityid@odata.bind": link})
            self.dv.update("leads", lead_id, {"statecode": 1,
                                              "statuscode": None if status == -1 else status})
        context = self._context("Collection(Microsoft.Dynamics.CRM.crmbaseentity)")
        return ApiResponse.json(200, {"@odata.context": context, "value": created})


def _timer(delay: float, job: Callable[[], None]) -> None:
    timer = threading.Timer(delay, job)
    timer.daemon = True
    timer.start()

