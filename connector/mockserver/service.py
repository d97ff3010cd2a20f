"""The data rules of the mock: validation, lookups (`@odata.bind`), state codes, parties."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from . import errors
from .errors import ApiError
from .odata_filter import normalize_date
from .schema import BY_SET, SYSTEM_COLUMNS, TABLES, TableDef
from .store import Row, Store, Table

LOOKUP_NOTE = "@Microsoft.Dynamics.CRM.lookuplogicalname"
DATE_COLUMNS = frozenset(
    {"createdon", "modifiedon", "scheduledstart", "scheduledend", "actualstart", "actualend",
     "estimatedclosedate", "actualclosedate"}
)
MAX_LENGTH = {"subject": 200, "fullname": 160, "name": 300, "emailaddress1": 100}
_BIND = re.compile(
    r"^(?:.*/)?(?P<set>[A-Za-z_]\w*)\((?:\w+=)?'?(?P<id>[0-9a-fA-F-]{36})'?\)$"
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ORG_NAMESPACE = uuid.UUID("6f1b1c33-7e0a-4c57-9a43-0a2b9f0d5e11")

RefResolver = Callable[[str], str | None]


def iso_now(clock: Callable[[], float] = time.time) -> str:
    return datetime.fromtimestamp(clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_guid(value: object, what: str) -> str:
    if not isinstance(value, str) or not _GUID.match(value):
        raise errors.bad_request(f"'{value}' is not a valid GUID for {what}.", errors.VALIDATION)
    return value.lower()


def parse_bind(value: object, resolve_ref: RefResolver | None) -> tuple[str, str]:
    """`/leads(<id>)`, `leads(<id>)`, an absolute URL or a `$n` batch reference."""
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
    return m.group("set"), m.group("id").lower()


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

    def seller_ids(self) -> list[str]:
        return [
            k for k in self.store.tables["systemusers"].rows if k != self.app_user_id
        ]

    # -- value handling ----------------------------------------------------------------------

    def _value(self, tdef: TableDef, column: str, value: object) -> object:
        if value is None:
            return None
        if column in DATE_COLUMNS:
            if not isinstance(value, str):
                raise errors.bad_request(
                    f"Invalid value for '{column}': expected a date.", errors.VALIDATION
                )
            try:
                return normalize_date(value)
            except ValueError:
                raise errors.bad_request(
                    f"Cannot convert the literal '{value}' to the expected type "
                    "'Edm.DateTimeOffset'.",
                    errors.VALIDATION,
                ) from None
        if column.startswith("_") and column.endswith("_value"):
            return parse_guid(value, column)
        limit = MAX_LENGTH.get(column)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            raise errors.bad_request(
                f"A validation error occurred.  The length of the '{column}' attribute of the "
                f"'{tdef.logical}' entity exceeded the maximum allowed length of '{limit}'.",
                errors.VALIDATION,
            )
        if column in ("statecode", "statuscode", "prioritycode") and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            raise errors.bad_request(
                f"Invalid value '{value}' for '{column}': expected an integer.", errors.VALIDATION
            )
        return value

    def _bind(
        self, table: Table, nav: str, value: object, resolve_ref: RefResolver | None
    ) -> tuple[str, str | None, str | None]:
        column = lookup_column(table.columns, nav)
        if column is None:
            raise errors.unknown_property(nav, table.definition.logical)
        if value is None:
            return column, None, None
        target_set, target_id = parse_bind(value, resolve_ref)
        target = self.store.tables.get(target_set)
        if target is None:
            raise errors.bad_request(
                f"Invalid @odata.bind: entity set '{target_set}' does not exist.",
                errors.VALIDATION,
            )
        if target_id not in target.rows:
            raise ApiError(
                400, errors.NOT_FOUND,
                f"{target.definition.logical} With Ids = {target_id} Do Not Exist",
            )
        return column, target_id, target.definition.logical

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
                table.columns.append(key)
            if key in SYSTEM_COLUMNS and not allow_new_columns:
                continue  # Dataverse ignores writes to system columns
            values[key] = self._value(tdef, key, value)
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
        if "_ownerid_value" in table.columns and row.get("_ownerid_value") is None:
            row["_ownerid_value"] = self.app_user_id
            row["_ownerid_value" + LOOKUP_NOTE] = "systemuser"
        if tdef.activity_type:
            row["activitytypecode"] = tdef.activity_type
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
            raise errors.bad_request(
                f"This {tdef.logical} is completed or canceled and is read-only; only "
                "statecode and statuscode can change.",
                errors.VALIDATION,
            )
        row = merge(existing, values)
        self._apply_state(tdef, row, values, row_id)
        row["modifiedon"] = self.now()
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
        if "_ownerid_value" in table.columns and new.get("_ownerid_value") is None:
            new["_ownerid_value"] = self.app_user_id
        if new.get("_ownerid_value") is not None:
            # Owned by a team when the row says so (`ownerid@odata.bind: /teams(...)`).
            new.setdefault("_ownerid_value" + LOOKUP_NOTE, "systemuser")
        if tdef.activity_type:
            new["activitytypecode"] = tdef.activity_type
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

    def load_seed(self, seed: dict[str, object]) -> dict[str, int]:
        counts: dict[str, int] = {}
        # Users and customers first so that lookups in later tables resolve.
        order = sorted(seed, key=lambda s: list(BY_SET).index(s) if s in BY_SET else 99)
        with self.store.transaction():
            for entity_set in order:
                rows = seed[entity_set]
                if entity_set not in BY_SET:
                    raise errors.bad_request(f"Seed: unknown entity set '{entity_set}'.")
                if not isinstance(rows, list):
                    raise errors.bad_request(f"Seed: '{entity_set}' must be a list of rows.")
                for row in rows:
                    if not isinstance(row, dict):
                        raise errors.bad_request(f"Seed: a row in '{entity_set}' is not an object.")
                    self.insert_raw(entity_set, row)
                counts[entity_set] = len(rows)
        return counts


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
