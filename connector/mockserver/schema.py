"""The tables the mock serves, read from `data/schema.json`: typed columns, keys and states."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources

# Dataverse AttributeType -> the Edm type a client sees in $metadata.
EDM_TYPES = {
    "Uniqueidentifier": "Edm.Guid", "String": "Edm.String", "Memo": "Edm.String",
    "Integer": "Edm.Int32", "BigInt": "Edm.Int64", "Decimal": "Edm.Decimal",
    "Money": "Edm.Decimal", "Double": "Edm.Double", "Boolean": "Edm.Boolean",
    "DateTime": "Edm.DateTimeOffset", "Picklist": "Edm.Int32", "State": "Edm.Int32",
    "Status": "Edm.Int32", "Lookup": "Edm.Guid", "Owner": "Edm.Guid", "Customer": "Edm.Guid",
    "EntityName": "Edm.String", "File": "Edm.Guid",
}
LOOKUP_KINDS = frozenset({"Lookup", "Owner", "Customer"})


@dataclass(frozen=True)
class Attr:
    """One column. `column` is the Web API property (`_regardingobjectid_value` for lookups)."""

    logical: str
    kind: str
    column: str
    max_length: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    options: dict[int, str] = field(default_factory=dict)
    labels: tuple[str, str] | None = None  # (false label, true label)
    targets: tuple[str, ...] = ()
    readonly: bool = False
    computed: bool = False
    custom: bool = False
    default: object = None

    @property
    def is_lookup(self) -> bool:
        return self.kind in LOOKUP_KINDS


def make_attr(logical: str, spec: str | dict[str, object], *, custom: bool = False) -> Attr:
    """An Attr from a schema entry: `"Money"` or `{"type": "String", "max": 100, ...}`."""
    data: dict[str, object] = {"type": spec} if isinstance(spec, str) else dict(spec)
    kind = str(data.get("type", ""))
    if kind not in EDM_TYPES:
        raise ValueError(
            f"column '{logical}': unknown type '{kind}' (use one of {', '.join(EDM_TYPES)})"
        )
    column = f"_{logical}_value" if kind in LOOKUP_KINDS else logical
    options = data.get("options") or {}
    labels = data.get("labels")
    targets = data.get("targets") or ()
    if kind in ("String", "Memo") and "max" not in data:
        data["max"] = 100 if kind == "String" else 2000
    return Attr(
        logical=logical, kind=kind, column=column,
        max_length=int(data["max"]) if "max" in data and kind in ("String", "Memo") else None,  # type: ignore[arg-type]
        min_value=data.get("min"),  # type: ignore[arg-type]
        max_value=data.get("max") if kind not in ("String", "Memo") else None,  # type: ignore[arg-type]
        options={int(k): str(v) for k, v in options.items()},  # type: ignore[union-attr]
        labels=(str(labels[0]), str(labels[1])) if labels else None,  # type: ignore[index]
        targets=tuple(targets),  # type: ignore[arg-type]
        readonly=bool(data.get("readonly")), computed=bool(data.get("computed")),
        custom=custom, default=data.get("default"),
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
    attributes: tuple[Attr, ...] = ()
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    state_labels: dict[int, str] = field(default_factory=dict)
    status_labels: dict[int, str] = field(default_factory=dict)

    def attr(self, column: str) -> Attr | None:
        """The attribute behind a Web API property or a logical name."""
        for a in self.attributes:
            if a.column == column or a.logical == column:
                return a
        return None


def _table(logical: str, entry: dict, raw: dict) -> TableDef:
    specs: dict[str, object] = {}
    parents = entry.get("extends", ())
    for parent in parents:
        if parent != "_common":
            specs.update(raw[parent]["columns"])
    specs.update(entry["columns"])
    if "_common" in parents:  # state, owner and stamps come last, as the mock always listed them
        specs.update({k: v for k, v in raw["_common"]["columns"].items() if k not in specs})
    # The primary key comes first, as in Dataverse's own attribute lists.
    ordered = [entry["key"], *[k for k in specs if k != entry["key"]]]
    attributes = tuple(make_attr(name, specs[name]) for name in ordered)
    states: dict[int, tuple[int, tuple[int, ...]]] = {}
    state_labels: dict[int, str] = {}
    status_labels: dict[int, str] = {}
    for code, state in entry.get("states", {}).items():
        statuses = {int(k): v for k, v in state["statuses"].items()}
        states[int(code)] = (int(state["default"]), tuple(statuses))
        state_labels[int(code)] = state["label"]
        status_labels.update(statuses)
    if states:
        attributes = tuple(
            Attr(a.logical, a.kind, a.column, options=state_labels, readonly=a.readonly)
            if a.kind == "State" else
            Attr(a.logical, a.kind, a.column, options=status_labels, readonly=a.readonly)
            if a.kind == "Status" else a
            for a in attributes
        )
    activity = bool(entry.get("activity"))
    return TableDef(
        logical=logical, entity_set=entry["set"], primary_key=entry["key"],
        columns=tuple(a.column for a in attributes), primary_name=entry.get("name"),
        states=states, readonly_when_closed=activity or bool(entry.get("readonly_when_closed")),
        activity_type=logical if activity else None, object_type_code=int(entry["otc"]),
        attributes=attributes,
        keys={name: tuple(cols) for name, cols in entry.get("keys", {}).items()},
        state_labels=state_labels, status_labels=status_labels,
    )


def load_tables() -> tuple[TableDef, ...]:
    raw = json.loads(resources.files(__package__).joinpath("data/schema.json").read_text("utf-8"))
    return tuple(_table(name, entry, raw) for name, entry in raw.items()
                 if not name.startswith("_"))


TABLES: tuple[TableDef, ...] = load_tables()
BY_SET = {t.entity_set: t for t in TABLES}
BY_LOGICAL = {t.logical: t for t in TABLES}
ACTIVITY_SETS = tuple(t.entity_set for t in TABLES if t.activity_type)
POINTER_SET = "activitypointers"
POINTER_COLUMNS = tuple(
    a.column for a in BY_LOGICAL["task"].attributes if a.logical != "percentcomplete"
)
POINTER_DEF = TableDef(
    "activitypointer", POINTER_SET, "activityid", POINTER_COLUMNS, primary_name="subject",
    object_type_code=4200,
    attributes=tuple(a for a in BY_LOGICAL["task"].attributes if a.column in POINTER_COLUMNS),
)
PARTY_NAV = {f"{t.logical}_activity_parties": t.entity_set for t in TABLES if t.activity_type}
BULK_SETS = frozenset({"leads", "opportunities", "contacts", "accounts", *ACTIVITY_SETS})
# Columns the service owns: a client may not write them.
SYSTEM_COLUMNS = frozenset({"createdon", "modifiedon", "versionnumber", "activitytypecode"})
