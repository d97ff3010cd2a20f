"""Records as JSON: selected columns, annotations (`Prefer: odata.include-annotations`) and
`$expand` of single-valued and collection navigation properties with nested options."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import errors, navigation
from .errors import bad_request
from .odata_filter import Predicate, compile_filter
from .schema import ACTIVITY_SETS, BY_LOGICAL, BY_SET, POINTER_DEF, POINTER_SET, Attr, TableDef
from .service import LOOKUP_NOTE, Dataverse
from .store import Row
from .values import formatted

FORMATTED = "@OData.Community.Display.V1.FormattedValue"
NAV_NOTE = "@Microsoft.Dynamics.CRM.associatednavigationproperty"
MAX_EXPANDS = 15
EXPAND_ROWS = 5000


def wants(prefer_value: str | None, name: str) -> bool:
    """Does `Prefer: odata.include-annotations="..."` ask for annotation `name`?"""
    if not prefer_value:
        return False
    for item in prefer_value.split(","):
        w = item.strip().strip('"')
        if w == "*" or w == name or (w.endswith("*") and name.startswith(w[:-1])):
            return True
    return False


def columns_of(dv: Dataverse, definition: TableDef) -> list[str]:
    if definition is POINTER_DEF:
        return list(POINTER_DEF.columns)
    return dv.store.tables[definition.entity_set].columns


def attrs_of(dv: Dataverse, definition: TableDef) -> dict[str, Attr]:
    if definition is POINTER_DEF:
        return {a.column: a for a in POINTER_DEF.attributes}
    return dv.store.tables[definition.entity_set].attrs


def parse_select(text: str | None, columns: list[str], logical: str) -> list[str] | None:
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in columns:
            raise bad_request(
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.Dynamics.CRM.{logical}'."
            )
    return names


@dataclass
class Expand:
    nav: navigation.Nav
    select: list[str] | None = None
    where: Predicate | None = None
    order: list[tuple[str, bool]] = field(default_factory=list)
    top: int | None = None
    children: list[Expand] = field(default_factory=list)
    ref: bool = False
    options_text: str = ""


def split_top(text: str, sep: str) -> list[str]:
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == sep:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _target_def(nav: navigation.Nav) -> TableDef | None:
    if nav.target_set == POINTER_SET:
        return POINTER_DEF
    if nav.target_set is not None:
        return BY_SET[nav.target_set]
    if len(nav.targets) == 1:
        return BY_LOGICAL.get(nav.targets[0])
    return None


def parse_expand(
    dv: Dataverse, text: str | None, definition: TableDef, depth: int = 0
) -> list[Expand]:
    """`nav($select=a;$filter=...;$orderby=x desc;$top=5;$expand=nav2(...)),nav3/$ref`."""
    if not text:
        return []
    items = split_top(text, ",")
    if len(items) > MAX_EXPANDS:
        raise bad_request(f"The number of $expand options exceeds the limit of {MAX_EXPANDS}.")
    out = []
    for item in items:
        name, _, rest = item.partition("(")
        name = name.strip()
        ref = name.endswith("/$ref")
        name = name.removesuffix("/$ref")
        nav = navigation.find(definition, name)
        if nav is None:
            raise bad_request(
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.Dynamics.CRM.{definition.logical}'."
            )
        if ref and nav.collection:
            raise bad_request(
                "Expand with $ref is only supported on lookup type navigation property.")
        exp = Expand(nav, ref=ref)
        target = _target_def(nav)
        if rest:
            if not rest.endswith(")"):
                raise bad_request(f"Invalid $expand '{item}'.")
            exp.options_text = rest[:-1]
            _options(dv, exp, rest[:-1], target, depth)
        out.append(exp)
    nested = any(e.children for e in out)
    for exp in out:
        if (not exp.nav.collection or nested or depth > 0) and (exp.order or exp.top is not None):
            raise bad_request(
                "Only $select and $filter clause can be provided while doing $expand on "
                "many-to-one relationship or nested one-to-many relationship."
            )
    return out


def _options(dv: Dataverse, exp: Expand, text: str, target: TableDef | None, depth: int) -> None:
    for opt in split_top(text, ";"):
        key, _, value = opt.partition("=")
        key = key.strip()
        if key not in ("$select", "$filter", "$orderby", "$top", "$expand"):
            raise bad_request(f"The query option '{key}' is not supported inside $expand.")
        # A polymorphic navigation (ownerid) accepts the columns of any of its targets.
        defs = [target] if target is not None else [
            BY_LOGICAL[t] for t in exp.nav.targets if t in BY_LOGICAL]
        columns = list(dict.fromkeys(c for d in defs for c in columns_of(dv, d)))
        logical = target.logical if target is not None else "principal"
        if key == "$select":
            exp.select = parse_select(value, columns, logical)
        elif key == "$filter":
            exp.where = compile_filter(value, columns, logical)
        elif key == "$orderby":
            for part in value.split(","):
                bits = part.split()
                if not bits or bits[0] not in columns:
                    raise bad_request(f"Invalid $orderby '{value}' inside $expand.")
                exp.order.append((bits[0], len(bits) > 1 and bits[1] == "desc"))
        elif key == "$top":
            try:
                exp.top = int(value)
            except ValueError:
                raise bad_request(f"Invalid value '{value}' for $top.") from None
        elif target is None:
            raise errors.not_implemented(f"$expand nested inside the polymorphic '{exp.nav.name}'")
        else:
            exp.children = parse_expand(dv, value, target, depth + 1)


def _find_row(dv: Dataverse, logical: str | None, row_id: str) -> tuple[TableDef, Row] | None:
    candidates = [BY_LOGICAL[logical]] if logical in BY_LOGICAL else list(BY_SET.values())
    for tdef in candidates:
        row = dv.store.tables[tdef.entity_set].rows.get(row_id)
        if row is not None:
            return tdef, row
    return None


def _collection_rows(dv: Dataverse, nav: navigation.Nav, key: str) -> list[tuple[TableDef, Row]]:
    assert nav.target_set is not None
    if nav.target_set == "activityparties" and nav.column == "_activityid_value":
        table = dv.store.tables["activityparties"]
        return [(table.definition, table.rows[p]) for p in dv.party_ids(key)]
    sets = ACTIVITY_SETS if nav.target_set == POINTER_SET else (nav.target_set,)
    out = []
    for entity_set in sets:
        table = dv.store.tables[entity_set]
        definition = POINTER_DEF if nav.target_set == POINTER_SET else table.definition
        out += [(definition, r) for r in table.rows.values() if r.get(nav.column) == key]
    out.sort(key=lambda pair: str(pair[1].get(pair[0].primary_key)))
    return out


def represent(
    dv: Dataverse,
    definition: TableDef,
    row: Row,
    select: list[str] | None,
    *,
    annotations: str | bool | None = None,
    expand: list[Expand] | None = None,
    columns: list[str] | None = None,
    api_url: str = "",
) -> dict[str, object]:
    out: dict[str, object] = {"@odata.etag": f'W/"{row["versionnumber"]}"'}
    names = select if select is not None else (columns or columns_of(dv, definition))
    note_filter = "*" if annotations is True else (annotations or None)
    attrs = attrs_of(dv, definition) if note_filter else {}
    for name in names:
        value = row.get(name)
        out[name] = value
        if note_filter and value is not None:
            annotate(dv, out, name, name, value, row, attrs.get(name), note_filter)
    out[definition.primary_key] = row.get(definition.primary_key)
    for exp in expand or ():
        out[exp.nav.name] = _expanded(dv, definition, row, exp, note_filter, api_url)
        if exp.nav.collection:
            query = f"?{exp.options_text.replace(';', '&')}" if exp.options_text else ""
            out[f"{exp.nav.name}@odata.nextLink"] = (
                f"{api_url}/{definition.entity_set}({row.get(definition.primary_key)})/"
                f"{exp.nav.name}{query}"
            )
    return out


def annotate(
    dv: Dataverse, out: dict[str, object], name: str, column: str, value: object, row: Row,
    attr: Attr | None, note_filter: str,
) -> None:
    """Add the annotations `note_filter` asks for to property `name` (stored as `column`)."""
    if attr is not None and attr.is_lookup:
        target = row.get(column + LOOKUP_NOTE) or dv.target_of(attr.targets, str(value))
        if wants(note_filter, FORMATTED[1:]) and target:
            label = dv.primary_name(str(target), str(value))
            if label is not None:
                out[name + FORMATTED] = label
        if wants(note_filter, NAV_NOTE[1:]):
            out[name + NAV_NOTE] = attr.logical
        if wants(note_filter, LOOKUP_NOTE[1:]) and target:
            out[name + LOOKUP_NOTE] = target
        return
    if column.endswith("_value") and wants(note_filter, LOOKUP_NOTE[1:]):
        note = row.get(column + LOOKUP_NOTE)
        if note:
            out[name + LOOKUP_NOTE] = note
        return
    if attr is not None and wants(note_filter, FORMATTED[1:]):
        text = formatted(attr, value)
        if text is not None:
            out[name + FORMATTED] = text


def _expanded(
    dv: Dataverse, definition: TableDef, row: Row, exp: Expand, note_filter: str | None,
    api_url: str,
) -> object:
    nav = exp.nav
    if not nav.collection:
        value = row.get(nav.column)
        if value is None:
            return None
        logical = row.get(nav.column + LOOKUP_NOTE) or (nav.targets[0] if nav.targets else None)
        if len(nav.targets) == 1 and logical != nav.targets[0]:
            return None  # a typed navigation whose target is another table is null
        found = _find_row(dv, str(logical) if logical else None, str(value))
        if found is None:
            return None
        tdef, target_row = found
        if exp.ref:
            return {"@odata.id": f"{api_url}/{tdef.entity_set}({value})"}
        if exp.where is not None and not exp.where(target_row):
            return None
        return represent(dv, tdef, target_row, exp.select, annotations=note_filter,
                         expand=exp.children, api_url=api_url)
    key = str(row.get(definition.primary_key))
    pairs = [(t, r) for t, r in _collection_rows(dv, nav, key)
             if exp.where is None or exp.where(r)]
    for column, desc in reversed(exp.order):
        pairs.sort(key=lambda p, c=column: (p[1].get(c) is not None, _low(p[1].get(c))),
                   reverse=desc)
    limit = EXPAND_ROWS if exp.top is None else min(exp.top, EXPAND_ROWS)
    return [represent(dv, t, r, exp.select, annotations=note_filter, expand=exp.children,
                      api_url=api_url, columns=columns_of(dv, t))
            for t, r in pairs[:limit]]


def _low(value: object) -> object:
    return value.lower() if isinstance(value, str) else value

