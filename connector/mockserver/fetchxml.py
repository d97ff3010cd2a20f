"""`GET {set}?fetchXml=...`: attributes, filters, order, top/count/page, paging cookie,
one level of link-entity, and aggregates. Anything else is refused by name."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote

from . import errors
from .errors import ApiError
from .plan import (
    CONDITION_OPERATORS,
    DATE_OPERATORS,
    Aggregate,
    Link,
    Output,
    Plan,
    Predicate,
    aggregate,
    coerce,
    column_of,
    condition,
    contexts,
    distinct,
    order_groups,
    project,
    sort,
    table_of,
)
from .service import Dataverse
from .store import Table

MAX_PAGE = 5000
_FETCH_ATTRS = {"top", "count", "page", "paging-cookie", "returntotalrecordcount", "aggregate",
                "distinct", "no-lock", "version", "output-format", "mapping", "latematerialize",
                "useraworderby"}
_LINK_TYPES = {"inner": False, "outer": True}
_AGGREGATES = {"count", "countcolumn", "sum", "avg", "min", "max"}


def malformed(detail: str) -> ApiError:
    return errors.bad_request(f"Malformed FetchXml. {detail}", errors.INVALID_FETCHXML)


def _int(element: ET.Element, name: str, default: int | None) -> int | None:
    text = element.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise malformed(f"'{name}' must be an integer, not '{text}'.") from None


class _Builder:
    def __init__(self, dv: Dataverse, base: Table, user_id: str) -> None:
        self.dv = dv
        self.base = base
        self.user_id = user_id
        self.tables: dict[str | None, Table] = {None: base}
        self.plan = Plan(base, outputs=[])

    def table(self, alias: str | None) -> Table:
        if alias not in self.tables:
            raise malformed(f"No link-entity has the alias '{alias}'.")
        return self.tables[alias]

    def filter(self, element: ET.Element, alias: str | None) -> Predicate:
        kind = element.get("type", "and")
        if kind not in ("and", "or"):
            raise malformed(f"Filter type '{kind}' is not 'and' or 'or'.")
        parts: list[Predicate] = []
        for child in element:
            if child.tag == "condition":
                parts.append(self.condition(child, alias))
            elif child.tag == "filter":
                parts.append(self.filter(child, alias))
            else:
                raise malformed(f"Unexpected element <{child.tag}> inside <filter>.")
        if kind == "and":
            return lambda c: all(p(c) for p in parts)
        return lambda c: any(p(c) for p in parts)

    def condition(self, element: ET.Element, alias: str | None) -> Predicate:
        if element.get("valueof") is not None:
            raise errors.not_implemented("FetchXML conditions with 'valueof' (column to column)")
        where = element.get("entityname", alias)
        table = self.table(where)
        name = element.get("attribute")
        if not name:
            raise malformed("A <condition> needs an 'attribute'.")
        op = element.get("operator", "")
        if op not in CONDITION_OPERATORS and op not in DATE_OPERATORS:
            raise errors.not_implemented(f"the FetchXML condition operator '{op}'")
        column = column_of(table, name)
        attr = table.attrs.get(column)
        raw = [v.text or "" for v in element.findall("value")]
        if element.get("value") is not None:
            raw.insert(0, element.get("value", ""))
        if op in ("like", "not-like", "begins-with", "not-begin-with", "ends-with",
                  "not-end-with") or op in DATE_OPERATORS:
            values: list[object] = raw
        else:
            values = [coerce(attr, v) for v in raw]
        getter = self.plan.getter(where, column)
        return condition(op, getter, values, self.user_id, self.dv.now())

    def attributes(self, element: ET.Element, alias: str | None, aggregate_mode: bool) -> None:
        table = self.table(alias)
        for child in element:
            if child.tag == "all-attributes":
                for column in table.columns:
                    self.add_output(alias, column, table)
            elif child.tag == "attribute":
                name = child.get("name")
                if not name:
                    raise malformed("An <attribute> needs a 'name'.")
                column = column_of(table, name)
                if child.get("dategrouping"):
                    raise errors.not_implemented("FetchXML 'dategrouping'")
                func = child.get("aggregate")
                if aggregate_mode:
                    label = child.get("alias")
                    if not label:
                        raise malformed("Every attribute of an aggregate query needs an alias.")
                    if child.get("groupby") == "true":
                        self.plan.group_by.append(Output(label, alias, column))
                    elif func in _AGGREGATES:
                        self.plan.aggregates.append(Aggregate(
                            label, func, alias, column, child.get("distinct") == "true"))
                    else:
                        raise malformed(f"Attribute '{name}' needs 'aggregate' or 'groupby'.")
                elif func:
                    raise malformed("'aggregate' on an attribute needs <fetch aggregate='true'>.")
                else:
                    self.add_output(alias, column, table, child.get("alias"))

    def add_output(
        self, alias: str | None, column: str, table: Table, label: str | None = None
    ) -> None:
        assert self.plan.outputs is not None
        if alias is None:
            self.plan.outputs.append(Output(label or column, None, column))
        else:
            attr = table.attrs[column]
            name = label or f"{alias}.{attr.logical}"
            self.plan.outputs.append(Output(name, alias, column, annotate_as=attr.logical))

    def link(self, element: ET.Element, aggregate_mode: bool) -> None:
        if element.find("link-entity") is not None:
            raise errors.not_implemented("nested FetchXML link-entity (more than one level)")
        if element.get("intersect") == "true":
            raise errors.not_implemented("FetchXML many-to-many (intersect) link-entity")
        kind = element.get("link-type", "inner")
        if kind not in _LINK_TYPES:
            raise errors.not_implemented(f"FetchXML link-type '{kind}'")
        name = element.get("name", "")
        table = table_of(self.dv, name)
        alias = element.get("alias") or f"{name}{len(self.plan.links) + 1}"
        self.tables[alias] = table
        link = Link(table, column_of(table, element.get("from", "")),
                    column_of(self.base, element.get("to", "")), alias, _LINK_TYPES[kind])
        for child in element:
            if child.tag == "filter":
                link.predicate = self.filter(child, alias)
            elif child.tag == "order":
                raise errors.not_implemented("<order> inside a FetchXML link-entity")
            elif child.tag not in ("attribute", "all-attributes"):
                raise malformed(f"Unexpected element <{child.tag}> inside <link-entity>.")
        self.attributes(element, alias, aggregate_mode)
        self.plan.links.append(link)


def _wants(prefer: dict[str, str], name: str) -> bool:
    wanted = prefer.get("odata.include-annotations")
    if wanted is None:
        return False
    items = [w.strip().strip('"') for w in wanted.split(",")]
    return any(w == "*" or w == name or (w.endswith("*") and name.startswith(w[:-1]))
               for w in items)


def paging_cookie(page: int, first: str, last: str, pk: str) -> str:
    inner = (f'<cookie page="{page}"><{pk} last="{{{last.upper()}}}" '
             f'first="{{{first.upper()}}}" /></cookie>')
    encoded = quote(quote(inner, safe=""), safe="")
    return f'<cookie pagenumber="{page + 1}" pagingcookie="{encoded}" istracking="False" />'


def run(
    dv: Dataverse, api_url: str, entity_set: str, text: str, prefer: dict[str, str],
    user_id: str,
) -> dict[str, object]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise malformed(str(exc)) from None
    if root.tag != "fetch":
        raise malformed("The root element must be <fetch>.")
    for name in root.attrib:
        if name not in _FETCH_ATTRS:
            raise errors.not_implemented(f"the FetchXML <fetch> attribute '{name}'")
    entities = root.findall("entity")
    if len(entities) != 1:
        raise malformed("A query has exactly one <entity>.")
    entity = entities[0]
    base = table_of(dv, entity.get("name", ""))
    if base.definition.entity_set != entity_set:
        raise errors.bad_request(
            f"The entity '{base.definition.logical}' in the FetchXml does not match the entity "
            f"set '{entity_set}' of the request URL.",
            errors.INVALID_FETCHXML,
        )
    aggregate_mode = root.get("aggregate") == "true"
    builder = _Builder(dv, base, user_id)
    plan = builder.plan
    for child in entity:
        if child.tag == "link-entity":
            builder.link(child, aggregate_mode)
    builder.attributes(entity, None, aggregate_mode)
    if not plan.outputs and not aggregate_mode:
        plan.outputs = None
    filters = entity.findall("filter")
    if len(filters) > 1:
        raise malformed("An <entity> has at most one <filter>.")
    if filters:
        plan.where = builder.filter(filters[0], None)
    order_specs = []
    for child in entity:
        if child.tag == "order":
            desc = child.get("descending") == "true"
            if child.get("alias"):
                order_specs.append((str(child.get("alias")), desc))
            else:
                column = column_of(base, child.get("attribute", ""))
                plan.order.append((plan.getter(None, column), desc))
        elif child.tag not in ("attribute", "all-attributes", "filter", "link-entity"):
            raise malformed(f"Unexpected element <{child.tag}> inside <entity>.")
    context = f"{api_url}/$metadata#{entity_set}"
    if aggregate_mode:
        rows = aggregate(plan, contexts(dv, plan))
        order_groups(rows, order_specs)
        top = _int(root, "top", None)
        return {"@odata.context": context, "value": rows[:top] if top else rows}
    if order_specs:
        raise malformed("Order by alias is only valid in an aggregate query.")
    pk = base.definition.primary_key
    matched = sort(list(contexts(dv, plan)), plan.order, pk)
    if root.get("distinct") == "true" and plan.outputs:
        matched = distinct(matched, plan.outputs)
    top = _int(root, "top", None)
    count = _int(root, "count", None)
    page = _int(root, "page", 1) or 1
    if top is not None and (count is not None or root.get("page")):
        raise malformed("The 'top' attribute can't be used with 'count' or 'page'.")
    if top is not None and not 0 <= top <= MAX_PAGE:
        raise malformed(f"'top' must be between 0 and {MAX_PAGE}.")
    size = top if top is not None else min(count or MAX_PAGE, MAX_PAGE)
    cookie_text = root.get("paging-cookie")
    if cookie_text:
        m = re.search(r'<cookie\s+page="(\d+)"', unquote(cookie_text))
        if m is None or int(m.group(1)) != page - 1:
            raise ApiError(400, errors.FETCH_BAD_COOKIE, "Invalid page number in paging cookie.")
    start = (page - 1) * size
    rows = matched[start : start + size]
    more = top is None and len(matched) > start + size
    out: dict[str, object] = {"@odata.context": context}
    if root.get("returntotalrecordcount") == "true":
        out["@Microsoft.Dynamics.CRM.totalrecordcount"] = min(len(matched), 5000)
        out["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = len(matched) > 5000
    if more and rows:
        if _wants(prefer, "Microsoft.Dynamics.CRM.fetchxmlpagingcookie"):
            out["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"] = paging_cookie(
                page, str(rows[0][None][pk]), str(rows[-1][None][pk]), pk)  # type: ignore[index]
        out["@Microsoft.Dynamics.CRM.morerecords"] = True
    annotations = prefer.get("odata.include-annotations")
    out["value"] = [project(dv, plan, ctx, annotations=annotations) for ctx in rows]
    return out
