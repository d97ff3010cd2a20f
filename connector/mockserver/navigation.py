"""Navigation properties: the names `$expand`, `@odata.bind` and `{set}(id)/nav` accept, and the
relationships behind them (also listed by the metadata)."""

from __future__ import annotations

from dataclasses import dataclass

from .schema import ACTIVITY_SETS, BY_LOGICAL, POINTER_DEF, POINTER_SET, TABLES, Attr, TableDef

# Names Dataverse gives the "activities regarding a record" collections: Lead_Tasks, ...
_ACTIVITY_NAV = {"tasks": "Tasks", "emails": "Emails", "phonecalls": "Phonecalls",
                 "appointments": "Appointments", "opportunitycloses": "OpportunityCloses",
                 POINTER_SET: "ActivityPointers"}


@dataclass(frozen=True)
class Nav:
    name: str
    collection: bool
    # Single-valued: the lookup column on the parent, and its target tables.
    # Collection: the target set and the column there that points back at the parent.
    column: str
    target_set: str | None
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Relationship:
    """One 1:N relationship: `referencing` rows point at `referenced` rows through `attribute`."""

    schema_name: str
    referenced: TableDef
    referencing: TableDef
    attribute: Attr
    referencing_nav: str  # single-valued name on the referencing table
    referenced_nav: str   # collection name on the referenced table


def referencing_nav(source: TableDef, attr: Attr, target: str) -> str:
    if attr.logical == "regardingobjectid":
        return f"regardingobjectid_{target}_{source.logical}"
    if len(attr.targets) > 1 and attr.kind != "Owner":
        return f"{attr.logical}_{target}"
    return attr.logical


def _referenced_nav(source: TableDef, attr: Attr, target: str) -> str:
    if attr.logical == "regardingobjectid":
        return f"{target.capitalize()}_{_ACTIVITY_NAV.get(source.entity_set, source.entity_set)}"
    if source.logical == "activityparty" and attr.logical == "partyid":
        return f"{target}_activity_parties"
    if source.logical == "activityparty" and attr.logical == "activityid":
        return f"{target}_activity_parties"
    return f"{target}_{attr.logical}_{source.logical}"


def relationships() -> list[Relationship]:
    out = []
    for source in TABLES:
        for attr in source.attributes:
            if not attr.is_lookup:
                continue
            for target in attr.targets:
                referenced = BY_LOGICAL.get(target)
                if referenced is None:
                    continue
                nav = _referenced_nav(source, attr, target)
                out.append(Relationship(nav, referenced, source, attr,
                                        referencing_nav(source, attr, target), nav))
    return out


RELATIONSHIPS = relationships()


def find(definition: TableDef, name: str) -> Nav | None:
    """The navigation property `name` on a table (case-sensitive, as in Dataverse)."""
    attrs = definition.attributes
    for attr in attrs:
        if not attr.is_lookup:
            continue
        if name == attr.logical:
            return Nav(name, False, attr.column, None, attr.targets)
        for target in attr.targets:
            if name in (f"{attr.logical}_{target}", referencing_nav(definition, attr, target)):
                tdef = BY_LOGICAL.get(target)
                return Nav(name, False, attr.column, tdef.entity_set if tdef else None, (target,))
    if definition.activity_type and name == f"{definition.logical}_activity_parties":
        return Nav(name, True, "_activityid_value", "activityparties")
    logical = definition.logical
    if definition is not POINTER_DEF:
        for entity_set, suffix in _ACTIVITY_NAV.items():
            if name == f"{logical.capitalize()}_{suffix}" and (
                entity_set == POINTER_SET or entity_set in ACTIVITY_SETS
            ):
                return Nav(name, True, "_regardingobjectid_value", entity_set)
        for rel in RELATIONSHIPS:
            if rel.referenced is definition and rel.referenced_nav == name:
                return Nav(name, True, rel.attribute.column, rel.referencing.entity_set)
    return None
