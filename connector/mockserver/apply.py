"""`$apply`: `filter(...)`, `groupby((cols),aggregate(...))` and `aggregate(...)` steps chained
by `/`, with `$count`, sum, average, min, max and countdistinct."""

from __future__ import annotations

import re

from . import errors
from .expand import split_top
from .odata_filter import compile_filter
from .plan import Aggregate, Output, Plan, Predicate, aggregate, contexts
from .service import Dataverse
from .store import Table

_FUNCS = {"sum": "sum", "average": "avg", "min": "min", "max": "max",
          "countdistinct": "countcolumn"}
_ITEM = re.compile(r"^\s*(?:(?P<count>\$count)|(?P<col>[\w]+)\s+with\s+(?P<func>\w+))"
                   r"\s+as\s+(?P<alias>\w+)\s*$")


def _call(step: str) -> tuple[str, str]:
    m = re.match(r"^(\w+)\((.*)\)$", step, re.DOTALL)
    if m is None:
        raise errors.bad_request(f"Invalid $apply step '{step}'.")
    return m.group(1), m.group(2)


def _aggregates(table: Table, text: str) -> list[Aggregate]:
    out = []
    for item in split_top(text, ","):
        m = _ITEM.match(item)
        if m is None:
            raise errors.bad_request(f"Invalid aggregate expression '{item}' in $apply.")
        if m.group("count"):
            out.append(Aggregate(m.group("alias"), "count", None, None))
            continue
        func = _FUNCS.get(m.group("func").lower())
        if func is None:
            raise errors.not_implemented(f"the $apply aggregation method '{m.group('func')}'")
        column = m.group("col")
        if column not in table.attrs:
            raise errors.unknown_property(column, table.definition.logical)
        out.append(Aggregate(m.group("alias"), func, None, column, func == "countcolumn"))
    return out


def run(dv: Dataverse, api_url: str, entity_set: str, text: str) -> dict[str, object]:
    table = dv.store.tables[entity_set]
    plan = Plan(table)
    filters: list[Predicate] = []
    grouped = False
    for step in split_top(text, "/"):
        name, body = _call(step)
        if grouped:
            raise errors.not_implemented(f"$apply steps after groupby/aggregate ('{name}')")
        if name == "filter":
            pred = compile_filter(body, table.columns, table.definition.logical)
            filters.append(lambda c, p=pred: p(c[None]))  # type: ignore[misc]
        elif name == "groupby":
            parts = split_top(body, ",")
            cols = parts[0].strip()
            if not (cols.startswith("(") and cols.endswith(")")):
                raise errors.bad_request(f"Invalid groupby '{body}' in $apply.")
            for column in split_top(cols[1:-1], ","):
                if "/" in column:
                    raise errors.not_implemented(
                        "$apply groupby on a related table's column")
                if column not in table.attrs:
                    raise errors.unknown_property(column, table.definition.logical)
                if table.attrs[column].kind == "DateTime":
                    raise errors.bad_request(
                        "Grouping by a date and time column is not supported by $apply; "
                        "use FetchXML dategrouping.")
                plan.group_by.append(Output(column, None, column))
            for extra in parts[1:]:
                inner_name, inner = _call(extra)
                if inner_name != "aggregate":
                    raise errors.not_implemented(f"'{inner_name}' inside $apply groupby")
                plan.aggregates.extend(_aggregates(table, inner))
            grouped = True
        elif name == "aggregate":
            plan.aggregates.extend(_aggregates(table, body))
            grouped = True
        else:
            raise errors.not_implemented(f"the $apply transformation '{name}'")
    if filters:
        plan.where = lambda c: all(f(c) for f in filters)
    if not grouped:
        raise errors.not_implemented("$apply with only filter steps")
    rows = aggregate(plan, contexts(dv, plan))
    names = [g.name for g in plan.group_by] + [a.name for a in plan.aggregates]
    return {"@odata.context": f"{api_url}/$metadata#{entity_set}({','.join(names)})",
            "value": rows}
