"""The data rules of the mock: validation, lookups (`@odata.bind`), state codes, parties."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from . import errors, keys
from . import values as values_mod
from .errors import ApiError
from .schema import BY_LOGICAL, SYSTEM_COLUMNS, TABLES, TableDef, make_attr
from .store import Row, Store, Table

LOOKUP_NOTE = "@Microsoft.Dynamics.CRM.lookuplogicalname"
_BIND = re.compile(r"^(?:.*/)?(?P<set>[A-Za-z_]\w*)\((?P<key>[^()]+)\)$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ORG_NAMESPACE = uuid.UUID("6f1b1c33-7e0a-4c57-9a43-0a2b9f0d5e11")
# A few Windows time zones, by Dataverse timezonecode: (standardname, userinterfacename).
TIME_ZONES = {
    4: ("Pacific Standard Time", "(GMT-08:00) Pacific Time (US & Canada)"),
    35: ("Eastern Standard Time", "(GMT-05:00) Eastern Time (US & Canada)"),
    85: ("GMT Standard Time", "(GMT) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London"),
    105: ("Romance Standard Time", "(GMT+01:00) Brussels, Copenhagen, Madrid, Paris"),
}
ZONE_BIAS = {4: 480, 35: 300, 85: 0, 105: -60}  # minutes; UTC = local + bias (Windows)
# Per user in creation order (app user, Avery, Blake, Casey): timezonecode, working day.
USER_ZONES = ((85, "08:00", "17:00"), (105, "08:00", "17:00"), (35, "09:00", "18:00"),
              (4, "08:00", "17:00"))

RefResolver = Callable[[str], str | None]


def iso_now(clock: Callable[[], float] = time.time) -> str:
    return datetime.fromtimestamp(clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_guid(value: object, what: str) -> str:
    if not isinstance(value, str) or not _GUID.match(value):
        raise errors.bad_request(f"'{value}' is not a valid GUID for {what}.", errors.VALIDATION)
    return value.lower()


def parse_bind(value: object, resolve_ref: RefResolver | None) -> tuple[str, str]:
    """`/leads(<id>)`, `leads(<id>)`, an absolute URL or a `$n` batch reference, as
    (entity set, key text): a GUID or an alternate key such as `accountnumber='A-1'`."""
    text = value if isinstance(value, str) else ""
    if text.startswith("$") and resolve_ref is not None:
        resolved = resolve_ref(text)
        if resolved is None:
            raise errors.bad_request(
                f"Content-ID Reference: '{text}' does not exist in the batch context.",
                errors.BATCH_INVALID,
            )
        text = resolved
    m = _BIND.match(text)
    if m is None:
        raise errors.bad_request(f"Invalid @odata.bind value '{value}'.", errors.VALIDATION)
    return m.group("set"), m.group("key")


def lookup_column(columns: list[str], nav: str) -> str | None:
    """`regardingobjectid_lead_task` -> `_regardingobjectid_value` (longest matching prefix)."""
    parts = nav.split("_")
    for n in range(len(parts), 0, -1):
        col = "_" + "_".join(parts[:n]) + "_value"
        if col in columns:
            return col
    return None


class Dataverse:
    """One organisation's data: tables plus the rules applied to every write."""

    def __init__(self, app_user_id: str, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.store = Store(TABLES)
        self.organization_id = str(uuid.uuid5(ORG_NAMESPACE, "organization"))
        self.business_unit_id = str(uuid.uuid5(ORG_NAMESPACE, "businessunit"))
        self.app_user_id = app_user_id
        # Uploaded file contents: (entity set, row id, column) -> (file name, bytes).
        self.files: dict[tuple[str, str, str], tuple[str, bytes]] = {}
        self.add_builtin_users()

    # -- helpers -----------------------------------------------------------------------------

    def now(self) -> str:
        return iso_now(self.clock)

    def table(self, entity_set: str) -> Table:
        table = self.store.tables.get(entity_set)
        if table is None:
            raise ApiError(
                404, "0x8006088a", f"Resource not found for the segment '{entity_set}'."
            )
        return table

    def add_builtin_users(self) -> None:
        users = [
            (self.app_user_id, "# seqsync mock application user", "app", "app@mock.local"),
            (str(uuid.uuid5(ORG_NAMESPACE, "seller-1")), "Avery Seller", "avery",
             "avery.seller@contoso.example"),
            (str(uuid.uuid5(ORG_NAMESPACE, "seller-2")), "Blake Seller", "blake",
             "blake.seller@contoso.example"),
            (str(uuid.uuid5(ORG_NAMESPACE, "seller-3")), "Casey Seller", "casey",
             "casey.seller@contoso.example"),
        ]
        now = self.now()
        with self.store.transaction():
            for user_id, name, first, mail in users:
                last = name.split()[-1]
                self.store.put("systemusers", user_id, {
                    "systemuserid": user_id, "fullname": name, "firstname": first,
                    "lastname": last, "internalemailaddress": mail, "domainname": mail,
                    "isdisabled": False, "applicationid": None,
                    "_businessunitid_value": self.business_unit_id,
                    "createdon": now, "modifiedon": now,
                })
            for (user_id, *_), (code, start, stop) in zip(users, USER_ZONES, strict=True):
                self.store.put("usersettingscollection", user_id, {
                    "systemuserid": user_id, "timezonecode": code,
                    "timezonebias": ZONE_BIAS[code], "workdaystarttime": start,
                    "workdaystoptime": stop, "localeid": 1033,
                })
            for code, (standard, display) in TIME_ZONES.items():
                zone_id = str(uuid.uuid5(ORG_NAMESPACE, f"timezone-{code}"))
                self.store.put("timezonedefinitions", zone_id, {
                    "timezonedefinitionid": zone_id, "timezonecode": code,
                    "standardname": standard, "userinterfacename": display,
                    "bias": ZONE_BIAS[code], "retiredorder": 0,
                })

    def seller_ids(self) -> list[str]:
        return [
            k for k in self.store.tables["systemusers"].rows if k != self.app_user_id
        ]

    # -- value handling ----------------------------------------------------------------------

    def _value(self, table: Table, column: str, value: object) -> object:
        attr = table.attrs.get(column)
        tdef = table.definition
        if attr is None or value is None or column == tdef.primary_key:
            return value  # the primary key is checked where it is used, naming the key
        return values_mod.check(attr, value, tdef.logical, tdef.entity_set)

    def _bind(
        self, table: Table, nav: str, value: object, resolve_ref: RefResolver | None
    ) -> tuple[str, str | None, str | None]:
        column = lookup_column(table.columns, nav)
        if column is None:
            raise errors.unknown_property(nav, table.definition.logical)
        if value is None:
            return column, None, None
        target_set, target_id = self.resolve_bind(value, resolve_ref)
        target = self.store.tables[target_set]
        attr = table.attrs.get(column)
        logical = target.definition.logical
        # `regardingobjectid_lead_task` names its target: it must agree with the URL's table.
        qualifier = nav[len(column) - 7:].lstrip("_") if len(nav) > len(column) - 7 else ""
        if (attr is not None and attr.targets and logical not in attr.targets) or (
            qualifier and not qualifier.startswith(logical)
        ):
            raise errors.bad_request(
                f"The navigation property '{nav}' of '{table.definition.logical}' cannot point "
                f"at a '{logical}' record.",
                errors.VALIDATION,
            )
        return column, target_id, logical

    def resolve_bind(self, value: object, resolve_ref: RefResolver | None) -> tuple[str, str]:
        """(entity set, id) of an existing row named by an `@odata.bind` value."""
        target_set, key_text = parse_bind(value, resolve_ref)
        target = self.store.tables.get(target_set)
        if target is None:
            raise errors.bad_request(
                f"Invalid @odata.bind: entity set '{target_set}' does not exist.",
                errors.VALIDATION,
            )
        target_id, _ = keys.resolve(target, key_text)
        if target_id is None or target_id not in target.rows:
            raise ApiError(
                400, errors.NOT_FOUND,
                f"{target.definition.logical} With Ids = {target_id or key_text} Do Not Exist",
            )
        return target_set, target_id

    def parse_body(
        self,
        table: Table,
        body: dict[str, object],
        resolve_ref: RefResolver | None,
        *,
        allow_new_columns: bool = False,
    ) -> tuple[Row, list[dict[str, object]] | None]:
        """Split a Web API body into column values and (for activities) party rows."""
        tdef = table.definition
        values: Row = {}
        parties: list[dict[str, object]] | None = None
        for key, value in body.items():
            if key.endswith("@odata.bind"):
                column, target_id, logical = self._bind(
                    table, key[: -len("@odata.bind")], value, resolve_ref
                )
                values[column] = target_id
                values[column + LOOKUP_NOTE] = logical
                continue
            if key.startswith("@odata.") or "@" in key:
                continue  # annotations such as @odata.type / @odata.etag are not data
            if tdef.activity_type and key == f"{tdef.logical}_activity_parties":
                if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
                    raise errors.bad_request(f"'{key}' must be a list of objects.")
                parties = value
                continue
            if key not in table.columns:
                if not allow_new_columns:
                    raise errors.unknown_property(key, tdef.logical)
                table.add_column(make_attr(key, values_mod.infer_kind(value), custom=True))
            if key in SYSTEM_COLUMNS and not allow_new_columns:
                continue  # Dataverse ignores writes to system columns
            values[key] = self._value(table, key, value)
        return values, parties

    def _apply_state(self, tdef: TableDef, row: Row, changes: Row, row_id: str) -> None:
        if not tdef.states:
            return
        state = changes.get("statecode")
        status = changes.get("statuscode")
        if state is None and status is None:
            return
        if state is None:
            state = next((s for s, (_, ok) in tdef.states.items() if status in ok), None)
            if state is None:
                raise ApiError(
                    400, errors.INVALID_STATE,
                    f"{status} is not a valid status code on {tdef.logical} with Id {row_id}.",
                )
        if state not in tdef.states:
            raise ApiError(
                400, errors.INVALID_STATE,
                f"{state} is not a valid state code on {tdef.logical} with Id {row_id}.",
            )
        default, allowed = tdef.states[int(state)]  # type: ignore[arg-type]
        if status is None:
            status = default
        if status not in allowed:
            raise ApiError(
                400, errors.INVALID_STATE,
                f"{status} is not a valid status code for state code {state} on "
                f"{tdef.logical} with Id {row_id}.",
            )
        row["statecode"] = state
        row["statuscode"] = status
        if tdef.activity_type and state in (1, 2) and not row.get("actualend"):
            row["actualend"] = self.now()

    def fill_defaults(self, table: Table, row: Row) -> None:
        """What Dataverse sets on create: owner, activity type, defaults, computed columns."""
        tdef = table.definition
        if "_ownerid_value" in table.columns and row.get("_ownerid_value") is None:
            row["_ownerid_value"] = self.app_user_id
            row["_ownerid_value" + LOOKUP_NOTE] = "systemuser"
        if tdef.activity_type:
            row["activitytypecode"] = tdef.activity_type
        for attr in tdef.attributes:
            if attr.default is not None and row.get(attr.column) is None:
                row[attr.column] = attr.default
        self.compute(table, row, row)

    def compute(self, table: Table, row: Row, changes: Row) -> None:
        """Computed columns and the target table of every lookup value. `fullname` follows a
        change of first or last name (a write of `fullname` alone is kept, see the docs)."""
        full = table.attrs.get("fullname")
        if full is not None and full.computed and ("firstname" in changes
                                                   or "lastname" in changes) and (
                row.get("firstname") or row.get("lastname")):
            row["fullname"] = " ".join(
                str(row[c]) for c in ("firstname", "lastname") if row.get(c)
            )
        # Rows are sparse: only the lookups present need a target table noted.
        for column in [c for c in row if c.endswith("_value")]:
            attr = table.attrs.get(column)
            if attr is not None and attr.is_lookup and not row.get(column + LOOKUP_NOTE):
                row[column + LOOKUP_NOTE] = self.target_of(attr.targets, str(row[column]))

    def target_of(self, targets: tuple[str, ...], row_id: str) -> str | None:
        """Which of a lookup's target tables holds `row_id`."""
        for logical in targets:
            tdef = BY_LOGICAL.get(logical)
            if tdef is not None and row_id in self.store.tables[tdef.entity_set].rows:
                return logical
        return targets[0] if targets else None

    def primary_name(self, logical: str, row_id: str) -> str | None:
        tdef = BY_LOGICAL.get(logical)
        if tdef is None or tdef.primary_name is None:
            return None
        row = self.store.tables[tdef.entity_set].rows.get(row_id)
        return None if row is None else row.get(tdef.primary_name)  # type: ignore[return-value]

    # -- writes ------------------------------------------------------------------------------

    def create(
        self,
        entity_set: str,
        body: dict[str, object],
        resolve_ref: RefResolver | None = None,
        *,
        row_id: str | None = None,
    ) -> Row:
        table = self.table(entity_set)
        tdef = table.definition
        values, parties = self.parse_body(table, body, resolve_ref)
        pk = tdef.primary_key
        given = values.pop(pk, None)
        if row_id is None:
            row_id = parse_guid(given, pk) if given is not None else str(uuid.uuid4())
        if row_id in table.rows:
            raise ApiError(412, errors.DUPLICATE_KEY, "Cannot insert duplicate key.")
        now = self.now()
        row: Row = _sparse(values)
        row[pk] = row_id
        row["createdon"] = now
        row["modifiedon"] = now
        self.fill_defaults(table, row)
        if tdef.states:
            state_changes = {
                "statecode": values.get("statecode", 0 if "statuscode" not in values else None),
                "statuscode": values.get("statuscode"),
            }
            self._apply_state(tdef, row, state_changes, row_id)
        with self.store.transaction():
            self.store.put(entity_set, row_id, row)
            if parties is not None:
                self._replace_parties(tdef, row_id, parties, resolve_ref)
        return row

    def update(
        self,
        entity_set: str,
        row_id: str,
        body: dict[str, object],
        resolve_ref: RefResolver | None = None,
    ) -> Row:
        table = self.table(entity_set)
        tdef = table.definition
        existing = table.rows.get(row_id)
        if existing is None:
            raise errors.not_found(tdef.logical, row_id)
        values, parties = self.parse_body(table, body, resolve_ref)
        pk = tdef.primary_key
        if values.get(pk) not in (None, row_id):
            raise errors.bad_request(
                f"The primary key '{pk}' cannot be changed.", errors.VALIDATION
            )
        values.pop(pk, None)
        data_keys = {k for k in values if "@" not in k} - {"statecode", "statuscode"}
        if tdef.readonly_when_closed and existing.get("statecode") in (1, 2) and (
            data_keys or parties is not None
        ):
            # Dataverse's CannotUpdateBecauseItIsReadOnly; reopening (state only) is allowed.
            raise errors.bad_request(
                "The object cannot be updated because it is read-only.", errors.READ_ONLY
            )
        row = merge(existing, values)
        self._apply_state(tdef, row, values, row_id)
        row["modifiedon"] = self.now()
        self.compute(table, row, values)
        with self.store.transaction():
            self.store.put(entity_set, row_id, row)
            if parties is not None:
                self._replace_parties(tdef, row_id, parties, resolve_ref)
        return row

    def delete(self, entity_set: str, row_id: str) -> None:
        table = self.table(entity_set)
        if row_id not in table.rows:
            raise errors.not_found(table.definition.logical, row_id)
        with self.store.transaction():
            self.store.remove(entity_set, row_id)
            if table.definition.activity_type:
                for party_id in self.party_ids(row_id):
                    self.store.remove("activityparties", party_id)

    def party_ids(self, activity_id: str) -> list[str]:
        return self.store.tables["activityparties"].lookup(activity_id)

    def _replace_parties(
        self,
        tdef: TableDef,
        activity_id: str,
        parties: list[dict[str, object]],
        resolve_ref: RefResolver | None,
    ) -> None:
        for party_id in self.party_ids(activity_id):
            self.store.remove("activityparties", party_id)
        party_table = self.store.tables["activityparties"]
        for item in parties:
            values, _ = self.parse_body(party_table, item, resolve_ref)
            party_id = str(uuid.uuid4())
            row: Row = _sparse(values)
            row["activitypartyid"] = party_id
            row["_activityid_value"] = activity_id
            row["_activityid_value" + LOOKUP_NOTE] = tdef.logical
            self.store.put("activityparties", party_id, row)
        if tdef.logical == "email":
            self._email_addresses(activity_id)

    def _email_addresses(self, email_id: str) -> None:
        """`sender`, `torecipients` and `emailsender` follow the From and To parties, as
        Dataverse fills them (they are read-only there)."""
        email = self.store.tables["emails"].rows[email_id]
        parties = [self.store.tables["activityparties"].rows[p] for p in self.party_ids(email_id)]
        senders = [p for p in parties if p.get("participationtypemask") == 1]
        to = [p for p in parties if p.get("participationtypemask") == 2]
        email.pop("sender", None)
        email.pop("torecipients", None)
        for column in ("_emailsender_value", "_emailsender_value" + LOOKUP_NOTE):
            email.pop(column, None)
        if senders:
            address = self._address(senders[0])
            if address:
                email["sender"] = address
            if senders[0].get("_partyid_value"):
                email["_emailsender_value"] = senders[0]["_partyid_value"]
                email["_emailsender_value" + LOOKUP_NOTE] = senders[0].get(
                    "_partyid_value" + LOOKUP_NOTE)
        addresses = [a for a in (self._address(p) for p in to) if a]
        if addresses:
            email["torecipients"] = ";".join(addresses) + ";"

    def _address(self, party: Row) -> str | None:
        if party.get("addressused"):
            return str(party["addressused"])
        logical = party.get("_partyid_value" + LOOKUP_NOTE)
        tdef = BY_LOGICAL.get(str(logical))
        if tdef is None:
            return None
        row = self.store.tables[tdef.entity_set].rows.get(str(party.get("_partyid_value")))
        if row is None:
            return None
        for column in ("emailaddress1", "internalemailaddress", "emailaddress"):
            if row.get(column):
                return str(row[column])
        return None

    # -- direct access (seed files, Python API) ----------------------------------------------

    def insert_raw(self, entity_set: str, row: dict[str, object]) -> str:
        """Insert a row given in Web API shape; unknown columns become custom columns."""
        table = self.table(entity_set)
        tdef = table.definition
        values, parties = self.parse_body(table, row, None, allow_new_columns=True)
        pk = tdef.primary_key
        row_id = parse_guid(values.pop(pk), pk) if values.get(pk) else str(uuid.uuid4())
        if row_id in table.rows:
            raise ApiError(412, errors.DUPLICATE_KEY, "Cannot insert duplicate key.")
        now = self.now()
        new: Row = {"createdon": now, "modifiedon": now}
        new.update(_sparse(values))
        new[pk] = row_id
        self.fill_defaults(table, new)
        if tdef.states:
            self._apply_state(
                tdef, new,
                {"statecode": values.get("statecode", 0 if "statuscode" not in values else None),
                 "statuscode": values.get("statuscode")},
                row_id,
            )
        with self.store.transaction():
            self.store.put(entity_set, row_id, new)
            if parties is not None:
                self._replace_parties(tdef, row_id, parties, None)
        return row_id


def _sparse(values: Row) -> Row:
    """Rows keep only non-null values: a null column is simply absent (saves memory at scale)."""
    return {k: v for k, v in values.items() if v is not None}


def merge(existing: Row, changes: Row) -> Row:
    """A new row with `changes` applied; a null value clears the column."""
    row = dict(existing)
    for key, value in changes.items():
        if value is None:
            row.pop(key, None)
        else:
            row[key] = value
    return row
