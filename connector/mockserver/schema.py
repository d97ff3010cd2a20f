"""The tables the mock serves: names, keys, columns and valid state/status pairs (reference §10)."""

from __future__ import annotations

from dataclasses import dataclass, field

COMMON = ("statecode", "statuscode", "_ownerid_value", "createdon", "modifiedon", "versionnumber")
ACTIVITY_COLUMNS = (
    "activityid", "subject", "description", "scheduledstart", "scheduledend", "actualstart",
    "actualend", "actualdurationminutes", "prioritycode", "_regardingobjectid_value",
    "activitytypecode", *COMMON,
)


@dataclass(frozen=True)
class TableDef:
    logical: str
    entity_set: str
    primary_key: str
    columns: tuple[str, ...]
    primary_name: str | None = None
    # statecode -> (default statuscode, allowed statuscodes)
    states: dict[int, tuple[int, tuple[int, ...]]] = field(default_factory=dict)
    readonly_when_closed: bool = False
    activity_type: str | None = None
    object_type_code: int = 0


TABLES: tuple[TableDef, ...] = (
    TableDef(
        "lead", "leads", "leadid",
        ("leadid", "fullname", "firstname", "lastname", "subject", "companyname",
         "emailaddress1", "telephone1", "jobtitle", "description", *COMMON),
        primary_name="fullname",
        states={0: (1, (1, 2)), 1: (3, (3,)), 2: (4, (4, 5, 6, 7))},
        object_type_code=4,
    ),
    TableDef(
        "opportunity", "opportunities", "opportunityid",
        ("opportunityid", "name", "description", "estimatedvalue", "closeprobability",
         "estimatedclosedate", "actualclosedate", "_parentcontactid_value",
         "_parentaccountid_value", "_customerid_value", "_originatingleadid_value", *COMMON),
        primary_name="name",
        states={0: (1, (1, 2)), 1: (3, (3,)), 2: (4, (4, 5))},
        object_type_code=3,
    ),
    TableDef(
        "contact", "contacts", "contactid",
        ("contactid", "fullname", "firstname", "lastname", "emailaddress1", "telephone1",
         "jobtitle", "_parentcustomerid_value", *COMMON),
        primary_name="fullname",
        states={0: (1, (1,)), 1: (2, (2,))},
        object_type_code=2,
    ),
    TableDef(
        "account", "accounts", "accountid",
        ("accountid", "name", "telephone1", "emailaddress1", "websiteurl", *COMMON),
        primary_name="name",
        states={0: (1, (1,)), 1: (2, (2,))},
        object_type_code=1,
    ),
    TableDef(
        "systemuser", "systemusers", "systemuserid",
        ("systemuserid", "fullname", "firstname", "lastname", "internalemailaddress",
         "domainname", "isdisabled", "applicationid", "_businessunitid_value",
         "createdon", "modifiedon", "versionnumber"),
        primary_name="fullname",
        object_type_code=8,
    ),
    TableDef(
        "team", "teams", "teamid",
        ("teamid", "name", "teamtype", "_businessunitid_value", "createdon", "modifiedon",
         "versionnumber"),
        primary_name="name",
        object_type_code=9,
    ),
    TableDef(
        "email", "emails", "activityid",
        (*ACTIVITY_COLUMNS, "directioncode", "sender", "torecipients"),
        primary_name="subject",
        states={0: (1, (1, 8)), 1: (2, (2, 3, 4, 6, 7)), 2: (5, (5,))},
        readonly_when_closed=True, activity_type="email", object_type_code=4202,
    ),
    TableDef(
        "phonecall", "phonecalls", "activityid",
        (*ACTIVITY_COLUMNS, "directioncode", "phonenumber"),
        primary_name="subject",
        states={0: (1, (1,)), 1: (2, (2, 4)), 2: (3, (3,))},
        readonly_when_closed=True, activity_type="phonecall", object_type_code=4210,
    ),
    TableDef(
        "task", "tasks", "activityid",
        (*ACTIVITY_COLUMNS, "percentcomplete"),
        primary_name="subject",
        states={0: (2, (2, 3, 4, 7)), 1: (5, (5,)), 2: (6, (6,))},
        readonly_when_closed=True, activity_type="task", object_type_code=4212,
    ),
    TableDef(
        "activityparty", "activityparties", "activitypartyid",
        ("activitypartyid", "_activityid_value", "_partyid_value", "participationtypemask",
         "addressused", "versionnumber"),
        object_type_code=135,
    ),
)

ACTIVITY_SETS = ("emails", "phonecalls", "tasks")
POINTER_SET = "activitypointers"
POINTER_COLUMNS = ACTIVITY_COLUMNS
BY_SET = {t.entity_set: t for t in TABLES}
POINTER_DEF = TableDef(
    "activitypointer", POINTER_SET, "activityid", POINTER_COLUMNS, primary_name="subject",
    object_type_code=4200,
)
PARTY_NAV = {f"{t.logical}_activity_parties": t.entity_set for t in TABLES if t.activity_type}
BULK_SETS = frozenset({"leads", "opportunities", "emails", "phonecalls", "tasks"})
# Columns the service owns: a client may not write them.
SYSTEM_COLUMNS = frozenset({"createdon", "modifiedon", "versionnumber", "activitytypecode"})
