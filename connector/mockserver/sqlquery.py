"""`GET {set}?sql=SELECT ...`: the read-only SQL subset Dataverse documents (named columns,
aliases, DISTINCT, TOP, INNER/LEFT JOIN on column = column, WHERE, GROUP BY with aggregates,
ORDER BY, OFFSET/FETCH). What it does not support is refused by name."""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import errors
from .plan import (
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

_TOKEN = re.compile(
    r"""\s*(?:(?P<str>N?'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|<>|!=|=|<|>)
    |(?P<name>\[[^\]]+\]|[A-Za-z_][\w]*)|(?P<punct>[(),.*;]))""",
    re.VERBOSE,
)
_KEYWORDS = {"select", "distinct", "top", "from", "as", "join", "inner", "left", "outer", "on",
             "where", "and", "or", "not", "like", "in", "between", "is", "null", "group", "by",
             "order", "asc", "desc", "offset", "rows", "row", "fetch", "next", "only", "first"}
_REFUSED = {"having": "HAVING", "union": "UNION", "right": "RIGHT JOIN", "full": "FULL JOIN",
            "cross": "CROSS JOIN", "exists": "EXISTS", "with": "common table expressions (WITH)",
            "case": "CASE expressions", "insert": "INSERT", "update": "UPDATE",
            "delete": "DELETE", "coalesce": "COALESCE", "intersect": "INTERSECT",
            "except": "EXCEPT"}
_AGGREGATES = {"count", "sum", "avg", "min", "max"}
_OPS = {"=": "eq", "<>": "ne", "!=": "ne", "<": "lt", ">": "gt", "<=": "le", ">=": "ge"}


def sql_error(message: str) -> errors.ApiError:
    return errors.bad_request(f"SQL: {message}", errors.INVALID_ARGUMENT)


@dataclass
class Tok:
    kind: str
    text: str

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "name" else ""


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    text = text.strip().rstrip(";")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise sql_error(f"Incorrect syntax near '{text[pos:pos + 20]}'.")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "name" and value.startswith("["):
            value = value[1:-1]
        out.append(Tok(kind, value))
        pos = m.end()
    return out


@dataclass
class _Column:
    alias: str | None  # table alias
    name: str
    label: str | None = None
    func: str | None = None
    distinct: bool = False


class _Parser:
    def __init__(self, dv: Dataverse, text: str, user_id: str) -> None:
        self.dv = dv
        self.toks = tokenize(text)
        self.i = 0
        self.user_id = user_id
        for tok in self.toks:
            if tok.word in _REFUSED:
                raise errors.not_implemented(f"SQL {_REFUSED[tok.word]}")
        if sum(1 for t in self.toks if t.word == "select") > 1:
            raise errors.not_implemented("SQL subqueries")

    def peek(self, offset: int = 0) -> Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def at(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.word in words

    def take(self, word: str | None = None, kind: str | None = None) -> Tok:
        tok = self.peek()
        if tok is None:
            raise sql_error("Unexpected end of the statement.")
        if (word and tok.word != word) or (kind and tok.kind != kind):
            raise sql_error(f"Incorrect syntax near '{tok.text}'.")
        self.i += 1
        return tok

    def ident(self) -> str:
        tok = self.take(kind="name")
        if tok.word in _KEYWORDS:
            raise sql_error(f"Incorrect syntax near the keyword '{tok.text}'.")
        return tok.text

    # -- grammar ---------------------------------------------------------------------------

    def parse(self) -> tuple[Plan, list[_Column], int | None, int, int | None, bool]:
        self.take("select")
        distinct = bool(self.at("distinct") and self.take())
        top = None
        if self.at("top"):
            self.take()
            top = int(self.take(kind="num").text)
            if not 0 <= top <= 5000:
                raise sql_error("TOP must be between 0 and 5000.")
        columns = [self.column()]
        while self.peek() is not None and self.peek().kind == "punct" and self.peek().text == ",":  # type: ignore[union-attr]
            self.take()
            columns.append(self.column())
        self.take("from")
        base = table_of(self.dv, self.ident(), errors.INVALID_ARGUMENT)
        base_alias = self.table_alias() or base.definition.logical
        self.aliases: dict[str, Table] = {base_alias.lower(): base}
        self.base_alias = base_alias.lower()
        plan = Plan(base)
        self.plan = plan
        while self.at("join", "inner", "left"):
            plan.links.append(self.join())
        if self.at("where"):
            self.take()
            plan.where = self.or_expr()
        if self.at("group"):
            self.take()
            self.take("by")
            plan.group_by.append(self.output_of(self.qualified()))
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                plan.group_by.append(self.output_of(self.qualified()))
        order: list[tuple[str | None, str, bool]] = []
        if self.at("order"):
            self.take()
            self.take("by")
            while True:
                alias, name = self.qualified()
                desc = False
                if self.at("asc", "desc"):
                    desc = self.take().word == "desc"
                order.append((alias, name, desc))
                if self.peek() is None or self.peek().text != ",":  # type: ignore[union-attr]
                    break
                self.take()
        offset, fetch = 0, None
        if self.at("offset"):
            self.take()
            offset = int(self.take(kind="num").text)
            self.take()  # ROWS / ROW
            if self.at("fetch"):
                self.take()
                self.take()  # NEXT / FIRST
                fetch = int(self.take(kind="num").text)
                self.take()  # ROWS
                self.take("only")
        if self.peek() is not None:
            raise sql_error(f"Incorrect syntax near '{self.peek().text}'.")  # type: ignore[union-attr]
        self.order = order
        return plan, columns, top, offset, fetch, distinct

    def table_alias(self) -> str | None:
        if self.at("as"):
            self.take()
            return self.ident()
        tok = self.peek()
        if tok is not None and tok.kind == "name" and tok.word not in _KEYWORDS:
            self.i += 1
            return tok.text
        return None

    def column(self) -> _Column:
        tok = self.peek()
        if tok is not None and tok.text == "*":
            raise sql_error("SELECT * is not supported; name the columns.")
        if tok is not None and tok.word in _AGGREGATES and self.peek(1) is not None and (
            self.peek(1).text == "("  # type: ignore[union-attr]
        ):
            func = self.take().word
            self.take(kind="punct")
            distinct = bool(self.at("distinct") and self.take())
            if self.peek() is not None and self.peek().text == "*":  # type: ignore[union-attr]
                self.take()
                alias, name = None, "*"
            else:
                alias, name = self.qualified()
            self.take(kind="punct")
            col = _Column(alias, name, func=func, distinct=distinct)
        else:
            if tok is not None and tok.kind == "name" and self.peek(1) is not None and (
                self.peek(1).text == "("  # type: ignore[union-attr]
            ):
                raise errors.not_implemented(f"the SQL function {tok.text.upper()}()")
            alias, name = self.qualified()
            col = _Column(alias, name)
        if self.at("as"):
            self.take()
            col.label = self.ident()
        return col

    def qualified(self) -> tuple[str | None, str]:
        first = self.ident()
        if self.peek() is not None and self.peek().text == ".":  # type: ignore[union-attr]
            self.take()
            return first.lower(), self.ident()
        return None, first

    def resolve(self, alias: str | None, name: str) -> tuple[str | None, Table, str]:
        """(plan alias or None for the base, table, stored column)."""
        key = alias or self.base_alias
        table = self.aliases.get(key)
        if table is None:
            raise sql_error(f"The multi-part identifier '{alias}.{name}' could not be bound.")
        where = None if key == self.base_alias else key
        return where, table, column_of(table, name)

    def output_of(self, ref: tuple[str | None, str], label: str | None = None) -> Output:
        where, table, column = self.resolve(*ref)
        name = label or (column if where is None else f"{where}.{table.attrs[column].logical}")
        return Output(name, where, column,
                      annotate_as=table.attrs[column].logical if label or where else None)

    def join(self) -> Link:
        outer = False
        if self.at("left"):
            self.take()
            outer = True
            if self.at("outer"):
                self.take()
        elif self.at("inner"):
            self.take()
        self.take("join")
        table = table_of(self.dv, self.ident(), errors.INVALID_ARGUMENT)
        alias = (self.table_alias() or table.definition.logical).lower()
        self.aliases[alias] = table
        self.take("on")
        left = self.qualified()
        self.take(kind="op")
        right = self.qualified()
        sides = {}
        for ref in (left, right):
            where, _, column = self.resolve(*ref)
            sides[where] = column
        if set(sides) != {None, alias}:
            raise errors.not_implemented(
                "SQL joins that do not link a joined table to the FROM table"
            )
        return Link(table, sides[alias], sides[None], alias, outer)

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.at("or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda c: any(p(c) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.at("and"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda c: all(p(c) for p in parts))

    def unary(self) -> Predicate:
        if self.at("not"):
            self.take()
            inner = self.unary()
            return lambda c: not inner(c)
        if self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
            self.take()
            inner = self.or_expr()
            self.take(kind="punct")
            return inner
        return self.comparison()

    def literal(self, attr: object) -> object:
        tok = self.take()
        if tok.kind == "str":
            text = tok.text[1:] if tok.text.startswith("N") else tok.text
            return coerce(attr, text[1:-1].replace("''", "'"))  # type: ignore[arg-type]
        if tok.kind == "num":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.word in ("true", "false"):
            return tok.word == "true"
        if tok.kind == "name":
            raise sql_error("Comparing two columns in WHERE is not supported.")
        raise sql_error(f"Incorrect syntax near '{tok.text}'.")

    def comparison(self) -> Predicate:
        where, table, column = self.resolve(*self.qualified())
        attr = table.attrs.get(column)
        getter = self.plan.getter(where, column)
        negate = False
        if self.at("is"):
            self.take()
            negate = bool(self.at("not") and self.take())
            self.take("null")
            return condition("not-null" if negate else "null", getter, [], self.user_id)
        if self.at("not"):
            self.take()
            negate = True
        if self.at("like"):
            self.take()
            pattern = self.take(kind="str").text
            text = (pattern[1:] if pattern.startswith("N") else pattern)[1:-1].replace("''", "'")
            return condition("not-like" if negate else "like", getter, [text], self.user_id)
        if self.at("in"):
            self.take()
            self.take(kind="punct")
            values = [self.literal(attr)]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                values.append(self.literal(attr))
            self.take(kind="punct")
            return condition("not-in" if negate else "in", getter, values, self.user_id)
        if self.at("between"):
            self.take()
            low = self.literal(attr)
            self.take("and")
            high = self.literal(attr)
            return condition("not-between" if negate else "between", getter, [low, high],
                             self.user_id)
        op = self.take(kind="op").text
        return condition(_OPS[op], getter, [self.literal(attr)], self.user_id)


def run(
    dv: Dataverse, api_url: str, entity_set: str, text: str, user_id: str,
    annotations: str | None,
) -> dict[str, object]:
    parser = _Parser(dv, text, user_id)
    plan, columns, top, offset, fetch, unique = parser.parse()
    if plan.base.definition.entity_set != entity_set:
        raise sql_error(
            f"The FROM table '{plan.base.definition.logical}' does not match the entity set "
            f"'{entity_set}' of the request URL."
        )
    context = f"{api_url}/$metadata#{entity_set}"
    if any(c.func for c in columns) or plan.group_by:
        for col in columns:
            if col.func:
                if not col.label:
                    raise sql_error("Give every aggregate an alias with AS.")
                where, column = None, None
                if col.name != "*":
                    where, _, column = parser.resolve(col.alias, col.name)
                func = "count" if column is None else (
                    "countcolumn" if col.func == "count" else col.func)
                plan.aggregates.append(Aggregate(col.label, func, where, column, col.distinct))
            elif not any(g.column == parser.resolve(col.alias, col.name)[2]
                         for g in plan.group_by):
                raise sql_error(f"Column '{col.name}' must appear in GROUP BY.")
            else:
                for g in plan.group_by:
                    if g.column == parser.resolve(col.alias, col.name)[2] and col.label:
                        g.name = col.label
        rows = aggregate(plan, contexts(dv, plan))
        order_groups(rows, [
            (next((g.name for g in plan.group_by
                   if g.column == parser.resolve(alias, name)[2]), name), desc)
            for alias, name, desc in parser.order
        ])
        return {"@odata.context": context, "value": rows[:top] if top is not None else rows}
    plan.outputs = [parser.output_of((c.alias, c.name), c.label) for c in columns]
    for alias, name, desc in parser.order:
        where, _, column = parser.resolve(alias, name)
        plan.order.append((plan.getter(where, column), desc))
    matched = sort(list(contexts(dv, plan)), plan.order, plan.base.definition.primary_key)
    if unique:
        matched = distinct(matched, plan.outputs)
    matched = matched[offset:]
    limit = min(x for x in (top, fetch, 5000) if x is not None)
    return {
        "@odata.context": context,
        "@Microsoft.Dynamics.CRM.totalrecordcount": -1,
        "value": [project(dv, plan, ctx, annotations=annotations) for ctx in matched[:limit]],
    }
