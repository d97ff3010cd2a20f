"""What FetchXML, `?sql=` and `$apply` share: a query plan (columns, conditions, one level of
joins, order, grouping) and its execution over the in-memory tables."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import errors
from .errors import ApiError
from .expand import annotate
from .odata_filter import compare, normalize_date, query_function
from .schema import BY_LOGICAL, Attr
from .service import Dataverse, lookup_column
from .sortkey import SortKey
from .store import Row, Table

# The rows one result line is made of: None -> the base row, alias -> a linked row (or None).
Context = dict[str | None, Row | None]
Getter = Callable[[Context], object]
Predicate = Callable[[Context], bool]


def table_of(dv: Dataverse, logical: str, code: str = errors.FETCH_NO_ENTITY) -> Table:
    tdef = BY_LOGICAL.get(logical.lower())
    if tdef is None:
        raise errors.bad_request(f"The entity with a name = '{logical}' was not found.", code)
    return dv.store.tables[tdef.entity_set]


def column_of(table: Table, name: str) -> str:
    """Logical attribute name (`regardingobjectid`) or Web API property -> stored column."""
    if name in table.attrs:
        return name
    found = lookup_column(table.columns, name)
    if found is not None and found == f"_{name}_value":
        return found
    raise errors.bad_request(
        f"'{table.definition.logical}' entity doesn't contain attribute with Name = '{name}'.",
        errors.FETCH_NO_ATTRIBUTE,
    )


def coerce(attr: Attr | None, text: object) -> object:
    """A literal (FetchXML text, SQL token) as the column's stored value type."""
    if text is None or attr is None or not isinstance(text, str):
        return text
    kind = attr.kind
    try:
        if kind in ("Integer", "BigInt", "Picklist", "State", "Status"):
            return int(text)
        if kind in ("Decimal", "Money", "Double"):
            return float(text)
        if kind == "Boolean":
            return text.strip().lower() in ("1", "true")
        if kind == "DateTime":
            return normalize_date(text.strip())
        if kind == "Uniqueidentifier" or attr.is_lookup:
            return text.strip().strip("{}").lower()
    except ValueError:
        raise errors.bad_request(
            f"The value '{text}' is not valid for attribute '{attr.logical}' of type {kind}.",
            errors.INVALID_ARGUMENT,
        ) from None
    return text


