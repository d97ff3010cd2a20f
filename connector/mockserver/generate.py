"""Deterministic, realistic-looking rows for `--generate leads=N,opportunities=M`."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from .service import LOOKUP_NOTE, Dataverse
from .store import Store

FIRST = ("Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
         "Kira", "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sven", "Tara",
         "Uma", "Victor", "Wen", "Xavier", "Yara", "Zane")
LAST = ("Adams", "Brown", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito",
        "Johnson", "Kowalski", "Lopez", "Müller", "Nakamura", "O'Brien", "Patel", "Quist",
        "Rossi", "Schmidt", "Tanaka", "Ueda", "Varga", "Weber", "Xu", "Young", "Zhang")
COMPANY = ("Contoso", "Fabrikam", "Northwind", "Adventure Works", "Litware", "Tailspin",
           "Wingtip", "Proseware", "Alpine Ski House", "Coho Winery", "Lucerne Publishing",
           "Margie's Travel", "Trey Research", "Woodgrove Bank", "Blue Yonder")
SUFFIX = ("Ltd", "Inc", "GmbH", "Group", "Labs", "Partners", "Systems", "Co")
TOPICS = ("CRM rollout", "renewal", "pilot", "expansion", "support plan", "analytics add-on",
          "migration", "training package")
_SUPPORTED = ("leads", "opportunities", "tasks", "emails", "phonecalls", "appointments",
              "teams", "templates")
TEMPLATES = (
    ("Intro", "Quick question, {!lead:firstname;there}",
     "<p>Hi {!lead:firstname;there}, I work with teams like {!lead:companyname;yours}.</p>"),
    ("Follow-up", "Following up, {!lead:firstname;there}",
     "<p>Hi {!lead:firstname;there}, did you see my last note?</p>"),
    ("Break-up", "Should I close your file?",
     "<p>{!lead:firstname;Hello}, I haven't heard back, so I'll stop writing.</p>"),
)


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _stamp(base: datetime, rng: random.Random, days: int) -> str:
    moment = base - timedelta(seconds=rng.randrange(days * 86400))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _put(store: Store, entity_set: str, row_id: str, row: dict[str, object]) -> None:
    store.put(entity_set, row_id, {k: v for k, v in row.items() if v is not None})


def generate(dv: Dataverse, counts: dict[str, int], seed: int = 0) -> dict[str, int]:
    """Add the requested number of rows per entity set; same seed, same rows."""
    for name in counts:
        if name not in _SUPPORTED:
            raise ValueError(
                f"--generate: unknown table '{name}' (use {', '.join(_SUPPORTED)})"
            )
    rng = random.Random(seed)
    sellers = sorted(dv.seller_ids())
    base = datetime(2026, 1, 1, tzinfo=UTC)
    store = dv.store
    lead_ids: list[str] = []
    # A pool of timestamps keeps large runs fast; 4096 distinct values look random enough.
    past = [_stamp(base, rng, 365) for _ in range(4096)]
    due = [_stamp(base + timedelta(days=30), rng, 60) for _ in range(4096)]
    with store.lock:
        for i in range(counts.get("leads", 0)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company = f"{rng.choice(COMPANY)} {rng.choice(SUFFIX)}"
            roll = rng.random()
            state, status = (1, 3) if roll < 0.05 else (2, 4) if roll < 0.08 else (0, 1)
            row_id = _guid(rng)
            created = past[rng.getrandbits(12)]
            domain = company.lower().replace(" ", "").replace("'", "")
            _put(store, "leads", row_id, {
                "leadid": row_id, "fullname": f"{first} {last}", "firstname": first,
                "lastname": last, "subject": f"{company}: {rng.choice(TOPICS)}",
                "companyname": company,
                "emailaddress1": f"{first}.{last}{i}@{domain}.example".lower().replace("'", ""),
                "telephone1": f"+1-555-{rng.randrange(1000):03d}-{rng.randrange(10000):04d}",
                "jobtitle": None, "description": None, "statecode": state, "statuscode": status,
                "_ownerid_value": rng.choice(sellers),
                "_ownerid_value" + LOOKUP_NOTE: "systemuser",
                "createdon": created, "modifiedon": created,
            })
            lead_ids.append(row_id)
        n_opps = counts.get("opportunities", 0)
        accounts: list[tuple[str, str]] = []
        for _ in range((n_opps + 4) // 5):
            account_id, contact_id = _guid(rng), _guid(rng)
            name = f"{rng.choice(COMPANY)} {rng.choice(SUFFIX)}"
            first, last = rng.choice(FIRST), rng.choice(LAST)
            created = _stamp(base, rng, 365)
            owner = rng.choice(sellers)
            _put(store, "accounts", account_id, {
                "accountid": account_id, "name": name, "telephone1": None,
                "emailaddress1": None, "websiteurl": None, "statecode": 0, "statuscode": 1,
                "_ownerid_value": owner, "createdon": created, "modifiedon": created,
            })
            _put(store, "contacts", contact_id, {
                "contactid": contact_id, "fullname": f"{first} {last}", "firstname": first,
                "lastname": last, "emailaddress1": f"{first}.{last}@example.com".lower(),
                "telephone1": None, "jobtitle": "Buyer", "_parentcustomerid_value": account_id,
                "statecode": 0, "statuscode": 1, "_ownerid_value": owner,
                "createdon": created, "modifiedon": created,
            })
            accounts.append((account_id, contact_id))
        for _ in range(n_opps):
            account_id, contact_id = rng.choice(accounts)
            roll = rng.random()
            state, status = (1, 3) if roll < 0.10 else (2, 4) if roll < 0.18 else (0, 1)
            row_id = _guid(rng)
            created = _stamp(base, rng, 365)
            _put(store, "opportunities", row_id, {
                "opportunityid": row_id, "name": f"{rng.choice(TOPICS).capitalize()} deal",
                "description": None,
                "estimatedvalue": float(rng.randrange(5, 500) * 1000),
                "closeprobability": rng.randrange(10, 90, 10),
                "estimatedclosedate": _stamp(base + timedelta(days=180), rng, 150),
                "actualclosedate": created if state else None,
                "_parentcontactid_value": contact_id, "_parentaccountid_value": account_id,
                "_customerid_value": account_id,
                "_customerid_value" + LOOKUP_NOTE: "account",
                "_originatingleadid_value": None,
                "statecode": state, "statuscode": status, "_ownerid_value": rng.choice(sellers),
                "_ownerid_value" + LOOKUP_NOTE: "systemuser",
                "createdon": created, "modifiedon": created,
            })
        targets = lead_ids or list(store.tables["leads"].rows)
        for entity_set in ("tasks", "emails", "phonecalls"):
            table = store.tables[entity_set]
            definition = table.definition
            for _ in range(counts.get(entity_set, 0)):
                row_id = _guid(rng)
                created = past[rng.getrandbits(12)]
                closed = rng.random() < 0.5
                state = 1 if closed else 0
                default_status = definition.states[state][0]
                row = {
                    "activityid": row_id, "subject": f"Follow up: {rng.choice(TOPICS)}",
                    "scheduledend": due[rng.getrandbits(12)],
                    "actualend": created if closed else None, "prioritycode": 1,
                    "_regardingobjectid_value": rng.choice(targets) if targets else None,
                    "_regardingobjectid_value" + LOOKUP_NOTE: "lead" if targets else None,
                    "activitytypecode": definition.activity_type, "statecode": state,
                    "statuscode": default_status, "_ownerid_value": rng.choice(sellers),
                    "createdon": created, "modifiedon": created,
                }
                _put(store, entity_set, row_id, row)
        _extras(dv, counts, random.Random(seed + 1), base, targets)
    return {name: counts[name] for name in counts}


def _extras(dv: Dataverse, counts: dict[str, int], rng: random.Random, base: datetime,
            lead_ids: list[str]) -> None:
    """Teams (owning every tenth lead), lead email templates and appointments. A second
    random stream, so asking for these leaves the other tables' rows unchanged."""
    store = dv.store
    teams = []
    for i in range(counts.get("teams", 0)):
        team_id = _guid(rng)
        _put(store, "teams", team_id, {
            "teamid": team_id, "name": f"{rng.choice(COMPANY)} team {i + 1}", "teamtype": 0,
            "isdefault": False, "_businessunitid_value": dv.business_unit_id,
            "createdon": _stamp(base, rng, 365), "modifiedon": _stamp(base, rng, 30),
        })
        teams.append(team_id)
    if teams:
        leads = store.tables["leads"]
        for lead_id in lead_ids[::10]:
            row = dict(leads.rows[lead_id])
            row["_ownerid_value"] = rng.choice(teams)
            row["_ownerid_value" + LOOKUP_NOTE] = "team"
            store.put("leads", lead_id, row)
    for i in range(counts.get("templates", 0)):
        title, subject, body = TEMPLATES[i % len(TEMPLATES)]
        template_id = _guid(rng)
        created = _stamp(base, rng, 365)
        _put(store, "templates", template_id, {
            "templateid": template_id, "title": f"{title} {i + 1}", "subject": subject,
            "body": body, "templatetypecode": "lead", "languagecode": 1033,
            "ispersonal": False, "componentstate": 0, "_ownerid_value": dv.app_user_id,
            "_ownerid_value" + LOOKUP_NOTE: "systemuser", "createdon": created,
            "modifiedon": created,
        })
    sellers = sorted(dv.seller_ids())
    for _ in range(counts.get("appointments", 0)):
        row_id = _guid(rng)
        start = base + timedelta(days=rng.randrange(1, 60), hours=rng.randrange(8, 17))
        created = _stamp(base, rng, 30)
        _put(store, "appointments", row_id, {
            "activityid": row_id, "subject": f"Meeting: {rng.choice(TOPICS)}",
            "scheduledstart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "scheduledend": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "location": "Teams", "activitytypecode": "appointment", "statecode": 0,
            "statuscode": 1, "_regardingobjectid_value": rng.choice(lead_ids) if lead_ids else None,
            "_regardingobjectid_value" + LOOKUP_NOTE: "lead" if lead_ids else None,
            "_ownerid_value": rng.choice(sellers),
            "_ownerid_value" + LOOKUP_NOTE: "systemuser",
            "createdon": created, "modifiedon": created,
        })