def _norm(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _like(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "[" and "]" in pattern[i:]:
            end = pattern.index("]", i)
            out.append("[" + re.escape(pattern[i + 1 : end]).replace("\\-", "-") + "]")
            i = end + 1
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)


CONDITION_OPERATORS = frozenset({
    "eq", "ne", "neq", "gt", "ge", "lt", "le", "like", "not-like", "begins-with",
    "not-begin-with", "ends-with", "not-end-with", "in", "not-in", "between", "not-between",
    "null", "not-null", "eq-userid", "ne-userid", "on-or-after", "on-or-before",
})
# FetchXML date operators and the Web API query function that does the same.
DATE_OPERATORS = {"today": "Today", "yesterday": "Yesterday", "tomorrow": "Tomorrow",
                  "on": "On", "last-x-days": "LastXDays", "next-x-days": "NextXDays",
                  "last-x-hours": "LastXHours", "next-x-hours": "NextXHours"}


def condition(
    op: str, getter: Getter, values: list[object], user_id: str, now: str = ""
) -> Predicate:
    """One comparison; strings compare without case, as in Dataverse."""
    if op in DATE_OPERATORS:
        value: object = values[0] if values else None
        if op.endswith(("-days", "-hours")):
            try:
                value = int(str(value))
            except ValueError:
                raise errors.bad_request(f"The '{op}' operator needs a whole number, not "
                                         f"'{value}'.", errors.FETCH_BAD_OPERATOR) from None
        return query_function(DATE_OPERATORS[op], getter, {"PropertyValue": value}, user_id,
                              now or normalize_date(datetime.now(UTC).isoformat()))
    vals = [_norm(v) for v in values]
    first = vals[0] if vals else None
    if op in ("eq", "ne", "neq"):
        want = op == "eq"
        return lambda c: (_norm(getter(c)) == first) == want
    if op in ("gt", "ge", "lt", "le"):
        return lambda c: compare(op, _norm(getter(c)), first)
    if op in ("on-or-after", "on-or-before"):
        day = str(first)[:10]
        after = op == "on-or-after"
        return lambda c: (v := getter(c)) is not None and (
            str(v)[:10] >= day if after else str(v)[:10] <= day
        )
    if op in ("like", "not-like", "begins-with", "not-begin-with", "ends-with", "not-end-with"):
        text = str(values[0]) if values else ""
        pattern = _like(
            text if op in ("like", "not-like") else
            text + "%" if "begin" in op else "%" + text
        )
        want = not op.startswith("not")
        return lambda c: isinstance(v := getter(c), str) and bool(pattern.match(v)) == want
    if op in ("in", "not-in"):
        wanted = set(vals)
        want = op == "in"
        return lambda c: (v := getter(c)) is not None and (_norm(v) in wanted) == want
    if op in ("between", "not-between"):
        if len(vals) != 2:
            raise errors.bad_request(f"The '{op}' operator needs two values.",
                                     errors.FETCH_BAD_OPERATOR)
        low, high = vals
        want = op == "between"
        return lambda c: (v := _norm(getter(c))) is not None and (
            compare("ge", v, low) and compare("le", v, high)
        ) == want
    if op == "null":
        return lambda c: getter(c) is None
    if op == "not-null":
        return lambda c: getter(c) is not None
    if op in ("eq-userid", "ne-userid"):
        want = op == "eq-userid"
        return lambda c: (getter(c) == user_id) == want
    raise errors.not_implemented(f"the condition operator '{op}'")


@dataclass
class Link:
    """One joined table: rows of `table` whose `from_col` equals the parent's `to_col`."""

    table: Table
    from_col: str
    to_col: str
    alias: str
    outer: bool = False
    predicate: Predicate | None = None  # filters on the linked rows themselves


@dataclass
class Output:
    """One output property: its JSON name, the alias it reads from (None = base) and column."""

    name: str
    alias: str | None
    column: str
    annotate_as: str | None = None  # adds `<name>@OData.Community.Display.V1.AttributeName`


@dataclass
class Aggregate:
    name: str
    func: str  # count, countcolumn, sum, avg, min, max
    alias: str | None
    column: str | None
    distinct: bool = False


@dataclass
class Plan:
    base: Table
    outputs: list[Output] | None = None  # None: every column of the base table
    where: Predicate | None = None
    links: list[Link] = field(default_factory=list)
    order: list[tuple[Getter, bool]] = field(default_factory=list)
    group_by: list[Output] = field(default_factory=list)
    aggregates: list[Aggregate] = field(default_factory=list)
    distinct: bool = False

    def getter(self, alias: str | None, column: str) -> Getter:
        return lambda c: (row.get(column) if (row := c.get(alias)) is not None else None)


def contexts(dv: Dataverse, plan: Plan) -> Iterator[Context]:
    """Base rows in key order, joined with each link (inner: drop rows without a match)."""
    indexes = []
    for link in plan.links:
        index: dict[object, list[Row]] = {}
        for row in link.table.rows.values():
            if link.predicate is None or link.predicate({None: row, link.alias: row}):
                index.setdefault(_norm(row.get(link.from_col)), []).append(row)
        indexes.append(index)
    for row in dv.store.tables[plan.base.definition.entity_set].iter_from(None):
        combos: list[Context] = [{None: row}]
        for link, index in zip(plan.links, indexes, strict=True):
            nxt: list[Context] = []
            for ctx in combos:
                matches = index.get(_norm(row.get(link.to_col)), [])
                if not matches and link.outer:
                    nxt.append({**ctx, link.alias: None})
                nxt.extend({**ctx, link.alias: m} for m in matches)
            combos = nxt
        for ctx in combos:
            if plan.where is None or plan.where(ctx):
                yield ctx


def sort(items: list[Context], order: list[tuple[Getter, bool]], pk: str) -> list[Context]:
    desc = (*tuple(d for _, d in order), False)
    return sorted(items, key=lambda c: SortKey(
        (*tuple(_norm(g(c)) for g, _ in order), c[None][pk]),  # type: ignore[index]
        desc,
    ))


def project(
    dv: Dataverse, plan: Plan, ctx: Context, *, annotations: str | None
) -> dict[str, object]:
    """One result row: selected columns (null ones left out, as Dataverse does) and the key."""
    base = ctx[None]
    assert base is not None
    tdef = plan.base.definition
    tables = {None: plan.base, **{link.alias: link.table for link in plan.links}}
    out: dict[str, object] = {"@odata.etag": f'W/"{base["versionnumber"]}"'}
    outputs = plan.outputs if plan.outputs is not None else [
        Output(c, None, c) for c in plan.base.columns
    ]
    for item in outputs:
        row = ctx.get(item.alias)
        value = None if row is None else row.get(item.column)
        if value is None or row is None:
            continue
        out[item.name] = value
        if item.annotate_as:
            out[f"{item.name}@OData.Community.Display.V1.AttributeName"] = item.annotate_as
        if annotations:
            annotate(dv, out, item.name, item.column, value, row,
                     tables[item.alias].attrs.get(item.column), annotations)
    out[tdef.primary_key] = base[tdef.primary_key]
    return out


AGGREGATE_ROW_LIMIT = 50000


def aggregate(plan: Plan, items: Iterator[Context]) -> list[dict[str, object]]:
    """Group `items` and compute each aggregate; groups come out in group-value order."""
    groups: dict[tuple[object, ...], list[Context]] = {}
    getters = [plan.getter(g.alias, g.column) for g in plan.group_by]
    for count, ctx in enumerate(items, 1):
        if count > AGGREGATE_ROW_LIMIT:
            raise ApiError(400, errors.AGGREGATE_LIMIT,
                           "AggregateQueryRecordLimit exceeded. Cannot perform this operation.")
        groups.setdefault(tuple(g(ctx) for g in getters), []).append(ctx)
    if not groups and not plan.group_by:
        groups[()] = []
    out = []
    for key in sorted(groups, key=lambda k: SortKey(tuple(_norm(v) for v in k), (False,) * len(k))):
        members = groups[key]
        row: dict[str, object] = {g.name: v for g, v in zip(plan.group_by, key, strict=True)}
        for agg in plan.aggregates:
            if agg.func == "count":
                row[agg.name] = len(members)
                continue
            assert agg.column is not None
            get = plan.getter(agg.alias, agg.column)
            values = [v for c in members if (v := get(c)) is not None]
            if agg.distinct:
                values = list(dict.fromkeys(values))
            if agg.func == "countcolumn":
                row[agg.name] = len(values)
            elif not values:
                row[agg.name] = None
            elif agg.func == "sum":
                row[agg.name] = sum(values)  # type: ignore[arg-type]
            elif agg.func == "avg":
                row[agg.name] = sum(values) / len(values)  # type: ignore[arg-type]
            elif agg.func == "min":
                row[agg.name] = min(values)  # type: ignore[type-var]
            elif agg.func == "max":
                row[agg.name] = max(values)  # type: ignore[type-var]
            else:
                raise errors.not_implemented(f"the aggregate function '{agg.func}'")
        out.append(row)
    return out


def distinct(items: list[Context], outputs: list[Output]) -> list[Context]:
    """Drop result lines whose output values repeat an earlier line's."""
    seen: set[tuple[object, ...]] = set()
    unique = []
    for ctx in items:
        key = tuple((row.get(o.column) if (row := ctx.get(o.alias)) else None) for o in outputs)
        if key not in seen:
            seen.add(key)
            unique.append(ctx)
    return unique


def order_groups(rows: list[dict[str, object]], keys: list[tuple[str, bool]]) -> None:
    """Sort aggregate rows in place by output names, the first key most significant."""
    for name, desc in reversed(keys):
        rows.sort(key=lambda r, k=name: (r.get(k) is not None, _norm(r.get(k))), reverse=desc)
